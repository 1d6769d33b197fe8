"""Guards that keep a long run safe: input checks, NaN stops, health.

Training runs for hours, so this module checks what can be checked before
the first step and watches what can only be measured during training:

- `check_images()` refuses image arrays of the wrong rank or dtype and
  arrays holding NaN or infinity, and warns (once) about float pixels in
  [0, 255] where [-1, 1] is expected. `warn_if_integer_pixels()` is the
  static version for the training step, where only the dtype is known.
- `check_writable()` and `check_free_space()` refuse a run folder that
  cannot be written, or a disk without room for two checkpoints, before
  any training time is spent.
- `StopOnNonFinite` stops `fit()` at the first step whose losses are NaN or
  infinite, naming the epoch and step, before the non-finite weights can be
  checkpointed; `on_nan="continue"` is the opt-in to go on.
- `TrainingHealth` warns when the discriminator wins completely (D(x) near
  1 and D(G(z)) near 0) or the generator collapses (its samples barely
  differ), from measured numbers, which the warning quotes.
- `load_model()` loads `.keras` files with `safe_mode=True` and turns a
  truncated or tampered file into a `ValueError` naming it.

See `docs/reliability.md` for the failure table these guards belong to.
"""

import math
import os
import shutil
import tempfile
import warnings
import zipfile

import keras
import numpy as np

from keras_dcgan.validation import SkippedImageWarning  # noqa: F401

# Pixels of float images are expected in [-1, 1]; allow rounding slack.
_RANGE_SLACK = 1e-3


