"""Convolutions for JAX that stay on XLA:CPU's fast paths.

A transposed convolution as XLA computes it (a convolution of the input
dilated with zeros) is slow on CPU: its kernel gradient about 8x slower than
a plain convolution for the chapter's generator, its forward pass 2-4x. Here
the gradients are those of the plain strided convolution `y -> conv(y, k)`
it transposes: the input gradient is `conv(dy, k)` and the kernel gradient
is that convolution's kernel gradient with input `dy` and cotangent `x`.
The forward pass of the chapter's 4x4, stride-2 `"same"` case runs as four
2x2 stride-1 convolutions, one for each output pixel phase, interleaved
(1.4-1.9x faster for its blocks).
"""

import functools
import os
import warnings

import jax
import jax.numpy as jnp
from keras import ops

# jaxlib 0.10's XLA:CPU hands every float32 2D convolution to YNNPACK, whose
# kernels run the chapter's convolutions about 2x slower than XLA's own
# (Eigen) on an AVX-512 CPU; this flag keeps convolutions off YNNPACK and
# leaves its matrix products alone. CPU only; GPUs ignore it.
YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
FAST_CPU_CONVOLUTIONS = f"{YNN_FLAG}=-individual_convolution"
_FIRST_JAXLIB_WITH_FLAG = (0, 10)
_suggested = False


def prefer_fast_cpu_convolutions():
    """Opts in to XLA:CPU's faster convolutions for this process.

    Adds `FAST_CPU_CONVOLUTIONS` (an experimental XLA flag) to the
    `XLA_FLAGS` environment variable, which XLA reads when JAX starts its
    first backend: call it before any JAX computation runs. On jaxlib 0.10
    and later it keeps the chapter's convolutions off YNNPACK, about 2x
    faster on an AVX-512 CPU. Nothing happens when the installed jaxlib
    does not know the flag, or when `XLA_FLAGS` sets YNNPACK's fusions
    already (a user's own setting stands). GPUs ignore the flag.

    Importing `keras_dcgan` never sets it: this function is the opt-in.

    Returns:
        bool. Whether the flag is now set.

    Example:

    ```python
    import os
    os.environ["KERAS_BACKEND"] = "jax"
    from keras_dcgan.ops import jax as fast_jax
    fast_jax.prefer_fast_cpu_convolutions()  # Before any JAX computation.
    import keras_dcgan
    ```
    """
    import jaxlib

    version = tuple(int(part) for part in jaxlib.__version__.split(".")[:2])
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_FLAG in flags:
        return FAST_CPU_CONVOLUTIONS in flags
    if version < _FIRST_JAXLIB_WITH_FLAG:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {FAST_CPU_CONVOLUTIONS}".strip()
    return True


def suggest_fast_cpu_convolutions():
    """Says once, in one line, how to opt in, when JAX runs on a CPU that
    would take the faster convolutions and `XLA_FLAGS` does not choose."""
    global _suggested
    import jaxlib

    version = tuple(int(part) for part in jaxlib.__version__.split(".")[:2])
    if (
        _suggested
        or version < _FIRST_JAXLIB_WITH_FLAG
        or YNN_FLAG in os.environ.get("XLA_FLAGS", "")
        or jax.default_backend() != "cpu"
    ):
        return
    _suggested = True
    warnings.warn(
        "JAX runs the convolutions on XLA:CPU's YNNPACK, about 2x slower "
        "for a DCGAN; call "
        "keras_dcgan.ops.jax.prefer_fast_cpu_convolutions() before any "
        f"JAX computation (the keras-dcgan command does), or set "
        f"XLA_FLAGS={FAST_CPU_CONVOLUTIONS}.",
        stacklevel=3,
    )


def _conv(y, kernel, strides, padding):
    # A transposed-convolution kernel (h, w, filters, in) is, read as a plain
    # convolution kernel (h, w, in=filters, out=in), the kernel of the
    # convolution it transposes.
    return ops.conv(y, kernel, strides=strides, padding=padding)


