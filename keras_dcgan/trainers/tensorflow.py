"""TensorFlow plumbing: a `GradientTape` per player."""

import contextlib

import tensorflow as tf


class GANTrainer:
    def train_step(self, data):
        return self._gan_train_step(data)

    def test_step(self, data):
        return self._gan_test_step(data)

    def _minimize(self, optimizer, variables, objective):
        with tf.GradientTape() as tape:
            loss, aux = objective()
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply(gradients, variables)
        return loss, aux

    def _no_grad(self):
        return contextlib.nullcontext()
