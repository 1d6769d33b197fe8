"""Checks of user input, worded the Keras way: what is wrong, what was
expected, `Received: name=value`.

- `positive_int()` and `one_of()` check single arguments.
- `check_images()` refuses image arrays of the wrong rank or dtype and
  arrays holding NaN or infinity, and warns (once) about float pixels in
  [0, 255] where [-1, 1] is expected. `warn_if_integer_pixels()` is the
  static version for the training step, where only the dtype is known.
- `check_writable()` and `check_free_space()` refuse a run folder that
  cannot be written, or a disk without room for the checkpoints, before
  any training time is spent.

See `docs/reliability.md` for the failure table these checks belong to.
"""

import numbers
import os
import shutil
import tempfile
import warnings

import keras
import numpy as np


def positive_int(name, value):
    """Returns `value` as an int, or raises if it is not a positive integer."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value <= 0
    ):
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def _real(name, value, accepted, expected):
    """Returns `value` as a float if it is a real number that `accepted`
    takes; else raises saying it was `expected`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not accepted(value)
    ):
        raise ValueError(
            f"`{name}` must be {expected}. Received: {name}={value!r}"
        )
    return float(value)


def positive_number(name, value, unit=None):
    """Returns `value` as a float, or raises if it is not a number above 0.

    `unit` names what it counts in the message, such as "standard
    deviations"."""
    of = f" of {unit}" if unit else ""
    return _real(name, value, lambda v: v > 0, f"a positive number{of}")


