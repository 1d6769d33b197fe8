"""A transposed convolution for JAX whose gradient stays on fast paths.

On XLA:CPU the kernel gradient of `jax.lax.conv_transpose` takes a very slow
path (about 8x slower for the chapter's generator). A transposed convolution
is the linear transpose of a plain strided convolution `y -> conv(y, k)`, so
its gradients are that convolution's own: the input gradient is
`conv(dy, k)` and the kernel gradient is the convolution's kernel gradient
with input `dy` and cotangent `x`. Both run as ordinary strided convolutions.
"""

import functools

import jax
from keras import ops


def _conv(y, kernel, strides, padding):
    # A transposed-convolution kernel (h, w, filters, in) is, read as a plain
    # convolution kernel (h, w, in=filters, out=in), the kernel of the
    # convolution it transposes.
    return ops.conv(y, kernel, strides=strides, padding=padding)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose(x, kernel, output_shape, strides, padding):
    """Channels-last transposed convolution with `output_shape` (a tuple)."""
    return _transpose(x, kernel, output_shape, strides, padding)


def _transpose(x, kernel, output_shape, strides, padding):
    spec = jax.ShapeDtypeStruct(output_shape, x.dtype)
    (y,) = jax.linear_transpose(
        lambda y: _conv(y, kernel, strides, padding), spec
    )(x)
    return y


def _forward(x, kernel, output_shape, strides, padding):
    return _transpose(x, kernel, output_shape, strides, padding), (x, kernel)


def _backward(output_shape, strides, padding, residuals, dy):
    x, kernel = residuals
    dx = _conv(dy, kernel, strides, padding)
    _, kernel_vjp = jax.vjp(lambda k: _conv(dy, k, strides, padding), kernel)
    (dkernel,) = kernel_vjp(x.astype(dx.dtype))
    return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


conv_transpose.defvjp(_forward, _backward)
