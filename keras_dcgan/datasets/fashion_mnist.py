"""Fashion-MNIST: the four idx files offline, or tensorflow-datasets."""

import gzip
import os
import re

import numpy as np
import tensorflow as tf

from keras_dcgan.datasets.pipeline import (
    Batching,
    check_image_size,
    make_dataset,
)
from keras_dcgan.files import file_hash
from keras_dcgan.validation import one_of

FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# split: (images file, its published md5, labels file, its published md5).
FASHION_MNIST_FILES = {
    "train": (
        "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    "test": (
        "t10k-images-idx3-ubyte.gz",
        "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
}

_FASHION_MNIST_ALIASES = {
    "tshirt": 0,
    "top": 0,
    "boot": 9,
}


def _class_indices(classes):
    if classes is None:
        return None
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    names = {
        re.sub(r"[^a-z0-9]", "", n.lower()): i
        for i, n in enumerate(FASHION_MNIST_CLASS_NAMES)
    }
    names.update(_FASHION_MNIST_ALIASES)
    indices = []
    for c in classes:
        if isinstance(c, str):
            index = names.get(re.sub(r"[^a-z0-9]", "", c.lower()))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            index = int(c) if 0 <= c < 10 else None
        else:
            index = None
        if index is None:
            raise ValueError(
                "`classes` must hold Fashion-MNIST class indices 0-9 or names "
                f"({', '.join(FASHION_MNIST_CLASS_NAMES)}). "
                f"Received: classes={classes!r} (unknown class {c!r})"
            )
        indices.append(index)
    if not indices:
        raise ValueError(
            f"`classes` must not be empty. Received: classes={classes!r}"
        )
    return sorted(set(indices))


def _read_idx(path, magic, item_shape):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = len(item_shape) + 1
    header = 4 + 4 * ndim
    dims = (
        np.frombuffer(data, ">u4", count=ndim + 1)
        if len(data) >= header
        else None
    )
    expected_dims = None if dims is None else (dims[1], *item_shape)
    if dims is None or dims[0] != magic or tuple(dims[1:]) != expected_dims:
        raise ValueError(
            f"The file is not an idx file of {('images', 'labels')[ndim == 1]}"
            f" with items of shape {item_shape}. Received: path={path!r}"
        )
    count = int(dims[1])
    array = np.frombuffer(data, np.uint8, offset=header)
    if array.size != count * int(np.prod(item_shape, dtype=np.int64)):
        raise ValueError(f"The idx file is truncated. Received: path={path!r}")
    return array.reshape((count,) + tuple(item_shape))


def _fashion_mnist_from_folder(path, split, verify):
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            "`path` must be a folder holding the Fashion-MNIST idx .gz files. "
            f"Received: path={path!r}"
        )
    images_name, images_md5, labels_name, labels_md5 = FASHION_MNIST_FILES[
        split
    ]
    arrays = []
    for name, md5, magic, shape in (
        (images_name, images_md5, 2051, (28, 28)),
        (labels_name, labels_md5, 2049, ()),
    ):
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise FileNotFoundError(
                f"The Fashion-MNIST folder has no {name}. Expected the four "
                "idx files "
                + ", ".join(
                    n for v in FASHION_MNIST_FILES.values() for n in v[::2]
                )
                + f". Received: path={path!r}"
            )
        if verify:
            got = file_hash(file, "md5")
            if got != md5:
                raise ValueError(
                    f"{name} is not the published Fashion-MNIST file: its "
                    f"md5 must be {md5}. Pass verify=False to load other "
                    f"files in the same format. Received: md5={got}"
                )
        arrays.append(_read_idx(file, magic, shape))
    images, labels = arrays
    if len(images) != len(labels):
        raise ValueError(
            f"{images_name} and {labels_name} must hold the same number of "
            f"items. Received: {len(images)} images and {len(labels)} labels"
        )
    return images, labels.astype(np.int32)


