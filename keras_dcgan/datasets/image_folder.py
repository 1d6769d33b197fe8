"""Loading a folder of images, flat or in class sub-folders."""

import os

from keras_dcgan.datasets.decoding import (
    parse_background,
    resolve_num_workers,
)
from keras_dcgan.datasets.pipeline import (
    Batching,
    check_image_size,
    dataset_from_source,
)
from keras_dcgan.datasets.sources import FolderSource
from keras_dcgan.validation import one_of

RESIZE_MODES = ("pad", "crop")


def image_folder_dataset(
    directory,
    batch_size=256,
    image_size=64,
    channels=3,
    *,
    background="white",
    resize_mode="pad",
    shuffle=True,
    seed=None,
    drop_remainder=False,
    with_labels=False,
    cache_file=None,
    num_workers=None,
):
    """Loads a folder of images (PNG, JPEG, GIF, BMP) as a `tf.data.Dataset`.

    The folder may be flat or hold one sub-folder per class, as for
    torchvision's `ImageFolder`: the first folder level names the class
    (class indices follow the sorted folder names) and images may be nested
    deeper inside a class folder. When class folders exist, images lying
    directly in `directory` are ignored with a warning. Hidden files and
    folders (names starting with ".") are ignored.

    Each image is decoded once with Pillow:

    - Palette, alpha and transparent images are composited onto
      `background` (white by default) instead of turning black.
    - Grayscale and colour images are converted to `channels`.
    - GIFs contribute their first frame.
    - Non-square images are not distorted: `resize_mode="pad"` scales the
      long side to `image_size` and centres the image on a `background`
      square; `resize_mode="crop"` keeps the centred square. Downscaling
      averages areas (Pillow's BOX filter), upscaling is bilinear.
    - Unreadable, corrupt or oversized files (Pillow's decompression-bomb
      limit, `PIL.Image.MAX_IMAGE_PIXELS`, stays on) are skipped with one
      `keras_dcgan.validation.SkippedImageWarning` giving their count and an
      example. To fail instead, turn it into an error with
      `warnings.filterwarnings("error", category=SkippedImageWarning)`.

    The decoded `uint8` pixels are kept in memory, or in `cache_file` (a
    `.npy` file, memory-mapped and reused by later calls while the images
    and decoding arguments are unchanged) for data that does not fit.
    Examples are shuffled individually every epoch, then batched, scaled to
    `float32` in [-1, 1] and prefetched.

    Args:
        directory: path of the image folder.
        batch_size: examples per batch. Defaults to 256.
        image_size: side of the square output images. Defaults to 64.
        channels: 3 for RGB or 1 for grayscale. Defaults to 3.
        background: colour that transparency is composited onto and that
            pads non-square images: a colour name, `"#rrggbb"`, a gray level
            or an `(r, g, b)` tuple. Defaults to `"white"`.
        resize_mode: `"pad"` (default) or `"crop"`, see above.
        shuffle: whether to shuffle the examples every epoch.
            Defaults to `True`.
        seed: optional integer seed making the shuffle order deterministic.
        drop_remainder: whether to drop the last, smaller batch.
            Defaults to `False`.
        with_labels: if `True`, elements are `(images, labels)` with `int32`
            class indices (all 0 for a flat folder). Defaults to `False`.
        cache_file: optional `.npy` path for an on-disk pixel cache. Its
            metadata goes to `cache_file + ".json"`. Defaults to `None`
            (keep pixels in memory).
        num_workers: decoding threads. Defaults to twice the CPU count.

    Returns:
        A `tf.data.Dataset` of `float32` batches `(batch, image_size,
        image_size, channels)`, or `(images, labels)` pairs. Its
        `class_names` attribute lists the class folders and `file_paths`
        the images kept, in their (unshuffled) order.

    Example:

    ```python
    dataset = keras_dcgan.datasets.image_folder_dataset(
        "my_sprites", batch_size=128, image_size=64, seed=0
    )
    images = next(dataset.as_numpy_iterator())  # (128, 64, 64, 3) float32
    ```
    """
    batching = Batching.checked(
        batch_size, shuffle, seed, drop_remainder, with_labels
    )
    decoding = (
        check_image_size(image_size, channels),
        channels,
        parse_background(background),
        one_of("resize_mode", resize_mode, RESIZE_MODES),
    )
    num_workers = resolve_num_workers(num_workers)
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "`directory` must be an existing folder of images. "
            f"Received: directory={directory!r}"
        )
    return dataset_from_source(
        FolderSource(directory),
        os.path.join(directory, ""),
        decoding,
        batching,
        cache_file,
        num_workers,
    )
