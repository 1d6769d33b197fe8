"""keras-dcgan: the DCGAN of Dive into Deep Learning as a Keras 3 model."""

from keras_dcgan.dcgan import DCGAN
from keras_dcgan.layers import DBlock, GBlock
from keras_dcgan.networks import build_discriminator, build_generator
from keras_dcgan.version import __version__

__all__ = [
    "DBlock",
    "DCGAN",
    "GBlock",
    "__version__",
    "build_discriminator",
    "build_generator",
]
