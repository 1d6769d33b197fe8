import keras
import numpy as np
import pytest
from helpers import gradients, run_layer_test, run_python

from keras_dcgan import DBlock, GBlock
from keras_dcgan import ops as fast_ops
from keras_dcgan.layers import BatchNormalization, Conv2D, Conv2DTranspose


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


def test_class_conditional_block_scales_and_offsets_per_class():
    block = GBlock(4, kernel_size=3, num_classes=3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5, 5, 2)).astype("float32")
    labels = np.array([0, 1, 2, 2, 1, 0], "int32")
    block(x, labels)
    scale = rng.uniform(0.5, 1.5, (3, 4)).astype("float32")
    offset = rng.normal(size=(3, 4)).astype("float32")
    block.class_scale.set_weights([scale])
    block.class_offset.set_weights([offset])
    conv = keras.ops.convert_to_numpy(block.conv(x))
    mean, variance = conv.mean(axis=(0, 1, 2)), conv.var(axis=(0, 1, 2))
    normalised = (conv - mean) / np.sqrt(variance + 1e-5)
    expected = (
        normalised * scale[labels, None, None] + offset[labels, None, None]
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block(x, labels, training=True)),
        np.maximum(expected, 0.0),
        atol=1e-4,
    )
    # BatchNormalization keeps its statistics and leaves the affine part to
    # the classes.
    assert [w.path.split("/")[-1] for w in block.weights] == [
        "kernel",
        "moving_mean",
        "moving_variance",
        "embeddings",
        "embeddings",
    ]


