"""Datasets for the DCGAN: Pokemon sprites, image folders, Fashion-MNIST and
fake data.

Every loader returns a `tf.data.Dataset` of `float32` images in [-1, 1]
(NHWC), which `Model.fit()` accepts on the TensorFlow, JAX and PyTorch
backends. The pipeline is the same for all of them:

1. Each image is decoded once (Pillow, in a thread pool), flattened onto a
   background colour, made square and resized, and stored as `uint8`
   pixels, in memory or in an on-disk `.npy` cache file
   (`keras_dcgan.datasets.decoding`, reading from
   `keras_dcgan.datasets.sources`).
2. Every epoch, the individual examples are shuffled (a full-size shuffle
   buffer of indices, reshuffled each iteration, seeded), then batched,
   converted to `float32` in [-1, 1] and prefetched
   (`keras_dcgan.datasets.pipeline`).

`EpochShuffledImages` serves in-memory images without TensorFlow, in an
order that depends only on `(seed, epoch)`, so a resumed run sees the same
batches (`keras_dcgan.in_memory`).

Unlike the TensorFlow code of the d2l chapter, the cache sits before the
shuffle and the batching, so batch composition changes every epoch.
"""

from keras_dcgan.datasets.fake import fake_dataset
from keras_dcgan.datasets.fashion_mnist import (
    FASHION_MNIST_CLASS_NAMES,
    FASHION_MNIST_FILES,
    load_fashion_mnist,
)
from keras_dcgan.datasets.image_folder import image_folder_dataset
from keras_dcgan.datasets.pipeline import preview_dataset, take_images
from keras_dcgan.datasets.pokemon import (
    POKEMON_SHA1,
    POKEMON_URL,
    load_pokemon,
)
from keras_dcgan.datasets.sources import IMAGE_EXTENSIONS
from keras_dcgan.in_memory import EpochShuffledImages

__all__ = [
    "EpochShuffledImages",
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_FILES",
    "IMAGE_EXTENSIONS",
    "POKEMON_SHA1",
    "POKEMON_URL",
    "fake_dataset",
    "image_folder_dataset",
    "load_fashion_mnist",
    "load_pokemon",
    "preview_dataset",
    "take_images",
]
