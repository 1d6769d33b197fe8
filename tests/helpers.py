"""Shared test helpers: tiny models, synthetic data, subprocesses."""

import contextlib
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_dcgan

LATENT_DIM = 8
IMAGE_SHAPE = (16, 16, 3)
# Cross-backend tests load a file saved on this backend on the next one:
# over the suite's three runs, every backend saves a file another loads.
NEXT_BACKEND = {"tensorflow": "jax", "jax": "torch", "torch": "tensorflow"}
# The command's flags for the tiny test size.
TINY = ["--image-size", "16", "--filters", "4", "--latent-dim", "8"]


@contextlib.contextmanager
def dtype_policy(name):
    """The global dtype policy `name` for a `with` block, then the previous."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


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


def tiny_recipe(**overrides):
    """The chapter's recipe at the tiny test size, for `train_run`."""
    args = dict(
        image_size=IMAGE_SHAPE[0],
        filters=4,
        latent_dim=LATENT_DIM,
        batch_size=4,
        epochs=2,
    )
    return keras_dcgan.recipes.get_recipe("d2l", **{**args, **overrides})


def random_pixels(n, image_shape=IMAGE_SHAPE, seed=0):
    """`n` random `uint8` images, as a loader's pixels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n,) + tuple(image_shape), dtype=np.uint8)


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
    if model.ema_generator is not None:
        for v in model.ema_generator.variables:
            state[f"ema_generator/{v.path}"] = keras.ops.convert_to_numpy(v)
        state["ema_updates"] = keras.ops.convert_to_numpy(model.ema_updates)
    if model.augment is not None:
        for v in model.augment.variables:
            state[f"augment/{v.name}"] = keras.ops.convert_to_numpy(v)
    if model.mirror:
        state["mirror"] = keras.ops.convert_to_numpy(
            model.mirror_seed_generator.state
        )
    return state


def weights_of(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def preset_images(names):
    """Each named preset's images of one fixed batch of noise (and labels)."""
    outputs = {}
    for name in names:
        model = keras_dcgan.DCGAN.from_preset(name)
        noise = np.random.default_rng(7).standard_normal((4, model.latent_dim))
        inputs = noise.astype("float32")
        if model.num_classes:
            inputs = [inputs, np.arange(4, dtype="int32") % model.num_classes]
        outputs[name] = model.predict(inputs, verbose=0)
    return outputs


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


def run_command(
    args, backend=None, cwd=None, env_changes=None, stdout=subprocess.PIPE
):
    """Runs `keras-dcgan *args` in a subprocess; returns its result.

    `env_changes` sets environment variables, or removes them where `None`;
    `stdout` may be a file descriptor instead of the captured text.
    """
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_BACKEND=backend or keras.backend.backend(),
    )
    env.update(env_changes or {})
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "keras_dcgan", *args],
        env=env,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


def train_command(run_dir, *flags, dataset="fake"):
    """`keras-dcgan train --dry-run` at the tiny size, in this process.

    For tests of what a run does; one test per command runs it for real in
    a subprocess. Returns the model the run saved.
    """
    from keras_dcgan import cli

    args = ["train", "--dataset", dataset, "--dry-run", "--quiet"]
    args += ["--no-tensorboard", *TINY, "--output-dir", str(run_dir)]
    code = cli.main(args + list(flags))
    if code != 0:
        raise AssertionError(f"keras-dcgan {' '.join(args)} exited {code}")
    return keras.saving.load_model(os.path.join(run_dir, "model.keras"))


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


def gradients(layer, x, **call_kwargs):
    """Output and gradients of a fixed weighted sum of `layer(x) ** 2`.

    Returns `(output, [d/dx, d/d(each trainable weight)])` as NumPy arrays,
    on whichever backend runs the tests.
    """
    backend = keras.backend.backend()
    ops = keras.ops

    def loss_of(outputs):
        outputs = ops.cast(outputs, "float32")
        pattern = np.linspace(-1.0, 1.0, int(np.prod(outputs.shape)))
        pattern = pattern.reshape(tuple(outputs.shape)).astype("float32")
        return ops.sum(outputs**2 * ops.convert_to_tensor(pattern))

    trainable = [v.value for v in layer.trainable_variables]
    if backend == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(x, trainable):
            outputs, _ = layer.stateless_call(
                trainable, non_trainable, x, **call_kwargs
            )
            return loss_of(outputs), outputs

        (_, outputs), grads = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True
        )(x, trainable)
        grads = [grads[0]] + list(grads[1])
    elif backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, **call_kwargs)
            loss = loss_of(outputs)
        grads = tape.gradient(loss, [x] + trainable)
    else:
        import torch

        x = torch.tensor(x, requires_grad=True)
        outputs = layer(x, **call_kwargs)
        grads = torch.autograd.grad(loss_of(outputs), [x] + trainable)
        outputs = outputs.detach()
    to_numpy = lambda t: ops.convert_to_numpy(ops.cast(t, "float32"))  # noqa: E731
    return to_numpy(outputs), [to_numpy(g) for g in grads]


def find_chromium():
    """The path of a Chromium or Chrome binary, or `None`."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(page, *args, tmp_path):
    """Runs headless Chromium on `page` (a path or URL); returns stdout.

    Skips the test where Chromium is not installed.
    """
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed")
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        *args,
        page.as_uri() if not isinstance(page, str) else page,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(page, width, height, tmp_path):
    """Headless Chromium's screenshot of `page`, as RGB float32 pixels."""
    from PIL import Image

    shot = tmp_path / "page.png"
    chromium(
        page,
        f"--screenshot={shot}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        tmp_path=tmp_path,
    )
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.shape[:2] == (height, width)
    return pixels
