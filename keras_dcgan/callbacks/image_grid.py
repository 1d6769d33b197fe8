"""Callbacks for watching a DCGAN train: image grids, curves, summary line.

Everything here runs on the TensorFlow, JAX and PyTorch backends. The
callbacks read the model's weights in `on_epoch_end`, after Keras has
attached the training state to the model (on JAX, `Callback.model` syncs
it), and write every file atomically: to a temporary file in the same
folder, then `os.replace`, so a reader or a killed process never leaves a
half-written PNG behind.
"""

import glob
import os
import platform
import re
import time

import keras
import numpy as np

from keras_dcgan import images as images_lib
from keras_dcgan import validation
from keras_dcgan.files import atomic_write


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name():
    """Names the device the active Keras backend computes on.

    A GPU is named by its model (for example `"NVIDIA H100 80GB HBM3"`), a
    CPU as `"CPU (<processor model>)"`.

    Returns:
        A string.

    Example:

    >>> keras_dcgan.callbacks.device_name()
    'CPU (AMD EPYC)'
    """
    backend = keras.backend.backend()
    gpu = None
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            gpu = device.device_kind
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            gpu = details.get("device_name", gpus[0].name)
    if gpu:
        return gpu
    return f"CPU ({_cpu_name()})"


def summary_line(d_loss, g_loss, examples_per_sec, device=None):
    """Formats the chapter's end-of-training line.

    Args:
        d_loss: float. The discriminator's loss.
        g_loss: float. The generator's loss.
        examples_per_sec: float. Training throughput.
        device: string or None. Defaults to `device_name()`.

    Returns:
        A string such as
        `"loss_D 0.030, loss_G 6.885, 6447.8 examples/sec on CPU (...)"`.
    """
    if device is None:
        device = device_name()
    return (
        f"loss_D {float(d_loss):.3f}, loss_G {float(g_loss):.3f}, "
        f"{float(examples_per_sec):.1f} examples/sec on {device}"
    )


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
    The generator runs in inference mode (BatchNormalization with its
    moving statistics) and each grid is written atomically. Save `noise`
    (for example with `np.save`) and pass it back when resuming a run so
    the grids stay comparable; `keras_dcgan.checkpoints.train_run` does.

    At the end of training it can also assemble every grid of the run
    folder (including those written before a resume) into an animated GIF,
    and it can log each grid to TensorBoard (which needs TensorFlow).

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
            rng = np.random.default_rng(self.seed)
            self.noise = rng.standard_normal(
                (self.rows * self.cols, latent_dim), dtype=np.float32
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
        """The generator's images for the fixed noise, in [-1, 1]."""
        self._ensure_noise()
        model = self.model
        noise = keras.ops.reshape(
            keras.ops.convert_to_tensor(self.noise),
            (-1,) + tuple(model.noise_shape),
        )
        images = model.generator(noise, training=False)
        return keras.ops.convert_to_numpy(images)

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
                "TensorBoard image summaries need TensorFlow: "
                "`pip install tensorflow`."
            ) from None
        from tensorflow.core.framework import summary_pb2

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.tensorboard_dir)
        # What `tf.summary.image` writes, without needing the tensorboard
        # package: [width, height, PNG] tagged for TensorBoard's images tab.
        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "images"
        height, width = self.last_grid.shape[:2]
        tensor = tf.stack(
            [
                tf.as_string(width),
                tf.as_string(height),
                tf.image.encode_png(self.last_grid),
            ]
        )
        with self._writer.as_default():
            tf.summary.write(
                "generated_images", tensor, step=step, metadata=metadata
            )
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
        return atomic_write(
            path,
            lambda f: frames[0].save(
                f,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=self.gif_duration,
                loop=0,
            ),
        )

    def on_train_end(self, logs=None):
        if self.gif and self.written:
            self.write_gif()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class LossCurves(keras.callbacks.Callback):
    """Plots the losses per epoch to a PNG rewritten after every epoch.

    The chapter's two-panel animator: the top panel shows `d_loss` and
    `g_loss` against the epoch; the bottom panel shows the discriminator's
    mean outputs `real_prob` and `fake_prob` (when logged) or, given an
    `ImageGrid`, its latest grid. The file is written atomically with
    matplotlib's Agg canvas, without touching pyplot's global state.

    Args:
        path: the PNG file.
        image_grid: optional `ImageGrid` whose latest grid is drawn in the
            bottom panel. Defaults to `None`.
        history: optional dict `{metric: [value per epoch]}` of epochs
            trained before (when resuming). Defaults to `None`.

    Example:

    ```python
    curves = keras_dcgan.callbacks.LossCurves("run/curves.png")
    model.fit(dataset, epochs=40, callbacks=[curves])
    ```
    """

    def __init__(self, path, image_grid=None, history=None):
        super().__init__()
        self.path = os.fspath(path)
        self.image_grid = image_grid
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        num_epochs = len(self.history.get("d_loss", []))
        for name, value in logs.items():
            values = self.history.setdefault(name, [])
            values.extend([float("nan")] * (num_epochs - len(values)))
            values.append(float(value))
        self.plot()

    def plot(self):
        """Draws the curves and writes the PNG; returns its path."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        grid = getattr(self.image_grid, "last_grid", None)
        probs = [n for n in ("real_prob", "fake_prob") if n in self.history]
        panels = 2 if grid is not None or probs else 1
        figure = Figure(figsize=(5, 2.6 * panels))
        FigureCanvasAgg(figure)
        axes = figure.subplots(panels, 1, squeeze=False)[:, 0]
        labels = {"d_loss": "discriminator", "g_loss": "generator"}
        for name, label in labels.items():
            values = self.history.get(name, [])
            epochs = np.arange(1, len(values) + 1)
            axes[0].plot(epochs, values, marker=".", label=label)
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("loss")
        axes[0].legend()
        axes[0].grid(True)
        if grid is not None:
            axes[1].imshow(
                grid.squeeze(-1) if grid.shape[-1] == 1 else grid,
                cmap="gray" if grid.shape[-1] == 1 else None,
            )
            axes[1].set_axis_off()
        elif probs:
            for name in probs:
                values = self.history[name]
                axes[1].plot(
                    np.arange(1, len(values) + 1),
                    values,
                    marker=".",
                    label=name,
                )
            axes[1].set_xlabel("epoch")
            axes[1].set_ylabel("mean D output")
            axes[1].set_ylim(0, 1)
            axes[1].legend()
            axes[1].grid(True)
        figure.tight_layout()
        return atomic_write(
            self.path, lambda f: figure.savefig(f, format="png", dpi=100)
        )


class TrainingSummary(keras.callbacks.Callback):
    """Prints the chapter's summary line at the end of training.

    `loss_D 0.030, loss_G 6.885, 6447.8 examples/sec on <device>`: the
    losses and throughput of the last epoch and the device of the active
    backend. The throughput counts `examples_per_epoch` over the wall time
    from the start to the end of the epoch (including the input pipeline,
    as the chapter's timer does).

    Args:
        examples_per_epoch: int. Training examples in one epoch.
        every_epoch: bool. Whether to print the line after every epoch too.
            Defaults to `False`.
        print_fn: function used to print. Defaults to `print`.

    Example:

    ```python
    summary = keras_dcgan.callbacks.TrainingSummary(examples_per_epoch=40597)
    model.fit(dataset, epochs=40, callbacks=[summary])
    print(summary.line)
    ```
    """

    def __init__(self, examples_per_epoch, every_epoch=False, print_fn=print):
        super().__init__()
        self.examples_per_epoch = validation.positive_int(
            "examples_per_epoch", examples_per_epoch
        )
        self.every_epoch = bool(every_epoch)
        self.print_fn = print_fn
        self.line = None
        self.examples_per_sec = None
        self._start = None
        self._device = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if "d_loss" not in logs or "g_loss" not in logs:
            return
        # Reading the losses waits for the epoch's computation to finish.
        d_loss, g_loss = float(logs["d_loss"]), float(logs["g_loss"])
        seconds = max(time.perf_counter() - self._start, 1e-9)
        self.examples_per_sec = self.examples_per_epoch / seconds
        if self._device is None:
            self._device = device_name()
        self.line = summary_line(
            d_loss, g_loss, self.examples_per_sec, self._device
        )
        if self.every_epoch:
            self.print_fn(self.line)

    def on_train_end(self, logs=None):
        if self.line is not None and not self.every_epoch:
            self.print_fn(self.line)
