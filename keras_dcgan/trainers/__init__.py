"""Each backend's gradient plumbing for DCGAN.train_step: differentiate, apply.

Each backend module defines `GANTrainer`, a subclass of
`keras_dcgan.trainers.base.GANTrainerBase`, whose docstrings are the
contract: record a pass, differentiate, apply, and split or gather the
data-parallel replicas.
"""

import keras

_backend = keras.backend.backend()
if _backend == "tensorflow":
    from keras_dcgan.trainers.tensorflow import GANTrainer
elif _backend == "jax":
    from keras_dcgan.trainers.jax import GANTrainer
elif _backend == "torch":
    from keras_dcgan.trainers.torch import GANTrainer
else:
    raise ImportError(
        "keras-dcgan supports the tensorflow, jax and torch backends. "
        f"Received: KERAS_BACKEND={_backend!r}"
    )

__all__ = ["GANTrainer"]
