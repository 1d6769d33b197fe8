"""Each backend's gradient plumbing for DCGAN.train_step: differentiate, apply.

The step's maths (noise, losses, metrics) is `DCGAN`'s, shared by all
backends; faster forward ops are in `keras_dcgan/ops/`. The active
backend's module is chosen once at import. Each defines `GANTrainer`, a
mixin with:

- `train_step` / `test_step` in the signature its Keras trainer expects,
  both delegating to the shared `DCGAN._gan_train_step` / `_gan_test_step`;
- `_minimize(optimizer, variables, objective)`: call `objective()`, which
  returns `(loss, aux)`, differentiate `loss` with respect to `variables`
  (summed over data-parallel replicas) and apply the gradients; returns
  `(loss, aux)`;
- `_forward_with_vjp(fn, variables)`: call `fn()` recording the pass;
  returns `(outputs, vjp)`, where `vjp(cotangent)` gives the gradients of
  `variables` for that cotangent of `outputs`;
- `_input_gradient(optimizer, objective, inputs)`: call `objective(inputs)`,
  which returns `(loss, aux)`; returns `(loss, aux, gradient)` with the
  gradient of the loss, scaled as `optimizer` and the replicas need, with
  respect to `inputs`;
- `_apply(optimizer, variables, gradients)`: apply gradients of the
  replica's scaled loss;
- `_replica()`: `(index, count)` of this data-parallel replica among those
  that split each batch (`(0, 1)` when the step sees the whole batch);
- `_all_replicas(values)`: the per-example tensors of all such replicas, for
  metrics that are global means.
"""

import keras

_backend = keras.backend.backend()
if _backend == "tensorflow":
    from keras_dcgan.trainers.tensorflow import GANTrainer
elif _backend == "jax":
    from keras_dcgan.trainers.jax import GANTrainer
elif _backend == "torch":
    from keras_dcgan.trainers.torch import GANTrainer
else:
    raise ImportError(
        "keras-dcgan supports the tensorflow, jax and torch backends. "
        f"Received: KERAS_BACKEND={_backend!r}"
    )

__all__ = ["GANTrainer"]
