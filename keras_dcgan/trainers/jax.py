"""JAX plumbing: a pure step over the state lists `fit()` threads through.

The step runs inside a `keras.StatelessScope` that maps every variable to
its value in `state`, so the shared code can call the networks, draw noise
and update metrics as if they were stateful; the new state is read back
from the scope. Gradients come from `jax.value_and_grad` or `jax.vjp` of a
function that maps the variables (or inputs) it differentiates to traced
values in a nested scope.
"""

import jax
import keras
from keras.src.backend.common.stateless_scope import get_stateless_scope

from keras_dcgan import jax_ops

jax_ops.prefer_fast_cpu_convolutions()


class GANTrainer:
    def train_step(self, state, data):
        variables = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.optimizer.variables,
            self.metrics_variables,
        )
        return _stateless(variables, state, self._gan_train_step, data)

    def test_step(self, state, data):
        variables = (
            self.trainable_variables,
            self.non_trainable_variables,
            self.metrics_variables,
        )
        return _stateless(variables, state, self._gan_test_step, data)

    def _minimize(self, optimizer, variables, objective):
        outer = get_stateless_scope()
        values = [outer.get_current_value(v) for v in variables]

        def scaled_objective(values):
            with _nested_scope(outer, zip(variables, values)) as inner:
                loss, aux = objective()
            return optimizer.scale_loss(loss), (loss, aux, inner.state_mapping)

        grad_fn = jax.value_and_grad(scaled_objective, has_aux=True)
        (_, (loss, aux, updates)), gradients = grad_fn(values)
        outer.state_mapping.update(updates)
        self._apply(optimizer, variables, gradients)
        return loss, aux

    def _forward_with_vjp(self, fn, variables):
        outer = get_stateless_scope()
        values = [outer.get_current_value(v) for v in variables]

        def forward(values):
            with _nested_scope(outer, zip(variables, values)) as inner:
                outputs = fn()
            return outputs, inner.state_mapping

        outputs, vjp_fn, updates = jax.vjp(forward, values, has_aux=True)
        outer.state_mapping.update(updates)
        return outputs, lambda cotangent: vjp_fn(cotangent)[0]

    def _input_gradient(self, optimizer, objective, inputs):
        outer = get_stateless_scope()

        def scaled_objective(inputs):
            with _nested_scope(outer, ()) as inner:
                loss, aux = objective(inputs)
            return optimizer.scale_loss(loss), (loss, aux, inner.state_mapping)

        grad_fn = jax.value_and_grad(scaled_objective, has_aux=True)
        (_, (loss, aux, updates)), gradient = grad_fn(inputs)
        outer.state_mapping.update(updates)
        return loss, aux, gradient

    def _apply(self, optimizer, variables, gradients):
        outer = get_stateless_scope()
        values = [outer.get_current_value(v) for v in variables]
        optimizer_values = [
            outer.get_current_value(v) for v in optimizer.variables
        ]
        new_values, optimizer_values = optimizer.stateless_apply(
            optimizer_values, gradients, values
        )
        for variable, value in zip(variables, new_values):
            outer.add_update((variable, value))
        for variable, value in zip(optimizer.variables, optimizer_values):
            outer.add_update((variable, value))

    def _replica(self):
        # Under `keras.distribution.DataParallel` the step is one program over
        # the global batch, which XLA shards: nothing to split or gather.
        return 0, 1

    def _all_replicas(self, values):
        return values


def _nested_scope(outer, overrides):
    """A scope that sees `outer`'s values, with `(variable, value)` overrides.

    Differentiated functions run in one, so that their variables map to the
    traced values and their updates (BatchNormalization statistics) can be
    read back from its `state_mapping`.
    """
    inner = keras.StatelessScope()
    inner.state_mapping = dict(outer.state_mapping)
    for variable, value in overrides:
        inner.add_update((variable, value))
    return inner


def _stateless(variables, values, step, data):
    """Runs `step(data)` on `values`; returns `(logs, new_values)`."""
    mapping = [
        pair
        for group, group_values in zip(variables, values)
        for pair in zip(group, group_values)
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    new_values = tuple(
        [scope.get_current_value(v) for v in group] for group in variables
    )
    return logs, new_values
