"""Shared test helpers: tiny models, synthetic data, subprocesses."""

import os
import subprocess
import sys

import keras
import numpy as np

import keras_dcgan

LATENT_DIM = 8
IMAGE_SHAPE = (16, 16, 3)


def tiny_dcgan(latent_dim=LATENT_DIM, image_shape=IMAGE_SHAPE, seed=0, **kw):
    """A DCGAN small enough to train in milliseconds."""
    keras.utils.set_random_seed(seed)
    return keras_dcgan.DCGAN(
        keras_dcgan.build_generator(latent_dim, image_shape, filters=4),
        keras_dcgan.build_discriminator(image_shape, filters=4),
        latent_dim=latent_dim,
        seed=seed,
        **kw,
    )


def fake_images(n, image_shape=IMAGE_SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n,) + tuple(image_shape)).astype("float32")


def state_of(model):
    """Every variable of a compiled DCGAN as NumPy, under unique names."""
    state = {
        f"{owner}/{v.path}": keras.ops.convert_to_numpy(v)
        for owner in (
            "generator",
            "discriminator",
            "d_optimizer",
            "g_optimizer",
        )
        for v in getattr(model, owner).variables
    }
    state["noise"] = keras.ops.convert_to_numpy(model.seed_generator.state)
    return state


def weights_of(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def run_python(code, backend=None, args=(), timeout=300):
    """Runs `code` in a fresh Python process; returns its stdout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    tests = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [tests, env.get("PYTHONPATH")])
    )
    env["KERAS_BACKEND"] = backend or keras.backend.backend()
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"subprocess on {env['KERAS_BACKEND']} failed:\n{result.stderr}"
        )
    return result.stdout


def run_layer_test(layer, input_data, expected_output_shape, num_weights, path):
    """KerasHub's `run_layer_test` with public APIs.

    Checks the config round trip, that the symbolic shape equals
    `compute_output_shape`, an eager call, the weight count, and that a
    `.keras` file of a model around the layer reloads with equal outputs.
    """
    restored = layer.__class__.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()

    symbolic = layer(keras.KerasTensor(input_data.shape))
    assert tuple(symbolic.shape) == expected_output_shape
    assert layer.compute_output_shape(input_data.shape) == tuple(
        expected_output_shape
    )
    output = keras.ops.convert_to_numpy(layer(input_data))
    assert output.shape == expected_output_shape
    assert len(layer.weights) == num_weights

    inputs = keras.Input(input_data.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(input_data)), output, atol=1e-6
    )
