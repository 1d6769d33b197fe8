import keras
import numpy as np
import pytest
from helpers import dtype_policy

from keras_dcgan import build_discriminator, build_generator


def conv_params(c_in, c_out, k=4):
    return c_in * c_out * k * k


def test_chapter_generator_shape_and_parameter_count():
    generator = build_generator()
    images = generator(np.zeros((1, 1, 1, 100), "float32"))
    assert tuple(images.shape) == (1, 64, 64, 3)
    # Hand count: 100 -> 512 -> 256 -> 128 -> 64 -> 3 transposed convolutions
    # without bias, and four BatchNorms (gamma, beta trainable; mean,
    # variance not).
    kernels = sum(
        conv_params(a, b)
        for a, b in [(100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    )
    norm = 512 + 256 + 128 + 64
    trainable = sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    assert trainable == kernels + 2 * norm == 3_576_704
    assert generator.count_params() == kernels + 4 * norm


def test_chapter_discriminator_shape_and_parameter_count():
    discriminator = build_discriminator()
    logits = discriminator(np.zeros((1, 64, 64, 3), "float32"))
    assert tuple(logits.shape) == (1, 1, 1, 1)
    kernels = sum(
        conv_params(a, b)
        for a, b in [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    )
    norm = 64 + 128 + 256 + 512
    trainable = sum(
        int(np.prod(w.shape)) for w in discriminator.trainable_weights
    )
    assert trainable == kernels + 2 * norm == 2_765_696
    assert discriminator.count_params() == kernels + 4 * norm


def test_paper_discriminator_drops_first_batch_norm():
    with_norm = build_discriminator((16, 16, 3), filters=4)
    without = build_discriminator(
        (16, 16, 3), filters=4, first_block_batch_norm=False
    )
    assert with_norm.count_params() - without.count_params() == 4 * 4


@pytest.mark.parametrize("size", [8, 16, 32, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_other_sizes_and_channels(size, channels):
    generator = build_generator(5, (size, size, channels), filters=2)
    discriminator = build_discriminator((size, size, channels), filters=2)
    images = generator(np.zeros((2, 1, 1, 5), "float32"))
    assert tuple(images.shape) == (2, size, size, channels)
    assert tuple(discriminator(images).shape) == (2, 1, 1, 1)


def test_conv_kernels_are_normal_002():
    generator = build_generator()
    kernel = keras.ops.convert_to_numpy(
        generator.get_layer("block_1").conv.kernel
    )
    assert 0.0195 < kernel.std() < 0.0205


def test_output_and_logit_are_float32_under_mixed_precision():
    with dtype_policy("mixed_bfloat16"):
        generator = build_generator(4, (8, 8, 3), filters=2)
        discriminator = build_discriminator((8, 8, 3), filters=2)
    assert generator.get_layer("block_0").compute_dtype == "bfloat16"
    images = generator(np.zeros((2, 1, 1, 4), "float32"))
    assert keras.backend.standardize_dtype(images.dtype) == "float32"
    logits = discriminator(images)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


@pytest.mark.parametrize(
    "image_shape", [(48, 48, 3), (64, 32, 3), (4, 4, 3), (64, 64, 0), (64, 64)]
)
def test_unsupported_image_shape(image_shape):
    match = r"`image_shape` must be .* Received: image_shape="
    with pytest.raises(ValueError, match=match):
        build_generator(image_shape=image_shape)
    with pytest.raises(ValueError, match=match):
        build_discriminator(image_shape=image_shape)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "Received: latent_dim=0"),
        ({"latent_dim": -3}, "Received: latent_dim=-3"),
        ({"filters": 0}, "Received: filters=0"),
    ],
)
def test_invalid_generator_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_generator(**kwargs)


def interior_spread(block, channels=3):
    """The spread over pixels of a block's output for a constant input, away
    from the borders: 0 when the block draws no pattern of its own."""
    out = keras.ops.convert_to_numpy(block(np.ones((1, 8, 8, channels))))
    return out[0, 4:-4, 4:-4].std(axis=(0, 1)).max()


def test_nearest_upsampling_draws_no_checkerboard():
    from keras_dcgan import GBlock

    linear = dict(use_batch_norm=False, negative_slope=1.0)
    keras.utils.set_random_seed(0)
    transpose = GBlock(4, **linear)
    nearest = GBlock(4, 3, upsampling="nearest", **linear)
    assert interior_spread(transpose) > 1e-3
    assert interior_spread(nearest) < 1e-6
    out = nearest(np.zeros((2, 8, 8, 3)))
    assert tuple(out.shape) == (2, 16, 16, 4)
    assert nearest.compute_output_shape((2, 8, 8, 3)) == (2, 16, 16, 4)
    restored = GBlock.from_config(nearest.get_config())
    assert restored.upsampling == "nearest"


def test_nearest_upsampling_generator_and_errors():
    from keras_dcgan import GBlock, recipes

    generator = build_generator(8, (16, 16, 3), filters=4, upsampling="nearest")
    images = generator(np.zeros((2, 1, 1, 8), "float32"))
    assert tuple(images.shape) == (2, 16, 16, 3)
    names = [layer.name for layer in generator.layers]
    assert "upsample" in names
    assert generator.get_layer("block_1").upsampling == "nearest"
    model = recipes.get_recipe(
        "d2l", image_size=16, filters=4, latent_dim=8, upsampling="nearest"
    ).build(seed=0)
    assert model.generator.get_layer("block_1").upsampling == "nearest"
    with pytest.raises(ValueError, match="`upsampling` must be one of"):
        build_generator(upsampling="bilinear")
    with pytest.raises(ValueError, match='needs `padding="same"`'):
        GBlock(4, strides=1, padding="valid", upsampling="nearest")
