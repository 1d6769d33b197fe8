"""`ImageGrid`: the chapter's grid of generated images, every epoch."""

import glob
import os
import re

import keras
import numpy as np

from keras_dcgan import images as images_lib
from keras_dcgan import validation
from keras_dcgan.noise import fixed_noise


def _check_pattern(name, pattern):
    try:
        pattern.format(epoch=1)
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            f"`{name}` must be a file name with at most an `{{epoch}}` "
            f"field, such as 'epoch_{{epoch:03d}}.png'. "
            f"Received: {name}={pattern!r}"
        ) from None
    return pattern


class ImageGrid(keras.callbacks.Callback):
    """Saves a PNG grid of generated images after every epoch.

    One batch of noise is drawn when training begins (or given as `noise`)
    and kept for the whole run, so the grids of successive epochs show how
    the same latent points evolve: the chapter's 3 x 7 grid of 21 images.
    The generator (a `DCGAN`'s `ema_generator` when it keeps one) runs in
    inference mode, BatchNormalization with its moving statistics, and each
    grid is written atomically. Save `noise`
    (for example with `np.save`) and pass it back when resuming a run so
    the grids stay comparable; `keras_dcgan.runs.train_run` does.

    At the end of training it can also assemble every grid of the run
    folder (including those written before a resume) into an animated GIF,
    and it can log each grid to TensorBoard (`tf.summary.image`).

    Args:
        output_dir: folder the grids are written to.
        rows: int. Rows of the grid. Defaults to `3`.
        cols: int. Columns of the grid. Defaults to `7`.
        filename: string. File name pattern with an `{epoch}` field
            (1-based). Defaults to `"epoch_{epoch:03d}.png"`.
        noise: optional float array `(rows * cols, latent_dim)` of fixed
            noise. Defaults to `None`: drawn from N(0, 1) with `seed`.
        seed: int. Seed of the fixed noise when `noise` is `None`.
            Defaults to `0`.
        gif: string or None. File name (inside `output_dir`) of an animated
            GIF of all grids, written at the end of training. Defaults to
            `None` (no GIF).
        gif_duration: int. Milliseconds per GIF frame. Defaults to `200`.
        tensorboard_dir: string or None. Folder for TensorBoard image
            summaries (tag `"generated_images"`). Defaults to `None`.

    Example:

    ```python
    grids = keras_dcgan.callbacks.ImageGrid("run/grids", gif="training.gif")
    model.fit(dataset, epochs=40, callbacks=[grids])
    np.save("run/grid_noise.npy", grids.noise)
    ```
    """

    def __init__(
        self,
        output_dir,
        rows=3,
        cols=7,
        filename="epoch_{epoch:03d}.png",
        noise=None,
        seed=0,
        gif=None,
        gif_duration=200,
        tensorboard_dir=None,
    ):
        super().__init__()
        self.output_dir = os.fspath(output_dir)
        self.rows = validation.positive_int("rows", rows)
        self.cols = validation.positive_int("cols", cols)
        self.filename = _check_pattern("filename", filename)
        self.seed = seed
        self.gif = gif
        self.gif_duration = validation.positive_int(
            "gif_duration", gif_duration
        )
        self.tensorboard_dir = (
            None if tensorboard_dir is None else os.fspath(tensorboard_dir)
        )
        if noise is not None:
            noise = np.asarray(noise, dtype="float32")
            if noise.ndim != 2 or len(noise) != self.rows * self.cols:
                raise ValueError(
                    "`noise` must have shape (rows * cols, latent_dim) = "
                    f"({self.rows * self.cols}, latent_dim). "
                    f"Received: noise.shape={noise.shape}"
                )
        self.noise = noise
        self.last_grid = None
        self.written = []
        self._writer = None

    def _ensure_noise(self):
        latent_dim = self.model.latent_dim
        if self.noise is None:
            self.noise = fixed_noise(
                self.rows * self.cols, latent_dim, self.seed
            )
        elif self.noise.shape[1] != latent_dim:
            raise ValueError(
                "The fixed `noise` must match the model's `latent_dim`. "
                f"Expected: (*, {latent_dim}). "
                f"Received: noise.shape={self.noise.shape}"
            )

    def on_train_begin(self, logs=None):
        self._ensure_noise()

    def path_for(self, epoch):
        """The grid file of `epoch` (1-based), inside `output_dir`."""
        return os.path.join(self.output_dir, self.filename.format(epoch=epoch))

    def generate(self):
        """The model's images for the fixed noise, in [-1, 1].

        A `DCGAN` with an `ema_generator` draws them with it; a conditional
        one draws class `r % num_classes` in row `r`.
        """
        self._ensure_noise()
        labels = None
        if self.model.num_classes is not None:
            rows = np.arange(len(self.noise)) // self.cols
            labels = rows % self.model.num_classes
        return self.model.generate_from_noise(self.noise, labels=labels)

    def on_epoch_end(self, epoch, logs=None):
        path = self.path_for(epoch + 1)
        self.last_grid = images_lib.save_image_grid(
            self.generate(), path, rows=self.rows, cols=self.cols
        )
        self.written.append(path)
        if self.tensorboard_dir is not None:
            self._log_tensorboard(epoch + 1)

    def _log_tensorboard(self, step):
        try:
            import tensorflow as tf
        except ImportError:
            raise ImportError(
                "TensorBoard image summaries need TensorFlow and TensorBoard: "
                "`pip install tensorflow tensorboard`."
            ) from None
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.tensorboard_dir)
        with self._writer.as_default():
            tf.summary.image("generated_images", self.last_grid[None], step)
        self._writer.flush()

    def frames(self):
        """Grid files of this run folder, in epoch order."""
        regex = re.escape(self.filename)
        regex = re.sub(r"\\\{epoch[^}]*\\\}", r"(\\d+)", regex)
        found = []
        for path in glob.glob(os.path.join(self.output_dir, "*")):
            match = re.fullmatch(regex, os.path.basename(path))
            if match:
                found.append((int(match.group(1)), path))
        return [path for _, path in sorted(found)]

    def write_gif(self, path=None):
        """Writes the run's grids as an animated GIF; returns its path."""
        from PIL import Image

        path = path or os.path.join(self.output_dir, self.gif)
        frames = [Image.open(p).convert("RGB") for p in self.frames()]
        if not frames:
            raise ValueError(
                "There are no image grids to animate. Expected files "
                f"matching {self.filename!r} in {self.output_dir!r}."
            )
        return images_lib.save_gif(frames, path, duration=self.gif_duration)

    def on_train_end(self, logs=None):
        if self.gif and self.written:
            self.write_gif()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
