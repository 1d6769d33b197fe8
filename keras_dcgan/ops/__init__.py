"""Faster Keras ops and layers, one module per backend, same numbers as Keras.

`keras_dcgan.layers` computes with `keras.ops` everywhere; on some backends
a few of its layers run one of these ops instead, chosen at each call, with
the same results to float rounding:

- `keras_dcgan.ops.jax`: convolutions that stay on XLA:CPU's fast paths
  (a transposed convolution as the linear transpose of a strided one).
- `keras_dcgan.ops.torch`: convolutions on channels-last memory without
  layout copies, and BatchNormalization as one fused kernel.
- `keras_dcgan.ops.tensorflow`: BatchNormalization as one fused kernel.

Each module imports its own framework, so only the active backend's is
loaded. How a training step differentiates and applies is elsewhere:
`keras_dcgan/trainers/` holds each backend's gradient plumbing.
"""

import keras
from keras import ops


def fast_conv(layer, inputs, transpose):
    """Runs a convolution layer on this backend's faster op, or returns None.

    PyTorch: channels-last tensors passed to oneDNN (or cuDNN) as
    `channels_last` memory, with no layout copies. JAX on CPU: convolutions
    that avoid XLA:CPU's slow transposed convolutions. Other backends and
    cases (dilation, groups, output padding, channels-first): None, and the
    layer runs Keras's own op.

    Args:
        layer: a built `keras.layers.Conv2D` or `Conv2DTranspose`.
        inputs: the layer's inputs.
        transpose: bool. Whether `layer` is a transposed convolution.

    Returns:
        The layer's outputs, or None.
    """
    backend = keras.backend.backend()
    if (
        backend not in ("torch", "jax")
        or layer.data_format != "channels_last"
        or getattr(layer, "output_padding", None) is not None
        or getattr(layer, "groups", 1) != 1
        or tuple(layer.dilation_rate) != (1, 1)
    ):
        return None
    if backend == "jax":
        import jax

        if jax.default_backend() != "cpu":
            return None  # XLA's GPU and TPU convolutions need no help.
    kernel = ops.convert_to_tensor(layer.kernel)
    strides = tuple(layer.strides)
    if backend == "torch":
        from keras_dcgan.ops import torch as torch_ops

        op = torch_ops.conv_transpose if transpose else torch_ops.conv
        outputs = op(inputs, kernel, strides, layer.padding)
        if outputs is None:
            return None
    elif transpose:
        from keras_dcgan.ops import jax as jax_ops

        output_shape = layer.compute_output_shape(inputs.shape)
        outputs = jax_ops.conv_transpose(
            inputs,
            kernel,
            (inputs.shape[0],) + tuple(output_shape[1:]),
            strides,
            layer.padding,
        )
    else:
        from keras_dcgan.ops import jax as jax_ops

        outputs = jax_ops.conv(inputs, kernel, strides, layer.padding)
    if layer.use_bias:
        outputs = ops.add(outputs, layer.bias)
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return outputs


def fused_batch_norm():
    """This backend's fused BatchNormalization ops, or None.

    Returns:
        A module with `batch_norm_train(inputs, gamma, beta, epsilon)` and
        `batch_norm_inference(inputs, gamma, beta, mean, variance,
        epsilon)` on PyTorch and TensorFlow; None on other backends.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        from keras_dcgan.ops import torch as fused
    elif backend == "tensorflow":
        from keras_dcgan.ops import tensorflow as fused
    else:
        return None
    return fused