def unit_interval(name, value):
    """Returns `value` as a float, or raises if it is not in [0, 1]."""
    return _real(name, value, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def open_unit_interval(name, value):
    """Returns `value` as a float, or raises if it is not strictly in (0, 1)."""
    return _real(
        name,
        value,
        lambda v: 0 < v < 1,
        "a number strictly between 0 and 1",
    )


def check_labels(labels, num_classes, num_images):
    """Returns class `labels` as an int32 array, or raises.

    A conditional model (`num_classes` set) needs `num_images` integers in
    `[0, num_classes)`; an unconditional one (`num_classes=None`) takes
    none, and gets `None` back.
    """
    if num_classes is None:
        if labels is not None:
            raise ValueError(
                "`labels` only apply to a conditional model (one built with "
                f"`num_classes`). Received: labels={labels!r}"
            )
        return None
    if labels is None:
        raise ValueError(
            f"A conditional model (num_classes={num_classes}) needs `labels`, "
            "one class per image. Received: labels=None"
        )
    array = np.asarray(labels)
    numeric = array.size and np.issubdtype(array.dtype, np.number)
    if (
        array.shape != (num_images,)
        or not np.issubdtype(array.dtype, np.integer)
        or (numeric and (array.min() < 0 or array.max() >= num_classes))
    ):
        raise ValueError(
            f"`labels` must be {num_images} integers in [0, {num_classes}), "
            f"one per image. Received: labels with shape {array.shape}, "
            f"dtype {array.dtype}"
            + (
                f" and values in [{array.min()}, {array.max()}]"
                if numeric
                else ""
            )
        )
    return array.astype("int32")


def check_class_names(class_names, num_classes):
    """Returns `class_names` as a list of strings (or `None`), or raises."""
    if class_names is None:
        return None
    names = [str(name) for name in class_names]
    if len(names) != (num_classes or 0):
        raise ValueError(
            "`class_names` must name each of the `num_classes` classes. "
            f"Expected: {num_classes} names. Received: "
            f"class_names={class_names!r}"
        )
    return names


def check_gan_networks(generator, discriminator, latent_dim, num_classes):
    """Checks a DCGAN's two networks; returns the generator's noise shape.

    Both must be built `keras.Model`s taking the labels as a second input
    when `num_classes` is set (then the discriminator may also output class
    logits), and the noise's last axis must be `latent_dim`.
    """
    expected = 1 if num_classes is None else 2
    for name, network in (
        ("generator", generator),
        ("discriminator", discriminator),
    ):
        if not isinstance(network, keras.Model) or not network.built:
            raise ValueError(
                f"`{name}` must be a built `keras.Model`. "
                f"Received: {name}={network!r}"
            )
        if len(network.inputs) != expected:
            raise ValueError(
                f"With num_classes={num_classes}, `{name}` must take "
                f"{expected} input(s)"
                + ("" if expected == 1 else " (the second: labels)")
                + f". Received: {name} with {len(network.inputs)} inputs"
            )
    outputs = discriminator.outputs
    if len(outputs) == 2 and num_classes is not None:
        classes = outputs[1].shape[-1]
        if classes != num_classes:
            raise ValueError(
                "The discriminator's second output, the class logits of an "
                f"auxiliary classifier, must have num_classes={num_classes} "
                f"values per image. Received: {classes}"
            )
    elif len(outputs) != 1:
        expected = "one output, the logits"
        if num_classes is not None:
            expected += ", or two: logits and class logits"
        raise ValueError(
            f"`discriminator` must have {expected}. "
            f"Received: {len(outputs)} outputs"
        )
    noise_shape = tuple(generator.inputs[0].shape[1:])
    if noise_shape[-1] != latent_dim:
        raise ValueError(
            "`latent_dim` must match the generator's input, whose shape "
            f"is (batch, {', '.join(map(str, noise_shape))}). "
            f"Received: latent_dim={latent_dim}"
        )
    return noise_shape


def one_of(name, value, choices):
    """Returns `value`, or raises if it is not one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}"
        )
    return value


# Pixels of float images are expected in [-1, 1]; allow rounding slack.
_RANGE_SLACK = 1e-3


class PixelRangeWarning(UserWarning):
    """Images are not in the [-1, 1] range the networks expect."""


class SkippedImageWarning(UserWarning):
    """Unreadable, corrupt or oversized image files were skipped.

    The loaders skip such files with one warning. To fail instead, turn the
    warning into an error:

    ```python
    warnings.filterwarnings(
        "error", category=keras_dcgan.validation.SkippedImageWarning
    )
    ```
    """


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


def check_batch_shape(images, image_shape):
    """Checks that a batch tensor has the discriminator's image shape."""
    shape = tuple(images.shape)
    if len(shape) != len(image_shape) + 1 or any(
        got is not None and got != want
        for got, want in zip(shape[1:], image_shape)
    ):
        expected = ", ".join(map(str, image_shape))
        raise ValueError(
            "The images in the data must match the discriminator's input "
            f"shape (batch, {expected}). Received: images.shape={shape}"
        )


def check_gan_compile_arguments(kwargs):
    """Refuses `keras.Model.compile` arguments a GAN replaces with its own."""
    for name in ("optimizer", "loss", "metrics", "loss_weights"):
        if kwargs.get(name) is not None:
            raise ValueError(
                f"`DCGAN.compile()` takes `d_optimizer`, `g_optimizer` "
                f"and `loss_fn` instead of `{name}`. "
                f"Received: {name}={kwargs[name]!r}"
            )


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
    pixels = keras_dcgan.validation.check_images(np.load("pixels.npy"))
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
            "`keras_dcgan.datasets.EpochShuffledImages` or "
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


def check_free_space(directory, needed_bytes):
    """Raises when the disk of `directory` has less than `needed_bytes`.

    Args:
        directory: a folder, or one to be created (its nearest existing
            parent is measured).
        needed_bytes: int. The space the run needs.

    Raises:
        ValueError: naming the free and needed space.
    """
    path = os.path.abspath(os.fspath(directory))
    while not os.path.exists(path):  # A run folder not created yet.
        path = os.path.dirname(path)
    free = shutil.disk_usage(path).free
    if free < needed_bytes:
        raise ValueError(
            f"The disk of the run folder has {free / 2**20:.1f} MiB free, "
            f"but the run needs at least {needed_bytes / 2**20:.1f} MiB "
            "(the checkpoints it keeps and the final model). Free some "
            f"space or choose another folder. Received: directory={directory!r}"
        )


def first_batch(x, y, batch_size):
    """The first batch of `fit()`'s data as NumPy (`None` if it cannot be
    read ahead), for checks before any step is traced."""
    if isinstance(x, keras.utils.PyDataset):
        return x[0] if x.num_batches else None
    if hasattr(x, "as_numpy_iterator") and hasattr(x, "take"):  # tf.data
        return next(iter(x.take(1).as_numpy_iterator()), None)
    if hasattr(x, "shape") and len(x.shape):
        x = keras.ops.convert_to_numpy(x[:batch_size])
        return (
            x if y is None else (x, keras.ops.convert_to_numpy(y[:batch_size]))
        )
    return None
