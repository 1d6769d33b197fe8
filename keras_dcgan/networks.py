"""The chapter's generator and discriminator, sized by their arguments."""

import math

import keras

from keras_dcgan import validation
from keras_dcgan.layers import (
    UPSAMPLING,
    Conv2D,
    Conv2DTranspose,
    DBlock,
    GBlock,
    dcgan_normal,
)

MIN_IMAGE_SIZE = 8
LABEL_INPUTS = ("projection", "channels")


def _validate_image_shape(image_shape):
    """Returns `(size, channels)` for a square power-of-two image shape."""
    try:
        height, width, channels = (int(d) for d in image_shape)
    except (TypeError, ValueError):
        raise ValueError(
            "`image_shape` must be a tuple `(height, width, channels)`. "
            f"Received: image_shape={image_shape!r}"
        ) from None
    if (
        height != width
        or height < MIN_IMAGE_SIZE
        or height & (height - 1)
        or channels <= 0
    ):
        raise ValueError(
            "`image_shape` must be square with a power-of-two side of at "
            f"least {MIN_IMAGE_SIZE} and a positive number of channels, such "
            f"as (64, 64, 3). Received: image_shape={tuple(image_shape)}"
        )
    return height, channels


def _num_upsampling_blocks(size):
    """Number of stride-2 blocks between the 4x4 stem and the last layer."""
    return int(math.log2(size)) - 3


