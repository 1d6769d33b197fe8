"""JAX plumbing: a pure step over the state lists `fit()` threads through.

The step runs inside a `keras.StatelessScope` that maps every variable to
its value in `state`, so the shared code can call the networks, draw noise
and update metrics as if they were stateful; the new state is read back
from the scope. Gradients come from `jax.value_and_grad` or `jax.vjp` of a
function that maps the variables (or inputs) it differentiates to traced
values in a nested scope.

Only the documented surface of `keras.StatelessScope` is used: its
`state_mapping` argument, `get_current_value()`, and `Variable.assign()`
inside the scope to record an update. The step's scope and its variables
are kept on a stack of this module while the step is traced.
"""

import threading

import jax
import keras

from keras_dcgan.ops.jax import suggest_fast_cpu_convolutions
from keras_dcgan.trainers.base import GANTrainerBase

_steps = threading.local()


class GANTrainer(GANTrainerBase):
    def fit(self, *args, **kwargs):
        suggest_fast_cpu_convolutions()
        return super().fit(*args, **kwargs)

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
        outer, _ = _steps.stack[-1]
        values = [outer.get_current_value(v) for v in variables]

        def scaled_objective(values):
            with _nested_scope(zip(variables, values)) as inner:
                loss, aux = objective()
            updates = _updates(inner)
            return optimizer.scale_loss(loss), (loss, aux, updates)

        grad_fn = jax.value_and_grad(scaled_objective, has_aux=True)
        (_, (loss, aux, updates)), gradients = grad_fn(values)
        _record(updates)
        self._apply(optimizer, variables, gradients)
        return loss, aux

    def _forward_with_vjp(self, fn, variables):
        outer, _ = _steps.stack[-1]
        values = [outer.get_current_value(v) for v in variables]

        def forward(values):
            with _nested_scope(zip(variables, values)) as inner:
                outputs = fn()
            return outputs, _updates(inner)

        outputs, vjp_fn, updates = jax.vjp(forward, values, has_aux=True)
        _record(updates)
        return outputs, lambda cotangent: vjp_fn(cotangent)[0]

    def _input_gradient(self, optimizer, objective, inputs):
        def scaled_objective(inputs):
            with _nested_scope(()) as inner:
                loss, aux = objective(inputs)
            updates = _updates(inner)
            return optimizer.scale_loss(loss), (loss, aux, updates)

        grad_fn = jax.value_and_grad(scaled_objective, has_aux=True)
        (_, (loss, aux, updates)), gradient = grad_fn(inputs)
        _record(updates)
        return loss, aux, gradient

    def _apply(self, optimizer, variables, gradients):
        outer, _ = _steps.stack[-1]
        values = [outer.get_current_value(v) for v in variables]
        optimizer_values = [
            outer.get_current_value(v) for v in optimizer.variables
        ]
        new_values, optimizer_values = optimizer.stateless_apply(
            optimizer_values, gradients, values
        )
        # Inside the step's scope, `assign` records the update.
        for variable, value in zip(variables, new_values):
            variable.assign(value)
        for variable, value in zip(optimizer.variables, optimizer_values):
            variable.assign(value)

    def _replica(self):
        # Under `keras.distribution.DataParallel` the step is one program over
        # the global batch, which XLA shards: nothing to split or gather.
        return 0, 1

    def _all_replicas(self, values):
        return values


def _nested_scope(overrides):
    """A scope with the step's current values, and `(variable, value)`
    overrides.

    Differentiated functions run in one, so that their variables map to the
    traced values and their updates (BatchNormalization statistics) can be
    read back from it (`_updates`).
    """
    outer, tracked = _steps.stack[-1]
    mapping = [(v, outer.get_current_value(v)) for v in tracked]
    return keras.StatelessScope(state_mapping=mapping + list(overrides))


def _updates(inner):
    """The values of the step's variables in the nested scope `inner`."""
    _, tracked = _steps.stack[-1]
    return [inner.get_current_value(v) for v in tracked]


def _record(values):
    """Records the step's variables' `values` (from `_updates`) in its scope."""
    _, tracked = _steps.stack[-1]
    for variable, value in zip(tracked, values):
        variable.assign(value)


def _stateless(variables, values, step, data):
    """Runs `step(data)` on `values`; returns `(logs, new_values)`."""
    mapping = [
        pair
        for group, group_values in zip(variables, values)
        for pair in zip(group, group_values)
    ]
    tracked = [variable for variable, _ in mapping]
    if not hasattr(_steps, "stack"):
        _steps.stack = []
    with keras.StatelessScope(state_mapping=mapping) as scope:
        _steps.stack.append((scope, tracked))
        try:
            logs = step(data)
        finally:
            _steps.stack.pop()
    new_values = tuple(
        [scope.get_current_value(v) for v in group] for group in variables
    )
    return logs, new_values
