"""Random images for smoke tests and dry runs."""

import numpy as np

from keras_dcgan.datasets.pipeline import Batching, make_dataset
from keras_dcgan.validation import positive_int


def fake_dataset(
    num_examples=64,
    image_shape=(64, 64, 3),
    batch_size=32,
    *,
    num_classes=10,
    with_labels=False,
    shuffle=True,
    seed=0,
    drop_remainder=False,
):
    """Random images in [-1, 1], for smoke tests and dry runs.

    The images are uniform random `uint8` pixels (drawn with NumPy from
    `seed`) going through the same pipeline as the real loaders.

    Args:
        num_examples: number of examples. Defaults to 64.
        image_shape: shape of one image, any tuple of positive integers.
            Defaults to `(64, 64, 3)`.
        batch_size: examples per batch. Defaults to 32.
        num_classes: number of random labels when `with_labels=True`.
            Defaults to 10.
        with_labels: if `True`, elements are `(images, labels)`.
        shuffle: whether to shuffle the examples every epoch.
        seed: integer seed for the pixels, labels and shuffle. Defaults to 0.
        drop_remainder: whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset` of `float32` batches
        `(batch,) + image_shape`, or `(images, labels)` pairs.

    Example:

    >>> dataset = fake_dataset(8, image_shape=(16, 16, 1), batch_size=4)
    >>> next(dataset.as_numpy_iterator()).shape
    (4, 16, 16, 1)
    """
    num_examples = positive_int("num_examples", num_examples)
    batching = Batching.checked(
        batch_size, shuffle, seed, drop_remainder, with_labels
    )
    num_classes = positive_int("num_classes", num_classes)
    try:
        shape = tuple(image_shape)
        for v in shape:
            positive_int("image_shape", v)
        if not shape:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            "`image_shape` must be a non-empty tuple of positive integers. "
            f"Received: image_shape={image_shape!r}"
        ) from None
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (num_examples,) + shape, dtype=np.uint8)
    labels = rng.integers(0, num_classes, num_examples).astype(np.int32)
    class_names = [str(i) for i in range(num_classes)]
    return make_dataset(pixels, labels, batching, class_names)