def build_generator(
    latent_dim=100,
    image_shape=(64, 64, 3),
    filters=64,
    use_batch_norm=True,
    momentum=0.9,
    epsilon=1e-5,
    kernel_initializer=None,
    gamma_initializer="ones",
    synchronized_batch_norm=False,
    num_classes=None,
    conditional_batch_norm=False,
    upsampling="transpose",
    name="generator",
):
    """Builds the chapter's DCGAN generator as a functional `keras.Model`.

    The latent vector, shaped `(1, 1, latent_dim)`, is projected to a 4x4
    map with `filters * 2**k` channels by a `GBlock(strides=1,
    padding="valid")`; `k` more `GBlock`s double the side and halve the
    channels down to `filters`; a last `Conv2DTranspose` with a tanh makes
    the image. At the defaults this is exactly the chapter's network:
    512 -> 256 -> 128 -> 64 channels at 4, 8, 16 and 32 pixels, then a
    64x64x3 image. The output is float32 even under a mixed precision
    policy.

    Args:
        latent_dim: int. Size of the noise vector. Defaults to `100`.
        image_shape: tuple `(size, size, channels)` with `size` a power of
            two of at least 8. Defaults to `(64, 64, 3)`.
        filters: int. Channels of the last `GBlock`. Defaults to `64`.
        use_batch_norm: bool. Whether the blocks normalise. Defaults to
            `True`.
        momentum: float. BatchNormalization momentum. Defaults to `0.9`.
        epsilon: float. BatchNormalization epsilon. Defaults to `1e-5`.
        kernel_initializer: initializer of every kernel. Defaults to
            N(0, 0.02).
        gamma_initializer: initializer of BatchNormalization's scale.
            Defaults to `"ones"`.
        synchronized_batch_norm: bool. Whether BatchNormalization uses the
            global batch's statistics across `tf.distribute` replicas
            (TensorFlow only). Defaults to `False`.
        num_classes: int or None. Makes a class-conditional generator with
            a second input, the `int32` class labels `(batch,)`: a learned
            embedding of the label, `latent_dim` values drawn like the
            noise from N(0, 1), is concatenated to the noise (Mirza and
            Osindero, "Conditional Generative Adversarial Nets", 2014).
            Defaults to `None`, unconditional.
        conditional_batch_norm: bool. With `num_classes`, every `GBlock`
            also takes its BatchNormalization scale and offset from the
            label (`GBlock(..., num_classes=...)`, the generator of Miyato
            and Koyama, "cGANs with Projection Discriminator", 2018).
            Defaults to `False`: at the chapter's recipe it did not draw the
            asked classes more often (see docs/quality.md).
        upsampling: `"transpose"`, the chapter's stride-2 transposed
            convolutions, or `"nearest"`: every doubling of the side, the
            last one included, is a nearest-neighbour upsampling followed by
            a 3x3 convolution (see `GBlock`), which draws no checkerboard
            pattern. Defaults to `"transpose"`.
        name: string. The model's name.

    Returns:
        A `keras.Model` mapping `(batch, 1, 1, latent_dim)` noise (and, with
        `num_classes`, labels) to `(batch, size, size, channels)` images in
        [-1, 1].

    Example:

    >>> generator = keras_dcgan.build_generator()
    >>> generator(np.zeros((1, 1, 1, 100))).shape
    (1, 64, 64, 3)
    """
    latent_dim = validation.positive_int("latent_dim", latent_dim)
    filters = validation.positive_int("filters", filters)
    size, channels = _validate_image_shape(image_shape)
    num_blocks = _num_upsampling_blocks(size)
    if conditional_batch_norm and num_classes is None:
        raise ValueError(
            "`conditional_batch_norm=True` needs `num_classes`. "
            f"Received: num_classes={num_classes}"
        )
    validation.one_of("upsampling", upsampling, UPSAMPLING)
    block_args = dict(
        use_batch_norm=use_batch_norm,
        momentum=momentum,
        epsilon=epsilon,
        kernel_initializer=kernel_initializer,
        gamma_initializer=gamma_initializer,
        synchronized=synchronized_batch_norm,
    )

    noise = keras.Input((1, 1, latent_dim), name="noise")
    inputs, x, labels = noise, noise, None
    if num_classes is not None:
        num_classes = validation.positive_int("num_classes", num_classes)
        labels = keras.Input((), dtype="int32", name="labels")
        code = keras.layers.Embedding(
            num_classes,
            latent_dim,
            embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0),
            name="label_embedding",
        )(labels)
        code = keras.layers.Reshape((1, 1, latent_dim))(code)
        inputs = [noise, labels]
        x = keras.layers.Concatenate(name="noise_and_label")([noise, code])
    block_inputs = {}
    if conditional_batch_norm:
        block_args["num_classes"] = num_classes
        block_inputs = {"labels": labels}
    x = GBlock(
        filters * 2**num_blocks,
        strides=1,
        padding="valid",
        name="block_0",
        **block_args,
    )(x, **block_inputs)
    # The chapter's 4x4 transposed kernels, or 3x3 after an upsampling.
    kernel_size = 4 if upsampling == "transpose" else 3
    for i in range(1, num_blocks + 1):
        x = GBlock(
            filters * 2 ** (num_blocks - i),
            kernel_size,
            upsampling=upsampling,
            name=f"block_{i}",
            **block_args,
        )(x, **block_inputs)
    to_image = dict(
        padding="same",
        use_bias=False,
        kernel_initializer=kernel_initializer or dcgan_normal(),
        name="to_image",
    )
    if upsampling == "transpose":
        x = Conv2DTranspose(channels, 4, strides=2, **to_image)(x)
    else:
        x = keras.layers.UpSampling2D(2, name="upsample")(x)
        x = Conv2D(channels, 3, **to_image)(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(
    image_shape=(64, 64, 3),
    filters=64,
    negative_slope=0.2,
    first_block_batch_norm=True,
    use_batch_norm=True,
    momentum=0.9,
    epsilon=1e-5,
    kernel_initializer=None,
    gamma_initializer="ones",
    synchronized_batch_norm=False,
    num_classes=None,
    auxiliary_classifier=False,
    label_input="projection",
    name="discriminator",
):
    """Builds the chapter's DCGAN discriminator as a functional `keras.Model`.

    The mirror of `build_generator`: `DBlock`s halve the side and double the
    channels from `filters` until the map is 4x4, then a 4x4 `"valid"`
    convolution gives one logit. At the defaults this is exactly the
    chapter's network: 64 -> 128 -> 256 -> 512 channels at 32, 16, 8 and 4
    pixels, then a `(1, 1, 1)` logit. The logit is float32 even under a mixed
    precision policy.

    Args:
        image_shape: tuple `(size, size, channels)` with `size` a power of
            two of at least 8. Defaults to `(64, 64, 3)`.
        filters: int. Channels of the first `DBlock`. Defaults to `64`.
        negative_slope: float. LeakyReLU slope; `0` gives the plain ReLU of
            the chapter's first exercise. Defaults to `0.2`.
        first_block_batch_norm: bool. Whether the first block normalises.
            The chapter does (`True`, the default); the DCGAN paper does not.
        use_batch_norm: bool. Whether the other blocks normalise. Defaults to
            `True`.
        momentum: float. BatchNormalization momentum. Defaults to `0.9`.
        epsilon: float. BatchNormalization epsilon. Defaults to `1e-5`.
        kernel_initializer: initializer of every kernel. Defaults to
            N(0, 0.02).
        gamma_initializer: initializer of BatchNormalization's scale.
            Defaults to `"ones"`.
        synchronized_batch_norm: bool. Whether BatchNormalization uses the
            global batch's statistics across `tf.distribute` replicas
            (TensorFlow only). Defaults to `False`.
        num_classes: int or None. Makes a projection discriminator (Miyato
            and Koyama, "cGANs with Projection Discriminator", ICLR 2018)
            with a second input, the `int32` class labels `(batch,)`: the
            logit gains the inner product of the last 4x4 feature map with
            a learned embedding of the label, a class-specific part of the
            final linear layer. Defaults to `None`, unconditional.
        auxiliary_classifier: bool. With `num_classes`, also classify the
            image: a second output, `(batch, num_classes)` class logits from
            a linear layer on the last 4x4 feature map, the auxiliary
            classifier of AC-GAN (Odena, Olah and Shlens, "Conditional Image
            Synthesis with Auxiliary Classifier GANs", ICML 2017), which
            `DCGAN` trains with a cross-entropy term for both players.
            Defaults to `False`: at the chapter's recipe it drew the asked
            classes 2 points more often, within the spread between runs
            (see docs/quality.md).
        label_input: how a conditional discriminator sees the label:
            `"projection"` (above) or `"channels"`, one-hot maps of the
            label concatenated to the image as extra channels (Mirza and
            Osindero, 2014), which kept far more variety within a class at
            the DCGAN paper's recipe (see docs/quality.md). Defaults to
            `"projection"`.
        name: string. The model's name.

    Returns:
        A `keras.Model` mapping `(batch, size, size, channels)` images (and,
        with `num_classes`, labels) to `(batch, 1, 1, 1)` logits (and, with
        `auxiliary_classifier`, `(batch, num_classes)` class logits).

    Example:

    >>> discriminator = keras_dcgan.build_discriminator()
    >>> discriminator(np.zeros((1, 64, 64, 3))).shape
    (1, 1, 1, 1)
    """
    filters = validation.positive_int("filters", filters)
    size, channels = _validate_image_shape(image_shape)
    if auxiliary_classifier and num_classes is None:
        raise ValueError(
            "`auxiliary_classifier=True` needs `num_classes`. "
            f"Received: num_classes={num_classes}"
        )
    validation.one_of("label_input", label_input, LABEL_INPUTS)
    num_blocks = _num_upsampling_blocks(size) + 1
    block_args = dict(
        negative_slope=negative_slope,
        momentum=momentum,
        epsilon=epsilon,
        kernel_initializer=kernel_initializer,
        gamma_initializer=gamma_initializer,
        synchronized=synchronized_batch_norm,
    )

    images = keras.Input((size, size, channels), name="images")
    x = images
    if num_classes is not None:
        num_classes = validation.positive_int("num_classes", num_classes)
        labels = keras.Input((), dtype="int32", name="labels")
    if num_classes is not None and label_input == "channels":
        one_hot = keras.layers.CategoryEncoding(
            num_classes, output_mode="one_hot", name="one_hot"
        )(labels)
        maps = keras.layers.Reshape((1, 1, num_classes))(one_hot)
        maps = keras.layers.UpSampling2D(size, name="label_maps")(maps)
        x = keras.layers.Concatenate(name="image_and_label")([x, maps])
    for i in range(num_blocks):
        x = DBlock(
            filters * 2**i,
            use_batch_norm=first_block_batch_norm if i == 0 else use_batch_norm,
            name=f"block_{i}",
            **block_args,
        )(x)
    outputs = Conv2D(
        1,
        4,
        padding="valid",
        use_bias=False,
        kernel_initializer=kernel_initializer or dcgan_normal(),
        dtype="float32",
        name="to_logit",
    )(x)
    if num_classes is None:
        return keras.Model(images, outputs, name=name)
    if label_input == "projection" or auxiliary_classifier:
        features = keras.layers.Flatten(name="features")(x)
    if label_input == "projection":
        embedding = keras.layers.Embedding(
            num_classes,
            features.shape[-1],
            embeddings_initializer=kernel_initializer or dcgan_normal(),
            dtype="float32",
            name="label_projection",
        )(labels)
        projection = keras.layers.Dot(
            axes=1, dtype="float32", name="projection"
        )([features, embedding])
        projection = keras.layers.Reshape((1, 1, 1), dtype="float32")(
            projection
        )
        outputs = keras.layers.Add(dtype="float32", name="logit")(
            [outputs, projection]
        )
    if auxiliary_classifier:
        class_logits = keras.layers.Dense(
            num_classes,
            kernel_initializer=kernel_initializer or dcgan_normal(),
            dtype="float32",
            name="class_logits",
        )(features)
        outputs = [outputs, class_logits]
    return keras.Model([images, labels], outputs, name=name)
