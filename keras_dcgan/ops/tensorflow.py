"""BatchNormalization as TensorFlow's fused kernel.

Keras builds BatchNormalization from separate moments and normalisation ops
and upcasts bfloat16 inputs to float32 first. The fused kernel
(`tf.compat.v1.nn.fused_batch_norm`, TensorFlow's public wrapper of
`FusedBatchNormV3`) computes the statistics and the normalisation (and, in
the backward pass, all three gradients) in one kernel each, reading
bfloat16 inputs as they are.
"""

import tensorflow as tf


def _fused(inputs, gamma, beta, mean, variance, epsilon, training):
    channels = inputs.shape[-1]
    if gamma is None:
        gamma = tf.ones((channels,), tf.float32)
    if beta is None:
        beta = tf.zeros((channels,), tf.float32)
    return tf.compat.v1.nn.fused_batch_norm(
        inputs,
        gamma,
        beta,
        mean=mean,
        variance=variance,
        epsilon=epsilon,
        data_format="NHWC",
        is_training=training,
    )


def batch_norm_train(inputs, gamma, beta, epsilon):
    """Normalises `(N, H, W, C)` inputs with their batch statistics.

    Returns the outputs and the batch's mean and (biased) variance, float32.
    """
    outputs, mean, variance = _fused(
        inputs, gamma, beta, None, None, epsilon, True
    )
    # In training the kernel returns the unbiased (Bessel-corrected)
    # variance; Keras's moving variance averages the biased one.
    count = tf.cast(tf.size(inputs) // inputs.shape[-1], tf.float32)
    variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
    return outputs, tf.stop_gradient(mean), tf.stop_gradient(variance)


def batch_norm_inference(inputs, gamma, beta, mean, variance, epsilon):
    """Normalises `(N, H, W, C)` inputs with given statistics."""
    return _fused(inputs, gamma, beta, mean, variance, epsilon, False)[0]