def _fashion_mnist_from_tfds(split, data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError(
            "Loading Fashion-MNIST without `path` needs tensorflow-datasets "
            "(`pip install tensorflow-datasets`). Or pass `path=` a folder "
            "holding the four idx .gz files."
        ) from None
    try:
        dataset = tfds.load(
            "fashion_mnist", split=split, as_supervised=True, data_dir=data_dir
        )
        images, labels = [], []
        for x, y in tfds.as_numpy(dataset.batch(10000)):
            images.append(x[..., 0])
            labels.append(y)
    except Exception as e:
        raise OSError(
            "Could not load fashion_mnist through tensorflow-datasets "
            f"({type(e).__name__}: {e}). Without network access, pass `path=` "
            "a folder holding the four idx .gz files, e.g. "
            "load_fashion_mnist(path='data/fashion-mnist')."
        ) from e
    return (
        np.concatenate(images).astype(np.uint8),
        np.concatenate(labels).astype(np.int32),
    )


def _resize_square(images, image_size, resize_mode):
    """Pads (centred, black) or resizes `(N, 28, 28)` uint8 images."""
    size = images.shape[1]
    if image_size == size:
        return images
    if resize_mode == "pad":
        if image_size < size:
            raise ValueError(
                f"`resize_mode='pad'` needs `image_size` >= {size}; use "
                "resize_mode='resize' for smaller images. "
                f"Received: image_size={image_size}"
            )
        before = (image_size - size) // 2
        after = image_size - size - before
        return np.pad(images, ((0, 0), (before, after), (before, after)))
    out = np.empty((len(images), image_size, image_size), np.uint8)
    for start in range(0, len(images), 10000):
        chunk = images[start : start + 10000, ..., None]
        resized = tf.image.resize(
            chunk, (image_size, image_size), method="bilinear", antialias=True
        )
        out[start : start + 10000] = np.clip(
            np.rint(resized.numpy()[..., 0]), 0, 255
        )
    return out


def load_fashion_mnist(
    split="train",
    image_size=32,
    classes=None,
    batch_size=256,
    path=None,
    *,
    channels=1,
    resize_mode="pad",
    with_labels=False,
    shuffle=True,
    seed=None,
    drop_remainder=False,
    verify=True,
    data_dir=None,
):
    """Loads Fashion-MNIST as a `tf.data.Dataset` of images in [-1, 1].

    Without `path`, the data comes through tensorflow-datasets
    (`tfds.load("fashion_mnist")`, downloading on first use). With `path`, a
    folder holding the four standard idx files
    (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
    `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`), it loads
    fully offline. The two files of the split are checked against their
    published md5 unless `verify=False` (for files in the same format that
    are not the originals, such as test fixtures).

    The 28x28 images are centre-padded with black (`resize_mode="pad"`, the
    default) or resized (`resize_mode="resize"`, bilinear with antialias) to
    `image_size`, so 32 suits a generator that doubles 4 -> 8 -> 16 -> 32.

    Args:
        split: `"train"` (60,000 images) or `"test"` (10,000).
        image_size: side of the square output images. Defaults to 32.
        classes: optional class filter: an index 0-9, a name such as
            `"sneaker"` or `"Ankle boot"` (case, spaces and punctuation
            ignored), or a list of them. Labels keep their original indices.
        batch_size: examples per batch. Defaults to 256.
        path: optional folder holding the four idx `.gz` files.
        channels: 1 (default) or 3 (the gray level repeated).
        resize_mode: `"pad"` (default) or `"resize"`.
        with_labels: if `True`, elements are `(images, labels)` with `int32`
            labels, for evaluation. Defaults to `False`.
        shuffle: whether to shuffle the examples every epoch.
            Defaults to `True`.
        seed: optional integer seed making the shuffle order deterministic.
        drop_remainder: whether to drop the last, smaller batch.
            Defaults to `False`.
        verify: whether to check the md5 of the idx files given by `path`.
            Defaults to `True`.
        data_dir: optional tensorflow-datasets data folder.

    Returns:
        A `tf.data.Dataset` of `float32` batches `(batch, image_size,
        image_size, channels)`, or `(images, labels)` pairs. Its
        `class_names` attribute lists the ten class names.

    Example:

    ```python
    dataset = keras_dcgan.datasets.load_fashion_mnist(
        image_size=32, classes=["sneaker", "trouser"], with_labels=True
    )
    ```
    """
    one_of("split", split, ("train", "test"))
    batching = Batching.checked(
        batch_size, shuffle, seed, drop_remainder, with_labels
    )
    image_size = check_image_size(image_size, channels)
    one_of("resize_mode", resize_mode, ("pad", "resize"))
    indices = _class_indices(classes)
    if path is None:
        images, labels = _fashion_mnist_from_tfds(split, data_dir)
    else:
        images, labels = _fashion_mnist_from_folder(path, split, verify)
    if indices is not None:
        mask = np.isin(labels, indices)
        images, labels = images[mask], labels[mask]
    images = _resize_square(images, image_size, resize_mode)[..., None]
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return make_dataset(images, labels, batching, FASHION_MNIST_CLASS_NAMES)


# ---------------------------------------------------------------------------
# Fake data and previews.