class PixelRangeWarning(UserWarning):
    """Images are not in the [-1, 1] range the networks expect."""


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; `fit()` was stopped."""


class TrainingHealthWarning(UserWarning):
    """The discriminator wins completely or the generator collapsed."""


_warned = set()


def _warn_once(key, message, category):
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, category, stacklevel=3)


def _to_numpy(images):
    images, _, _ = keras.utils.unpack_x_y_sample_weight(images)
    if isinstance(images, np.ndarray):
        return images
    if hasattr(images, "__array__") and not keras.ops.is_tensor(images):
        return np.asarray(images)
    return keras.ops.convert_to_numpy(images)


def check_images(images, name="images", rank=4):
    """Checks concrete training images before any step runs.

    Accepts a NumPy array, a backend tensor, or a batch `x`, `(x,)` or
    `(x, y)` as `fit()` receives it. `uint8` pixels in [0, 255] are
    accepted (the run folder's data path scales them); float images must be
    in [-1, 1].

    Args:
        images: the images, `(num_images, height, width, channels)`.
        name: string. The argument name used in messages.
        rank: int. The expected rank. Defaults to `4`.

    Returns:
        The images as a NumPy array.

    Raises:
        ValueError: for a wrong rank, an empty array, a dtype that is not
            `uint8` or floating point, or any NaN or infinite value.

    Warns:
        PixelRangeWarning: once per process, for float images outside
            [-1, 1] (such as pixels in [0, 255] that were never scaled).

    Example:

    ```python
    pixels = keras_dcgan.safety.check_images(np.load("pixels.npy"))
    ```
    """
    array = _to_numpy(images)
    if array.ndim != rank or array.size == 0:
        raise ValueError(
            f"`{name}` must be a non-empty array of rank {rank} "
            "(num_images, height, width, channels). "
            f"Received: {name}.shape={array.shape}"
        )
    dtype = array.dtype
    if dtype != np.uint8 and not np.issubdtype(dtype, np.floating):
        raise ValueError(
            f"`{name}` must hold uint8 pixels in [0, 255] or floats in "
            f"[-1, 1]. Received: {name}.dtype={dtype}"
        )
    if dtype == np.uint8:
        return array
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)
        first = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"`{name}` must not hold NaN or infinite values; "
            f"{len(bad)} found, the first at index {first} (image "
            f"{first[0]}). Received: {name}[{first}]={array[first]}"
        )
    low, high = float(array.min()), float(array.max())
    if low < -1.0 - _RANGE_SLACK or high > 1.0 + _RANGE_SLACK:
        hint = (
            " They look like pixels in [0, 255]: scale them with "
            "`images / 127.5 - 1`, or pass them as uint8."
            if high > 2.0
            else ""
        )
        _warn_once(
            ("range", name),
            f"`{name}` should be floats in [-1, 1] (the generator's tanh "
            f"range), so the discriminator cannot tell real from generated "
            f"images by their range.{hint} "
            f"Received: {name} in [{low:g}, {high:g}]",
            PixelRangeWarning,
        )
    return array


def warn_if_integer_pixels(images):
    """Warns once when a training batch holds integer pixels.

    Called inside the training step, where a traced tensor's values are
    unknown but its dtype is: an integer batch (such as `uint8` in
    [0, 255] passed straight to `fit()`) would be cast to float and
    trained on unscaled, so the warning says how to scale it.

    Args:
        images: the batch (array or tensor, concrete or symbolic).

    Returns:
        `images`, unchanged.
    """
    dtype = keras.backend.standardize_dtype(images.dtype)
    if "int" in dtype or dtype == "bool":
        _warn_once(
            ("integer", dtype),
            f"The training images are {dtype}, but the DCGAN expects floats "
            "in [-1, 1]: integer pixels in [0, 255] would be trained on "
            "unscaled. Pass `images / 127.5 - 1` (float32), or use "
            "`keras_dcgan.checkpoints.EpochShuffledImages` or "
            f"`train_run()`, which scale uint8 pixels. Received: dtype={dtype}",
            PixelRangeWarning,
        )
    return images


def check_writable(directory):
    """Checks that a run folder can be created and written, or raises.

    The folder (and its parents) is created if needed, a small probe file
    is written, flushed and removed, and the folders made for the probe
    are removed again. This tests what the process can really do, which
    `os.access()` does not (for example as root, or on a read-only mount).

    Args:
        directory: the run folder.

    Raises:
        ValueError: if the folder cannot be created or written.
    """
    directory = os.fspath(directory)
    created = []
    path = os.path.abspath(directory)
    while not os.path.exists(path):
        created.append(path)
        path = os.path.dirname(path)
    try:
        for folder in reversed(created):
            os.mkdir(folder)
        with tempfile.TemporaryFile(dir=directory, prefix=".probe") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(
            f"The run folder must be a folder this process can write "
            f"({reason}). Choose another folder. Received: "
            f"directory={directory!r}"
        ) from None
    finally:
        # Leave no trace: the folders are made again when written to.
        for folder in created:
            try:
                os.rmdir(folder)
            except OSError:
                pass


def checkpoint_bytes(model):
    """Estimates the size of one checkpoint of `model`, in bytes.

    Counts every variable of the model and of its optimizers (Adam keeps
    two moments per weight) plus a 1 MiB allowance for the archive.
    """
    variables = list(model.variables)
    seen = {id(v) for v in variables}
    for name in ("d_optimizer", "g_optimizer", "optimizer"):
        optimizer = getattr(model, name, None)
        for v in getattr(optimizer, "variables", ()):
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    total = 0
    for v in variables:
        size = math.prod(int(d) for d in v.shape)
        total += (
            size * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize
        )
    return total + (1 << 20)


def check_free_space(directory, needed_bytes):
    """Raises when the disk of `directory` has less than `needed_bytes`.

    Args:
        directory: an existing folder.
        needed_bytes: int. The space the run needs.

    Raises:
        ValueError: naming the free and needed space.
    """
    free = shutil.disk_usage(os.fspath(directory)).free
    if free < needed_bytes:
        raise ValueError(
            f"The disk of the run folder has {free / 2**20:.1f} MiB free, "
            f"but the run needs at least {needed_bytes / 2**20:.1f} MiB "
            "(two checkpoints and the final model). Free some space or "
            f"choose another folder. Received: directory={directory!r}"
        )


def nonfinite_variables(model):
    """The paths of `model`'s variables holding NaN or infinity."""
    bad = []
    for v in model.variables:
        value = keras.ops.convert_to_numpy(v)
        if (
            np.issubdtype(value.dtype, np.floating)
            and not np.isfinite(value).all()
        ):
            bad.append(v.path)
    return bad


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first step whose losses are NaN or infinite.

    After every batch the logged losses are read; at the first non-finite
    value the callback raises `NonFiniteLossError` naming the epoch, the
    step within it and the global step. Raising (rather than setting
    `stop_training`, as `keras.callbacks.TerminateOnNaN` does) means no
    later callback (a checkpoint at the end of the epoch, the final model
    save) can write the non-finite weights: the last good checkpoint stays
    the run's checkpoint, and a resume continues from it.

    With `on_nan="continue"` training goes on (for losses that are
    infinite for a step but recover); one warning is given, the count is
    kept in `nonfinite_steps`, and `keras_dcgan.checkpoints.Checkpoint`
    still refuses to save weights that hold NaN or infinity.

    Args:
        on_nan: `"stop"` (default) or `"continue"`.
        monitor: names of the logs to check. Defaults to every logged
            value.
        checkpoint_dir: optional run folder, named in the message with its
            last good checkpoint.

    Example:

    ```python
    guard = keras_dcgan.safety.StopOnNonFinite()
    model.fit(dataset, epochs=40, callbacks=[guard])
    ```
    """

    def __init__(self, on_nan="stop", monitor=None, checkpoint_dir=None):
        super().__init__()
        if on_nan not in ("stop", "continue"):
            raise ValueError(
                "`on_nan` must be one of 'stop', 'continue'. "
                f"Received: on_nan={on_nan!r}"
            )
        self.on_nan = on_nan
        self.monitor = None if monitor is None else tuple(monitor)
        self.checkpoint_dir = checkpoint_dir
        self.epoch = 0
        self.nonfinite_steps = 0
        self.first = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _global_step(self):
        optimizer = getattr(self.model, "d_optimizer", None) or getattr(
            self.model, "optimizer", None
        )
        if optimizer is None:
            return None
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def on_train_batch_end(self, batch, logs=None):
        bad = {}
        for name, value in (logs or {}).items():
            if self.monitor is not None and name not in self.monitor:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                bad[name] = value
        if not bad:
            return
        self.nonfinite_steps += 1
        if self.first is not None:
            return
        self.first = {
            "epoch": self.epoch + 1,
            "step": batch + 1,
            "global_step": self._global_step(),
            "logs": bad,
        }
        message = self.describe()
        if self.on_nan == "continue":
            warnings.warn(
                message + " Training continues (on_nan='continue'); "
                "checkpoints are only written while the weights are finite.",
                TrainingHealthWarning,
                stacklevel=2,
            )
            return
        raise NonFiniteLossError(message)

    def describe(self):
        """The message about the first non-finite step."""
        first = self.first
        values = ", ".join(f"{k}={v}" for k, v in sorted(first["logs"].items()))
        where = f"epoch {first['epoch']}, step {first['step']}"
        if first["global_step"] is not None:
            where += f" (global step {first['global_step']})"
        message = f"Training stopped: the loss became non-finite at {where}: "
        message += values + "."
        if self.checkpoint_dir is not None:
            from keras_dcgan import checkpoints

            try:
                record = checkpoints.read_checkpoint(self.checkpoint_dir)
            except (OSError, ValueError):
                record = None
            if record:
                message += (
                    f" The last good checkpoint (epoch {record['epoch']}) in "
                    f"{self.checkpoint_dir} is kept; resume from it with a "
                    "lower learning rate, or continue through non-finite "
                    "steps with on_nan='continue' (--on-nan continue)."
                )
            else:
                message += " No checkpoint was written before it."
        return message


def sample_diversity(images):
    """How much a batch of images differ from each other, in [0, 1].

    The root of the variance across images (averaged over pixels) divided
    by the mean square pixel value: 0 when all images are identical (a
    collapsed generator), about 1 for independent zero-mean noise, and
    independent of the images' overall scale, so a freshly initialised
    generator with small outputs is not mistaken for a collapsed one. The
    tiny test model measures about 0.6 to 0.7 while training normally.

    Args:
        images: array `(num_images, height, width, channels)`.

    Returns:
        A float.
    """
    images = np.asarray(images, dtype="float64")
    between = images.var(axis=0).mean()
    total = max(float(np.mean(images**2)), 1e-12)
    return float(np.sqrt(between / total))


class TrainingHealth(keras.callbacks.Callback):
    """Warns when the discriminator wins or the generator collapses.

    Two measured signals, checked after every epoch:

    - Discriminator wins: the epoch's mean D(x) (`real_prob`) is above
      `win_threshold` and its mean D(G(z)) (`fake_prob`) below
      `1 - win_threshold`; the generator then gets vanishing gradients.
    - Generator collapse: the `sample_diversity()` of `num_samples`
      images generated from fixed noise (inference mode) is below
      `min_diversity`, or below `collapse_ratio` times the diversity of
      `reference_images` when those are given.

    Each condition must hold for `patience` epochs in a row; each warning
    is given once per training, with the numbers measured. The last values
    are kept in `last` (a dict).

    Args:
        num_samples: int. Images generated per check. Defaults to `64`.
        win_threshold: float. Defaults to `0.99`.
        min_diversity: float. Defaults to `0.05`.
        reference_images: optional real images in [-1, 1] (or uint8).
        collapse_ratio: float. Defaults to `0.1`.
        patience: int. Defaults to `2`.
        seed: int. Seed of the fixed noise. Defaults to `0`.

    Example:

    ```python
    health = keras_dcgan.safety.TrainingHealth()
    model.fit(dataset, epochs=40, callbacks=[health])
    ```
    """

    def __init__(
        self,
        num_samples=64,
        win_threshold=0.99,
        min_diversity=0.05,
        reference_images=None,
        collapse_ratio=0.1,
        patience=2,
        seed=0,
    ):
        super().__init__()
        self.num_samples = int(num_samples)
        self.win_threshold = float(win_threshold)
        self.min_diversity = float(min_diversity)
        self.collapse_ratio = float(collapse_ratio)
        self.patience = int(patience)
        self.seed = seed
        self.reference_diversity = None
        if reference_images is not None:
            reference = np.asarray(reference_images)
            if reference.dtype == np.uint8:
                reference = reference / 127.5 - 1.0
            self.reference_diversity = sample_diversity(reference)
        self.last = {}
        self.warned = set()
        self._streak = {"d_wins": 0, "collapse": 0}

    def _threshold(self):
        if self.reference_diversity is None:
            return self.min_diversity
        return max(
            self.min_diversity, self.collapse_ratio * self.reference_diversity
        )

    def measure(self, logs=None):
        """Measures the signals; returns a dict of the values."""
        logs = logs or {}
        noise = np.random.default_rng(self.seed).standard_normal(
            (self.num_samples, self.model.latent_dim), dtype=np.float32
        )
        images = keras.ops.convert_to_numpy(self.model(noise, training=False))
        values = {"diversity": sample_diversity(images)}
        for name in ("real_prob", "fake_prob"):
            if name in logs:
                values[name] = float(logs[name])
        return values

    def on_epoch_end(self, epoch, logs=None):
        values = self.measure(logs)
        self.last = values
        wins = (
            values.get("real_prob", 0.0) > self.win_threshold
            and values.get("fake_prob", 1.0) < 1.0 - self.win_threshold
        )
        collapsed = values["diversity"] < self._threshold()
        for kind, now in (("d_wins", wins), ("collapse", collapsed)):
            self._streak[kind] = self._streak[kind] + 1 if now else 0
            if self._streak[kind] >= self.patience and kind not in self.warned:
                self.warned.add(kind)
                warnings.warn(
                    self._message(kind, epoch + 1, values),
                    TrainingHealthWarning,
                    stacklevel=2,
                )

    def _message(self, kind, epoch, values):
        if kind == "d_wins":
            return (
                f"The discriminator wins completely (epoch {epoch}, "
                f"{self.patience} epochs in a row): mean D(x)="
                f"{values['real_prob']:.4f}, mean D(G(z))="
                f"{values['fake_prob']:.4f}. The generator's gradients "
                "vanish; try a lower discriminator learning rate, the "
                "'dcgan' preset, or more generator steps."
            )
        return (
            f"The generator may have collapsed (epoch {epoch}, "
            f"{self.patience} epochs in a row): the diversity of "
            f"{self.num_samples} samples is {values['diversity']:.4f}, "
            f"below {self._threshold():.4f} (`sample_diversity`: 0 when "
            "all samples are identical). Try a lower learning rate or "
            "resume from an earlier checkpoint."
        )


def load_model(path, safe_mode=True):
    """Loads a `.keras` file, refusing code and naming bad files.

    `safe_mode=True` (the default, as in Keras) refuses files whose
    configuration would run code, such as a `Lambda` layer's bytecode. A
    file that is truncated, not a Keras archive, or whose configuration or
    weights were altered raises a `ValueError` that names the file.

    Args:
        path: the `.keras` file.
        safe_mode: bool. Defaults to `True`; pass `False` only for files
            you trust.

    Returns:
        The model.

    Raises:
        FileNotFoundError: if `path` is not a file.
        ValueError: if the file cannot be loaded safely.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`path` must be an existing .keras file. Received: path={path!r}"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            "`path` must be a .keras model file; this one is truncated or "
            f"not a Keras archive. Received: path={path!r}"
        )
    try:
        return keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as error:  # Anything unreadable is reported the same.
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise ValueError(
            "`path` must be an intact .keras model file that loads with "
            f"safe_mode={safe_mode}; it is truncated, corrupt or was "
            f"modified ({type(error).__name__}: {reason}). "
            f"Received: path={path!r}"
        ) from error
