import keras
import pytest


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"


@pytest.fixture
def backend():
    return keras.backend.backend()


if keras.backend.backend() == "jax":
    # The suite opts in to XLA:CPU's faster convolutions, as a user may
    # (keras_dcgan.ops.jax); subprocesses inherit it through XLA_FLAGS.
    from keras_dcgan.ops.jax import prefer_fast_cpu_convolutions

    prefer_fast_cpu_convolutions()
