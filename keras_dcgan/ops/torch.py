"""Convolutions and BatchNormalization for PyTorch without layout copies.

Keras's torch backend runs a channels-last convolution by copying its input
to NCHW and back to channels-last memory, and builds BatchNormalization from
about ten small ops. A channels-last `(N, H, W, C)` tensor, permuted to
`(N, C, H, W)`, is already PyTorch's `channels_last` memory format: a view,
no copy, on which oneDNN's fastest convolutions and PyTorch's fused
BatchNormalization run directly. Each function here takes and returns
channels-last tensors, or returns `None` when it does not cover a case, so
the caller falls back on Keras's op.
"""

import torch
import torch.nn.functional as F

_TO_TORCH = (0, 3, 1, 2)
_TO_KERAS = (0, 2, 3, 1)


def _kernel(kernel):
    # Keras (h, w, a, b) -> PyTorch (b, a, h, w), for both convolutions.
    return kernel.permute(3, 2, 0, 1)


def _same_padding(size, kernel_size, stride):
    """Keras's "same" padding on one side, or `None` if it is asymmetric."""
    total = max((-(-size // stride) - 1) * stride + kernel_size - size, 0)
    return None if total % 2 else total // 2


def conv(inputs, kernel, strides, padding):
    """2D convolution of `(N, H, W, C)` inputs with a Keras kernel."""
    if padding == "valid":
        pads = (0, 0)
    else:
        pads = tuple(
            _same_padding(size, k, s)
            for size, k, s in zip(inputs.shape[1:3], kernel.shape[:2], strides)
        )
        if None in pads:
            return None
    outputs = F.conv2d(
        inputs.permute(_TO_TORCH), _kernel(kernel), stride=strides, padding=pads
    )
    return outputs.permute(_TO_KERAS)


def conv_transpose(inputs, kernel, strides, padding):
    """2D transposed convolution of `(N, H, W, C)` inputs, Keras's sizes."""
    pads = []
    for k, s in zip(kernel.shape[:2], strides):
        # Keras's output side is `n * s` ("same") or `n * s + max(k - s, 0)`
        # ("valid"); PyTorch's is `(n - 1) * s + k - 2 * pad`.
        crop = k - s if padding == "same" else 0
        if k < s or crop % 2:
            return None
        pads.append(crop // 2)
    outputs = F.conv_transpose2d(
        inputs.permute(_TO_TORCH),
        _kernel(kernel),
        stride=strides,
        padding=tuple(pads),
    )
    return outputs.permute(_TO_KERAS)


def _float32_affine(inputs, gamma, beta):
    # With float32 scale and offset, PyTorch keeps bfloat16 inputs' batch
    # statistics in float32; without, it rounds them to bfloat16.
    channels = inputs.shape[-1]
    if gamma is None:
        gamma = torch.ones(channels, device=inputs.device)
    if beta is None:
        beta = torch.zeros(channels, device=inputs.device)
    return gamma, beta


def batch_norm_train(inputs, gamma, beta, epsilon):
    """Normalises `(N, H, W, C)` inputs with their batch statistics.

    Returns the outputs and the batch's mean and (biased) variance, float32.
    """
    gamma, beta = _float32_affine(inputs, gamma, beta)
    outputs, mean, inv_std = torch.ops.aten.native_batch_norm(
        inputs.permute(_TO_TORCH), gamma, beta, None, None, True, 0.0, epsilon
    )
    variance = inv_std.detach().double().pow(-2).sub(epsilon).clamp(min=0)
    return outputs.permute(_TO_KERAS), mean.detach(), variance.float()


def batch_norm_inference(inputs, gamma, beta, mean, variance, epsilon):
    """Normalises `(N, H, W, C)` inputs with given statistics."""
    gamma, beta = _float32_affine(inputs, gamma, beta)
    outputs = F.batch_norm(
        inputs.permute(_TO_TORCH),
        mean,
        variance,
        gamma,
        beta,
        False,
        0.0,
        epsilon,
    )
    return outputs.permute(_TO_KERAS)
