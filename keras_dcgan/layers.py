"""The chapter's two building blocks: `GBlock` and `DBlock`."""

import keras
from keras import ops

from keras_dcgan import ops as fast_ops
from keras_dcgan import validation


def dcgan_normal():
    """The chapter's weight initialiser: N(0, 0.02)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_dcgan")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D`, faster on JAX and PyTorch.

    Identical in arguments and results. For channels-last inputs without
    dilation or groups: on JAX on CPU its input gradient runs as a fast
    transposed convolution (see `keras_dcgan.ops.jax`); on PyTorch the
    inputs reach oneDNN without the two layout copies Keras makes (see
    `keras_dcgan.ops.torch`). Otherwise it is Keras's layer.
    """

    def call(self, inputs):
        outputs = fast_ops.fast_conv(self, inputs, transpose=False)
        return super().call(inputs) if outputs is None else outputs


@keras.saving.register_keras_serializable(package="keras_dcgan")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose`, faster on JAX and PyTorch.

    Identical in arguments and results. For channels-last inputs without
    dilation or output padding: on JAX on CPU it avoids XLA:CPU's slow
    transposed convolutions (see `keras_dcgan.ops.jax`); on PyTorch it
    runs without layout copies (see `keras_dcgan.ops.torch`). Otherwise
    it is Keras's layer.
    """

    def call(self, inputs):
        outputs = fast_ops.fast_conv(self, inputs, transpose=True)
        return super().call(inputs) if outputs is None else outputs


@keras.saving.register_keras_serializable(package="keras_dcgan")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`, fused on PyTorch and TensorFlow.

    Identical in arguments, variables and results (up to float rounding).
    For 4D channels-last inputs without a mask, renorm or synchronisation,
    it runs as one fused op: PyTorch's `native_batch_norm` (see
    `keras_dcgan.ops.torch`) or TensorFlow's fused kernel (see
    `keras_dcgan.ops.tensorflow`), which also keep bfloat16 inputs in
    bfloat16 instead of upcasting them. Other cases use Keras's ops.
    """

    def call(self, inputs, training=None, mask=None):
        fused = fast_ops.fused_batch_norm()
        if (
            fused is None
            or mask is not None
            or self.renorm
            or self.synchronized
            or len(inputs.shape) != 4
            or self.axis not in (-1, 3)
        ):
            return super().call(inputs, training=training, mask=mask)
        gamma = ops.convert_to_tensor(self.gamma) if self.scale else None
        beta = ops.convert_to_tensor(self.beta) if self.center else None
        if training and self.trainable:
            outputs, mean, variance = fused.batch_norm_train(
                inputs, gamma, beta, self.epsilon
            )
            for moving, batch in (
                (self.moving_mean, mean),
                (self.moving_variance, variance),
            ):
                moving.assign(
                    moving * self.momentum + batch * (1.0 - self.momentum)
                )
        else:
            outputs = fused.batch_norm_inference(
                inputs,
                gamma,
                beta,
                ops.convert_to_tensor(self.moving_mean),
                ops.convert_to_tensor(self.moving_variance),
                self.epsilon,
            )
        return ops.cast(outputs, self.compute_dtype)


UPSAMPLING = ("transpose", "nearest")


def upsample_nearest(images, factor):
    """Repeats each pixel `factor` times along the height and the width."""
    images = ops.repeat(images, factor, axis=1)
    return ops.repeat(images, factor, axis=2)


class _ConvBlock(keras.layers.Layer):
    """Convolution -> optional BatchNormalization -> (leaky) ReLU."""

    conv_class = None
    default_negative_slope = 0.0

    def __init__(
        self,
        filters,
        kernel_size=4,
        strides=2,
        padding="same",
        use_bias=False,
        use_batch_norm=True,
        negative_slope=None,
        momentum=0.9,
        epsilon=1e-5,
        kernel_initializer=None,
        gamma_initializer="ones",
        synchronized=False,
        num_classes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if negative_slope is None:
            negative_slope = self.default_negative_slope
        self.filters = validation.positive_int("filters", filters)
        self.kernel_size = validation.positive_int("kernel_size", kernel_size)
        self.strides = validation.positive_int("strides", strides)
        self.padding = validation.one_of(
            "padding", str(padding).lower(), ("same", "valid")
        )
        self.use_bias = bool(use_bias)
        self.use_batch_norm = bool(use_batch_norm)
        self.negative_slope = float(negative_slope)
        if not 0.0 <= self.negative_slope <= 1.0:
            raise ValueError(
                "`negative_slope` must be between 0 and 1. "
                f"Received: negative_slope={negative_slope}"
            )
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or dcgan_normal()
        )
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.synchronized = bool(synchronized)
        self.num_classes = num_classes
        if num_classes is not None:
            self.num_classes = validation.positive_int(
                "num_classes", num_classes
            )
            if not self.use_batch_norm:
                raise ValueError(
                    "A class-conditional block (`num_classes`) needs "
                    "`use_batch_norm=True`: the class sets BatchNormalization's"
                    f" scale and offset. Received: num_classes={num_classes}, "
                    f"use_batch_norm={use_batch_norm}"
                )

        self.conv = self._make_conv()
        self.batch_norm = None
        if self.use_batch_norm:
            # A class-conditional block takes its scale and offset from the
            # class embeddings below instead.
            self.batch_norm = BatchNormalization(
                momentum=self.momentum,
                epsilon=self.epsilon,
                center=self.num_classes is None,
                scale=self.num_classes is None,
                gamma_initializer=self.gamma_initializer,
                synchronized=self.synchronized,
                dtype=self.dtype_policy,
                name="batch_norm",
            )
        self.class_scale = self.class_offset = None
        if self.num_classes is not None:
            self.class_scale, self.class_offset = (
                keras.layers.Embedding(
                    self.num_classes,
                    self.filters,
                    embeddings_initializer=initializer,
                    dtype=self.dtype_policy,
                    name=name,
                )
                for name, initializer in (
                    ("class_scale", self.gamma_initializer),
                    ("class_offset", "zeros"),
                )
            )
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _make_conv(self):
        return self.conv_class(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="conv",
        )

    def _resize(self, inputs):
        """What the convolution sees: the inputs, unless a block resizes."""
        return inputs

    def _resized_shape(self, input_shape):
        return tuple(input_shape)

    def build(self, input_shape):
        input_shape = self._resized_shape(input_shape)
        self.conv.build(input_shape)
        if self.batch_norm is not None:
            self.batch_norm.build(self.conv.compute_output_shape(input_shape))
        if self.num_classes is not None:
            self.class_scale.build((None,))
            self.class_offset.build((None,))
        self.built = True

    def call(self, inputs, labels=None, training=None):
        if (labels is None) != (self.num_classes is None):
            raise ValueError(
                "A block takes `labels` exactly when it has `num_classes`. "
                f"Received: labels={'None' if labels is None else 'a tensor'} "
                f"for a block with num_classes={self.num_classes}"
            )
        x = self.conv(self._resize(inputs))
        if self.batch_norm is not None:
            x = self.batch_norm(x, training=training)
        if labels is not None:
            # Class-conditional BatchNormalization (de Vries et al. 2017;
            # Miyato and Koyama 2018): a scale and offset per class.
            labels = ops.cast(labels, "int32")
            x = x * self.class_scale(labels)[:, None, None, :]
            x = x + self.class_offset(labels)[:, None, None, :]
        if self.negative_slope == 0.0:
            return ops.relu(x)
        return ops.leaky_relu(x, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        return tuple(
            self.conv.compute_output_shape(self._resized_shape(input_shape))
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "use_batch_norm": self.use_batch_norm,
                "negative_slope": self.negative_slope,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "gamma_initializer": keras.initializers.serialize(
                    self.gamma_initializer
                ),
                "synchronized": self.synchronized,
                "num_classes": self.num_classes,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_dcgan")
class GBlock(_ConvBlock):
    """The generator's block: Conv2DTranspose -> BatchNorm -> ReLU.

    With the defaults (kernel 4, stride 2, `"same"` padding) the block
    doubles the height and width of its input, as in the chapter. With
    `strides=1, padding="valid"` it turns a 1x1 input into 4x4, which is how
    the generator's first block projects the latent vector.

    With `upsampling="nearest"` the block instead repeats each pixel
    `strides` times in each direction and applies a stride-1 `Conv2D`:
    the remedy of Odena, Dumoulin and Olah ("Deconvolution and Checkerboard
    Artifacts", Distill 2016) for the checkerboard pattern that a stride-2
    transposed convolution whose kernel the stride does not divide evenly
    draws.

    Args:
        filters: int. Number of output channels.
        kernel_size: int. Side of the square kernel. Defaults to `4`.
        strides: int. Upsampling factor. Defaults to `2`.
        padding: `"same"` or `"valid"`. Defaults to `"same"`.
        use_bias: bool. Whether the convolution has a bias. Defaults to
            `False` (BatchNormalization makes it redundant).
        use_batch_norm: bool. Whether to normalise. Defaults to `True`.
        negative_slope: float in [0, 1]. Slope of the activation for
            negative inputs; `0` is ReLU. Defaults to `0`.
        momentum: float. BatchNormalization momentum. Defaults to `0.9`,
            the chapter's (MXNet's and PyTorch's) value.
        epsilon: float. BatchNormalization epsilon. Defaults to `1e-5`.
        kernel_initializer: initializer for the kernel. Defaults to the
            chapter's N(0, 0.02).
        gamma_initializer: initializer for BatchNormalization's scale.
            Defaults to `"ones"`.
        synchronized: bool. Whether BatchNormalization uses the statistics
            of the global batch across the replicas of a `tf.distribute`
            strategy (TensorFlow only). Defaults to `False`.
        num_classes: int or None. Makes the block class-conditional:
            BatchNormalization's scale and offset become learned per class
            (conditional BatchNorm, de Vries et al., "Modulating early visual
            processing by language", 2017), chosen by the `labels` call
            argument. Defaults to `None`.
        upsampling: `"transpose"` (the chapter's transposed convolution) or
            `"nearest"` (nearest-neighbour upsampling, then a convolution;
            needs `padding="same"`). Defaults to `"transpose"`.
        **kwargs: standard layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: a `(batch, height, width, channels)` tensor.
        labels: int tensor `(batch,)` of classes in `[0, num_classes)`;
            required by a block with `num_classes`, refused otherwise.
        training: bool. Whether BatchNormalization uses batch statistics.

    Example:

    >>> block = keras_dcgan.GBlock(20)
    >>> block(np.zeros((2, 16, 16, 3))).shape
    (2, 32, 32, 20)
    """

    conv_class = Conv2DTranspose
    default_negative_slope = 0.0

    def __init__(self, filters, *args, upsampling="transpose", **kwargs):
        self.upsampling = validation.one_of(
            "upsampling", upsampling, UPSAMPLING
        )
        super().__init__(filters, *args, **kwargs)
        if self.upsampling == "nearest" and self.padding != "same":
            raise ValueError(
                '`upsampling="nearest"` needs `padding="same"`. '
                f"Received: padding={self.padding!r}"
            )

    def _make_conv(self):
        if self.upsampling == "transpose":
            return super()._make_conv()
        return Conv2D(
            self.filters,
            self.kernel_size,
            padding="same",
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="conv",
        )

    def _resize(self, inputs):
        if self.upsampling == "transpose" or self.strides == 1:
            return inputs
        return upsample_nearest(inputs, self.strides)

    def _resized_shape(self, input_shape):
        batch, height, width, channels = input_shape
        if self.upsampling == "transpose":
            return tuple(input_shape)
        grow = lambda side: None if side is None else side * self.strides  # noqa: E731
        return (batch, grow(height), grow(width), channels)

    def get_config(self):
        config = super().get_config()
        config["upsampling"] = self.upsampling
        return config


@keras.saving.register_keras_serializable(package="keras_dcgan")
class DBlock(_ConvBlock):
    """The discriminator's block: Conv2D -> BatchNorm -> LeakyReLU(0.2).

    With the defaults (kernel 4, stride 2, `"same"` padding) the block
    halves the height and width of its input, as in the chapter. Set
    `negative_slope=0` for a plain ReLU (the chapter's first exercise).

    Args:
        filters: int. Number of output channels.
        kernel_size: int. Side of the square kernel. Defaults to `4`.
        strides: int. Downsampling factor. Defaults to `2`.
        padding: `"same"` or `"valid"`. Defaults to `"same"`.
        use_bias: bool. Whether the convolution has a bias. Defaults to
            `False`.
        use_batch_norm: bool. Whether to normalise. Defaults to `True`.
        negative_slope: float in [0, 1]. LeakyReLU slope; `0` is ReLU.
            Defaults to `0.2`.
        momentum: float. BatchNormalization momentum. Defaults to `0.9`.
        epsilon: float. BatchNormalization epsilon. Defaults to `1e-5`.
        kernel_initializer: initializer for the kernel. Defaults to the
            chapter's N(0, 0.02).
        gamma_initializer: initializer for BatchNormalization's scale.
            Defaults to `"ones"`.
        synchronized: bool. Whether BatchNormalization uses the statistics
            of the global batch across the replicas of a `tf.distribute`
            strategy (TensorFlow only). Defaults to `False`.
        num_classes: int or None. Makes the block class-conditional:
            BatchNormalization's scale and offset become learned per class
            (conditional BatchNorm, de Vries et al., "Modulating early visual
            processing by language", 2017), chosen by the `labels` call
            argument. Defaults to `None`.
        **kwargs: standard layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: a `(batch, height, width, channels)` tensor.
        labels: int tensor `(batch,)` of classes in `[0, num_classes)`;
            required by a block with `num_classes`, refused otherwise.
        training: bool. Whether BatchNormalization uses batch statistics.

    Example:

    >>> block = keras_dcgan.DBlock(20)
    >>> block(np.zeros((2, 16, 16, 3))).shape
    (2, 8, 8, 20)
    """

    conv_class = Conv2D
    default_negative_slope = 0.2
