"""`GANTrainerBase`: what each backend gives `DCGAN`'s shared training step."""

from keras import ops


class GANTrainerBase:
    """The hooks between `DCGAN`'s shared step and one backend's autodiff.

    `DCGAN._gan_train_step` is the same maths on every backend: it runs the
    generator once, updates the discriminator with the generated images as
    constants, then updates the generator through that same recorded pass,
    with the updated discriminator's gradient with respect to the images as
    the cotangent (a vector-Jacobian product). How a pass is recorded, how
    gradients are taken and how updates are applied differ between
    TensorFlow's `GradientTape`, JAX's pure functions and PyTorch's
    autograd: each backend's `GANTrainer` subclasses this class and defines
    the hooks below, and `keras_dcgan.trainers` picks the active one.

    The backends also define `train_step` and `test_step` in the signature
    their Keras trainer expects, delegating to `_gan_train_step` and
    `_gan_test_step`.
    """

    def _minimize(self, optimizer, variables, objective):
        """Calls `objective()`, which returns `(loss, aux)`, differentiates
        `loss` with respect to `variables` (summed over data-parallel
        replicas), applies the gradients with `optimizer`; returns
        `(loss, aux)`."""
        raise NotImplementedError

    def _forward_with_vjp(self, fn, variables):
        """Calls `fn()` recording the pass; returns `(outputs, vjp)`, where
        `vjp(cotangent)` gives the gradients of `variables` for that
        cotangent of `outputs`."""
        raise NotImplementedError

    def _input_gradient(self, optimizer, objective, inputs):
        """Calls `objective(inputs)`, which returns `(loss, aux)`; returns
        `(loss, aux, gradient)` with the gradient of the loss with respect
        to `inputs`, scaled as `optimizer` and the replicas need."""
        raise NotImplementedError

    def _apply(self, optimizer, variables, gradients):
        """Applies gradients of the replica's scaled loss to `variables`."""
        raise NotImplementedError

    def _replica(self):
        """`(index, count)` of this replica among those that split each
        batch; `(0, 1)` when the step sees the whole batch."""
        raise NotImplementedError

    def _all_replicas(self, values):
        """The per-example tensors `values` of every such replica, so that
        metrics are global means."""
        raise NotImplementedError

    def _replica_slice(self, batch_size, draw):
        """This replica's slice of `draw(global_batch_size)`.

        Every replica draws the values of the global batch from the same
        seed state and keeps its own slice: replicas get different noise,
        and the result equals single-device training on the global batch.
        """
        replica, num_replicas = self._replica()
        values = draw(batch_size * num_replicas)
        if num_replicas == 1:
            return values
        shape = tuple(values.shape[1:])
        start = [replica * batch_size] + [0] * len(shape)
        return ops.slice(values, start, (batch_size,) + shape)
