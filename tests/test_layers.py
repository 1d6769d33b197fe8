import keras
import numpy as np
import pytest
from helpers import run_layer_test

from keras_dcgan import DBlock, GBlock
from keras_dcgan.layers import Conv2DTranspose


def test_gblock_doubles_side(tmp_path):
    # The chapter: GBlock(20) on a 16x16 input gives 32x32 with 20 channels.
    run_layer_test(
        GBlock(20),
        np.zeros((2, 16, 16, 3), "float32"),
        (2, 32, 32, 20),
        num_weights=5,  # kernel; gamma, beta, moving mean and variance
        path=tmp_path / "gblock.keras",
    )


def test_gblock_projects_1x1_to_4x4(tmp_path):
    run_layer_test(
        GBlock(20, strides=1, padding="valid"),
        np.zeros((2, 1, 1, 3), "float32"),
        (2, 4, 4, 20),
        num_weights=5,
        path=tmp_path / "gblock.keras",
    )


def test_dblock_halves_side(tmp_path):
    run_layer_test(
        DBlock(20),
        np.zeros((2, 16, 16, 3), "float32"),
        (2, 8, 8, 20),
        num_weights=5,
        path=tmp_path / "dblock.keras",
    )


def test_block_without_batch_norm_with_bias(tmp_path):
    run_layer_test(
        DBlock(6, use_batch_norm=False, use_bias=True, kernel_size=3),
        np.zeros((2, 8, 8, 3), "float32"),
        (2, 4, 4, 6),
        num_weights=2,
        path=tmp_path / "dblock.keras",
    )


def test_training_flag_switches_batch_statistics():
    block = GBlock(4)
    x = np.random.default_rng(0).normal(3.0, 2.0, (4, 4, 4, 3))
    x = x.astype("float32")
    train = keras.ops.convert_to_numpy(block(x, training=True))
    infer = keras.ops.convert_to_numpy(block(x, training=False))
    assert not np.allclose(train, infer)
    # Batch statistics normalise each channel before the ReLU: about half of
    # the activations are zero in training mode.
    assert 0.3 < np.mean(train == 0) < 0.7


def test_negative_slope():
    x = np.full((1, 4, 4, 1), -1.0, "float32")
    kw = dict(
        kernel_size=1,
        strides=1,
        use_batch_norm=False,
        kernel_initializer="ones",
    )
    leaky = keras.ops.convert_to_numpy(DBlock(1, **kw)(x))
    relu = keras.ops.convert_to_numpy(DBlock(1, negative_slope=0, **kw)(x))
    gblock = keras.ops.convert_to_numpy(GBlock(1, **kw)(x))
    np.testing.assert_allclose(leaky, -0.2, rtol=1e-6)
    np.testing.assert_array_equal(relu, 0.0)
    np.testing.assert_array_equal(gblock, 0.0)


def test_kernel_is_initialised_like_the_chapter():
    block = DBlock(64)
    block.build((None, 16, 16, 32))
    kernel = keras.ops.convert_to_numpy(block.conv.kernel)
    assert abs(kernel.mean()) < 0.002
    assert 0.019 < kernel.std() < 0.021


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "Received: filters=0"),
        ({"filters": 2.5}, "Received: filters=2.5"),
        ({"filters": 4, "kernel_size": -1}, "Received: kernel_size=-1"),
        ({"filters": 4, "padding": "full"}, "Received: padding='full'"),
        ({"filters": 4, "negative_slope": -0.1}, "negative_slope=-0.1"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DBlock(**kwargs)


def test_rank_error_comes_from_input_spec():
    with pytest.raises(ValueError, match="ndim=4"):
        GBlock(4)(np.zeros((2, 8, 8), "float32"))


@pytest.mark.parametrize(
    "kernel_size, strides, padding, size",
    [
        (4, 2, "same", 5),
        (4, 1, "valid", 1),
        (3, 2, "same", 4),
        (5, 2, "valid", 3),
    ],
)
def test_conv2d_transpose_matches_keras(kernel_size, strides, padding, size):
    args = dict(strides=strides, padding=padding, use_bias=True)
    ours = Conv2DTranspose(3, kernel_size, **args)
    stock = keras.layers.Conv2DTranspose(3, kernel_size, **args)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 2)).astype("float32")
    ours.build(x.shape)
    stock.build(x.shape)
    stock.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in ours.weights]
    )
    ours.set_weights(stock.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x)),
        keras.ops.convert_to_numpy(stock(x)),
        atol=1e-5,
    )
    if keras.backend.backend() != "jax":
        return
    import jax

    def loss(layer):
        def f(x, kernel):
            out, _ = layer.stateless_call([kernel, layer.bias.value], [], x)
            return (out**2 * np.arange(out.size).reshape(out.shape)).sum()

        return jax.grad(f, argnums=(0, 1))(x, layer.kernel.value)

    for got, want in zip(loss(ours), loss(stock)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