def test_class_conditional_block_saves_and_reloads(tmp_path):
    block = DBlock(4, num_classes=3, name="block")
    restored = DBlock.from_config(block.get_config())
    assert restored.get_config() == block.get_config()
    images = keras.Input((8, 8, 2))
    labels = keras.Input((), dtype="int32")
    model = keras.Model([images, labels], block(images, labels=labels))
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 2)).astype("float32")
    y = np.array([2, 0, 1], "int32")
    block.class_offset.set_weights([np.arange(12.0).reshape(3, 4)])
    model.save(tmp_path / "block.keras")
    loaded = keras.saving.load_model(tmp_path / "block.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded([x, y])),
        keras.ops.convert_to_numpy(model([x, y])),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "num_classes, labels, message",
    [
        (3, None, "Received: labels=None for a block with num_classes=3"),
        (None, [0, 1], "Received: labels=a tensor for a block with num_cl"),
    ],
)
def test_labels_must_match_num_classes(num_classes, labels, message):
    block = GBlock(4, num_classes=num_classes)
    x = np.zeros((2, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match=message):
        block(x, None if labels is None else np.array(labels, "int32"))


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
        ({"filters": 4, "num_classes": 0}, "Received: num_classes=0"),
        (
            {"filters": 4, "num_classes": 3, "use_batch_norm": False},
            "needs `use_batch_norm=True`",
        ),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DBlock(**kwargs)


def test_rank_error_comes_from_input_spec():
    with pytest.raises(ValueError, match="ndim=4"):
        GBlock(4)(np.zeros((2, 8, 8), "float32"))


def _twins(ours, stock, input_shape, seed=0):
    """Builds both layers and gives them the same random weights."""
    rng = np.random.default_rng(seed)
    ours.build(input_shape)
    stock.build(input_shape)
    stock.set_weights(
        [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in ours.weights]
    )
    ours.set_weights(stock.get_weights())


@pytest.mark.parametrize(
    "ours_class, kernel_size, strides, padding, size, channels, filters",
    [
        (Conv2DTranspose, 4, 2, "same", 5, 2, 3),
        # 16+ filters: JAX's forward pass by output phases.
        (Conv2DTranspose, 4, 2, "same", 5, 3, 16),
        (Conv2DTranspose, 4, 1, "valid", 1, 2, 3),
        (Conv2DTranspose, 3, 2, "same", 4, 2, 3),
        (Conv2DTranspose, 5, 2, "valid", 3, 2, 3),
        (Conv2D, 4, 2, "same", 8, 2, 3),
        # 16+ input channels: JAX's input gradient by output phases, where
        # the side is even.
        (Conv2D, 4, 2, "same", 6, 16, 3),
        (Conv2D, 4, 2, "same", 7, 16, 3),
        (Conv2D, 4, 1, "valid", 4, 2, 3),
        (Conv2D, 3, 2, "same", 7, 2, 3),
        (Conv2D, 5, 2, "same", 6, 2, 3),
    ],
)
def test_convolutions_match_keras(
    ours_class, kernel_size, strides, padding, size, channels, filters
):
    args = dict(strides=strides, padding=padding, use_bias=True)
    ours = ours_class(filters, kernel_size, **args)
    stock = ours_class.__bases__[0](filters, kernel_size, **args)
    x = np.random.default_rng(1).normal(size=(2, size, size, channels))
    x = x.astype("float32")
    _twins(ours, stock, x.shape)
    got_outputs, got_grads = gradients(ours, x)
    want_outputs, want_grads = gradients(stock, x)
    np.testing.assert_allclose(got_outputs, want_outputs, rtol=1e-5, atol=1e-4)
    for got, want in zip(got_grads, want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("center, scale", [(True, True), (False, False)])
def test_batch_normalization_matches_keras(dtype, center, scale):
    args = dict(momentum=0.9, epsilon=1e-5, center=center, scale=scale)
    ours = BatchNormalization(dtype=dtype, **args)
    stock = keras.layers.BatchNormalization(dtype=dtype, **args)
    x = np.random.default_rng(2).normal(3.0, 2.0, (6, 5, 4, 3))
    x = x.astype("float32")
    _twins(ours, stock, x.shape)
    tolerance = 1e-5 if dtype == "float32" else 2e-2
    for training in (True, False):
        got_outputs, got_grads = gradients(ours, x, training=training)
        want_outputs, want_grads = gradients(stock, x, training=training)
        np.testing.assert_allclose(
            got_outputs, want_outputs, rtol=tolerance, atol=tolerance
        )
        for got, want in zip(got_grads, want_grads):
            scale_of = np.abs(want).max()
            np.testing.assert_allclose(
                got, want, rtol=tolerance, atol=tolerance * scale_of
            )
        for got, want in zip(ours.non_trainable_weights, stock.weights[-2:]):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(got),
                keras.ops.convert_to_numpy(want),
                rtol=1e-5,
            )


@pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="XLA fuses BatchNormalization"
)
def test_batch_normalization_runs_fused(monkeypatch):
    fused = fast_ops.fused_batch_norm()
    calls = []
    for name in ("batch_norm_train", "batch_norm_inference"):

        def spy(*args, _name=name, _op=getattr(fused, name), **kwargs):
            calls.append(_name)
            return _op(*args, **kwargs)

        monkeypatch.setattr(fused, name, spy)
    block = DBlock(4)
    x = np.ones((2, 8, 8, 3), "float32")
    block(x, training=True)
    block(x, training=False)
    assert calls == ["batch_norm_train", "batch_norm_inference"]
    keras.layers.BatchNormalization()(x, training=True)
    assert len(calls) == 2  # Keras's own layer keeps its own path.


# XLA's default: YNNPACK convolutions, chosen explicitly by a user.
YNNPACK_CONVOLUTIONS = (
    "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution"
)


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="XLA:CPU's convolutions"
)
@pytest.mark.parametrize(
    "user_flags, opt_in, on_ynnpack",
    [
        ("", False, True),  # Importing keras_dcgan changes nothing.
        ("", True, False),
        (YNNPACK_CONVOLUTIONS, True, True),  # The user's own setting stands.
    ],
)
def test_jax_convolutions_leave_ynnpack_on_opt_in(
    monkeypatch, user_flags, opt_in, on_ynnpack
):
    import jaxlib

    if tuple(map(int, jaxlib.__version__.split(".")[:2])) < (0, 10):
        pytest.skip("jaxlib before 0.10 has no YNNPACK convolutions")
    monkeypatch.setenv("XLA_FLAGS", user_flags)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    code = f"""
import jax
import jax.numpy as jnp
import keras_dcgan
from keras_dcgan.ops import jax as fast_jax
if {opt_in}:
    fast_jax.prefer_fast_cpu_convolutions()

def conv(x, k):
    return jax.lax.conv_general_dilated(
        x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )

x, k = jnp.zeros((2, 8, 8, 32)), jnp.zeros((4, 4, 32, 32))
print("__ynn_fusion" in jax.jit(conv).lower(x, k).compile().as_text())
"""
    assert run_python(code).split()[-1] == str(on_ynnpack)
