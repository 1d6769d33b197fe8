"""keras-dcgan: the DCGAN of Dive into Deep Learning as a Keras 3 model."""

import importlib

# The `keras-dcgan` command keeps TensorFlow's C++ start-up lines off the
# screen; this has to happen before Keras imports TensorFlow.
import keras_dcgan.cli.startup  # noqa: F401
from keras_dcgan import (
    augment,
    callbacks,
    checkpoints,
    images,
    recipes,
)
from keras_dcgan.dcgan import DCGAN
from keras_dcgan.layers import DBlock, GBlock
from keras_dcgan.networks import build_discriminator, build_generator
from keras_dcgan.version import __version__

__all__ = [
    "DBlock",
    "DCGAN",
    "GBlock",
    "__version__",
    "augment",
    "build_discriminator",
    "build_generator",
    "callbacks",
    "checkpoints",
    "datasets",
    "images",
    "recipes",
]


def __getattr__(name):
    # The loaders need TensorFlow's tf.data: import them only when used, so
    # that training on JAX or PyTorch does not load TensorFlow.
    if name == "datasets":
        return importlib.import_module("keras_dcgan.datasets")
    raise AttributeError(f"module 'keras_dcgan' has no attribute {name!r}")
