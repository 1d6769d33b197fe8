"""The tf.data pipeline shared by every loader, and dataset previews.

Decoded `uint8` pixels go in; out comes a `tf.data.Dataset` that shuffles
individual examples every epoch (only indices pass through the shuffle
buffer), then batches, scales to `float32` in [-1, 1] and prefetches.
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from keras_dcgan import images as images_lib
from keras_dcgan.datasets.decoding import load_source
from keras_dcgan.validation import one_of, positive_int


class Batching(NamedTuple):
    """How a loader's pipeline batches: its arguments, checked."""

    batch_size: int
    shuffle: bool = True
    seed: object = None
    drop_remainder: bool = False
    with_labels: bool = False

    @classmethod
    def checked(cls, batch_size, *args):
        return cls(positive_int("batch_size", batch_size), *args)


def check_image_size(image_size, channels):
    """Checks the output image arguments; returns `image_size` as an int."""
    one_of("channels", channels, (1, 3))
    return positive_int("image_size", image_size)


def make_dataset(pixels, labels, batching, class_names, file_paths=None):
    """Builds shuffle -> batch -> to float [-1, 1] -> prefetch.

    `pixels` is a `uint8` array (in memory or a `np.memmap`). Only indices
    go through the shuffle buffer, so a full-size buffer is cheap and every
    epoch sees a new order of individual examples. With a `seed`, the
    sequence of epoch orders is deterministic. The dataset gets the
    attributes `class_names` (and `file_paths` when given).
    """
    batch_size, shuffle, seed, drop_remainder, with_labels = batching
    labels = labels if with_labels else None
    count = len(pixels)
    dataset = tf.data.Dataset.range(count)
    if shuffle:
        dataset = dataset.shuffle(
            count, seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    label_tensor = None if labels is None else tf.constant(labels, tf.int32)
    if isinstance(pixels, np.memmap):
        item_shape = pixels.shape[1:]

        def read(indices):
            return np.ascontiguousarray(pixels[np.sort(indices)])

        def gather(indices):
            # Read rows in file order, then put them back in shuffled order.
            order = tf.argsort(tf.argsort(indices))
            batch = tf.numpy_function(read, [indices], tf.uint8)
            batch = tf.gather(batch, order)
            return tf.ensure_shape(batch, (None,) + item_shape)

    else:
        pixel_tensor = tf.constant(pixels)

        def gather(indices):
            return tf.gather(pixel_tensor, indices)

    def to_float(indices):
        images = tf.cast(gather(indices), tf.float32) * (1.0 / 127.5) - 1.0
        if label_tensor is None:
            return images
        return images, tf.gather(label_tensor, indices)

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    dataset.class_names = list(class_names)
    if file_paths is not None:
        dataset.file_paths = list(file_paths)
    return dataset


def dataset_from_source(
    source, path_prefix, decoding, batching, cache_file, num_workers
):
    """Decodes `source` once, then builds its pipeline.

    Args:
        source: a `FolderSource` or `ZipSource`; closed when decoded.
        path_prefix: string put before each image's name in `file_paths`.
        decoding: `(image_size, channels, background, resize_mode)`.
        batching: a `Batching`.
        cache_file: optional `.npy` path of the on-disk pixel cache.
        num_workers: int. Decoding threads.
    """
    try:
        pixels, names, labels, class_names = load_source(
            source, decoding, cache_file, num_workers
        )
    finally:
        source.close()
    paths = [path_prefix + n for n in names]
    return make_dataset(pixels, labels, batching, class_names, paths)


def take_images(dataset, count):
    """Returns the first `count` images of a dataset as a NumPy array.

    Args:
        dataset: a `tf.data.Dataset` of image batches or `(images, labels)`
            pairs, such as the loaders of this module return.
        count: number of images to take.

    Returns:
        A NumPy array of up to `count` images.
    """
    count = positive_int("count", count)
    batches, taken = [], 0
    for element in dataset.as_numpy_iterator():
        batch = element[0] if isinstance(element, tuple) else element
        batches.append(batch[: count - taken])
        taken += len(batches[-1])
        if taken >= count:
            break
    if not batches:
        raise ValueError("`dataset` must not be empty.")
    return np.concatenate(batches)


def preview_dataset(dataset, path=None, rows=4, cols=5):
    """Shows or saves a grid of the first `rows * cols` images of a dataset.

    The chapter shows the first 20 Pokemon this way. With `path`, the grid
    is written as a PNG (atomically, by `images.save_image_grid`); otherwise
    it is drawn with matplotlib.

    Args:
        dataset: a `tf.data.Dataset` of images in [-1, 1] (or pairs).
        path: optional PNG path.
        rows: grid rows. Defaults to 4.
        cols: grid columns. Defaults to 5.

    Returns:
        The `uint8` grid, shape `(height, width, channels)`.

    Example:

    ```python
    preview_dataset(load_pokemon(path="pokemon.zip"), "pokemon.png")
    ```
    """
    rows = positive_int("rows", rows)
    cols = positive_int("cols", cols)
    batch = take_images(dataset, rows * cols)
    if path is not None:
        return images_lib.save_image_grid(batch, path, rows=rows, cols=cols)
    images_lib.show_image_grid(batch, rows=rows, cols=cols)
    return images_lib.make_grid(batch, rows=rows, cols=cols)
