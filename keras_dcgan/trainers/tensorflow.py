"""TensorFlow plumbing: a `GradientTape` per player.

Under a `tf.distribute` strategy each replica scales its loss by the replica
count, so the gradients the optimizer sums across replicas are those of the
global batch's mean loss. Metrics need no gathering: each replica's mean
over an equal share of the batch is averaged by `fit()`, and the metric
variables are summed across replicas when read.

"""

import tensorflow as tf

from keras_dcgan.trainers.base import GANTrainerBase


class GANTrainer(GANTrainerBase):
    def train_step(self, data):
        return _reducible(self._gan_train_step(data))

    def test_step(self, data):
        return _reducible(self._gan_test_step(data))

    def _minimize(self, optimizer, variables, objective):
        with tf.GradientTape() as tape:
            loss, aux = objective()
            scaled_loss = _scaled(optimizer, loss)
        self._apply(optimizer, variables, tape.gradient(scaled_loss, variables))
        return loss, aux

    def _forward_with_vjp(self, fn, variables):
        with tf.GradientTape() as tape:
            outputs = fn()

        def vjp(cotangent):
            return tape.gradient(outputs, variables, output_gradients=cotangent)

        return outputs, vjp

    def _input_gradient(self, optimizer, objective, inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss, aux = objective(inputs)
            scaled_loss = _scaled(optimizer, loss)
        return loss, aux, tape.gradient(scaled_loss, inputs)

    def _apply(self, optimizer, variables, gradients):
        optimizer.apply(gradients, variables)

    def _replica(self):
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return 0, 1
        return context.replica_id_in_sync_group, context.num_replicas_in_sync

    def _all_replicas(self, values):
        return values


def _scaled(optimizer, loss):
    """The replica's share of the global loss, with any loss scaling."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return optimizer.scale_loss(loss / replicas)


def _reducible(logs):
    """Gives each log a batch axis when training on several workers.

    Keras 3 reduces multi-worker step outputs with `strategy.reduce("MEAN",
    value, axis=0)`, which fails on the scalar metric results every
    `train_step` returns; a one-element axis makes that reduction a mean.
    """
    strategy = tf.distribute.get_strategy()
    if _num_workers(strategy) > 1:
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs


def _num_workers(strategy):
    """The workers of a `MultiWorkerMirroredStrategy` (1 for others).

    Counted from the public cluster spec as TensorFlow counts them: the
    chief and the workers.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("chief", ())) + len(spec.get("worker", ())))
