"""`keras-dcgan info`: versions, backend and devices."""

import importlib.metadata
import platform

from keras_dcgan.cli.common import add_common_options


def add_parser(subparsers):
    """Adds `info` to the command's subparsers."""
    info = subparsers.add_parser("info", help="versions, backend, devices")
    add_common_options(info)
    info.set_defaults(run=run)
    return info


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def run(args):
    """Prints versions, the backend and its devices; returns 0."""
    import keras

    from keras_dcgan import callbacks
    from keras_dcgan.version import __version__

    backend = keras.backend.backend()
    print(f"keras-dcgan {__version__}")
    print(f"keras {keras.__version__}, backend {backend}")
    print(f"python {platform.python_version()} ({platform.platform()})")
    for name in ("numpy", "tensorflow", "jax", "jaxlib", "torch", "pillow"):
        print(f"{name} {_version(name)}")
    print(f"device: {callbacks.device_name()}")
    if backend == "jax":
        import jax

        devices = [
            f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()
        ]
    elif backend == "torch":
        import torch

        devices = ["cpu"] + [
            f"cuda:{i} {torch.cuda.get_device_name(i)}"
            for i in range(torch.cuda.device_count())
        ]
    else:
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_physical_devices()]
    print(f"devices: {', '.join(devices)}")
    return 0