def _conv_kernel_gradient(x, kernel, strides, padding, dy):
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, strides, padding), kernel)
    (dkernel,) = kernel_vjp(dy.astype(x.dtype))
    return dkernel.astype(kernel.dtype)


def _transpose(x, kernel, output_shape, strides, padding):
    if (
        kernel.shape[:2] == (4, 4)
        and kernel.shape[2] >= _MIN_PHASE_FILTERS
        and strides == (2, 2)
        and padding == "same"
        # An odd side of the convolution's input pads it asymmetrically.
        and tuple(output_shape[1:3]) == (2 * x.shape[1], 2 * x.shape[2])
    ):
        return _transpose_by_phases(x, kernel)
    spec = jax.ShapeDtypeStruct(output_shape, x.dtype)
    (y,) = jax.linear_transpose(
        lambda y: _conv(y, kernel, strides, padding), spec
    )(x)
    return y


# Output row 2m + r of the 4x4, stride-2 "same" transposed convolution is
# x[m - 1] * k[3] + x[m] * k[1] (r = 0) or x[m] * k[2] + x[m + 1] * k[0]
# (r = 1): with x padded by one, a 2x2 convolution starting at row r, with
# these kernel rows; the same holds for columns.
_PHASE_TAPS = ((3, 1), (2, 0))
# Below this many filters, four small convolutions are slower than XLA's one
# (the chapter's last layer, 3 filters: 144 against 34 ms at batch 256).
_MIN_PHASE_FILTERS = 16


def _transpose_by_phases(x, kernel):
    batch, height, width, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # (h, w, filters, in) -> HWIO kernels (h, w, in, filters).
    kernel = jnp.swapaxes(kernel, 2, 3)
    rows = []
    for r, row_taps in enumerate(_PHASE_TAPS):
        phases = []
        for c, col_taps in enumerate(_PHASE_TAPS):
            phases.append(
                jax.lax.conv_general_dilated(
                    padded[:, r : r + height + 1, c : c + width + 1],
                    kernel[jnp.array(row_taps)][:, jnp.array(col_taps)],
                    (1, 1),
                    "VALID",
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                )
            )
        rows.append(jnp.stack(phases, axis=3))
    # (batch, height, 2, width, 2, filters) -> (batch, 2 height, 2 width, ...)
    y = jnp.stack(rows, axis=2)
    return y.reshape(batch, 2 * height, 2 * width, y.shape[-1])


# A convolution and its transpose: each one's input gradient is the other.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x, kernel, strides, padding):
    """Channels-last strided convolution (a Keras kernel, no dilation)."""
    return _conv(x, kernel, strides, padding)


def _conv_forward(x, kernel, strides, padding):
    return _conv(x, kernel, strides, padding), (x, kernel)


def _conv_backward(strides, padding, residuals, dy):
    x, kernel = residuals
    dx = _transpose(dy, kernel, x.shape, strides, padding)
    dkernel = _conv_kernel_gradient(x, kernel, strides, padding, dy)
    return dx.astype(x.dtype), dkernel


conv.defvjp(_conv_forward, _conv_backward)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_transpose(x, kernel, output_shape, strides, padding):
    """Channels-last transposed convolution with `output_shape` (a tuple)."""
    return _transpose(x, kernel, output_shape, strides, padding)


def _transpose_forward(x, kernel, output_shape, strides, padding):
    return _transpose(x, kernel, output_shape, strides, padding), (x, kernel)


def _transpose_backward(output_shape, strides, padding, residuals, dy):
    x, kernel = residuals
    dx = _conv(dy, kernel, strides, padding)
    dkernel = _conv_kernel_gradient(dy, kernel, strides, padding, x)
    return dx.astype(x.dtype), dkernel


conv_transpose.defvjp(_transpose_forward, _transpose_backward)
