"""The chapter's Adam, and `OptimizerGroup`: two players' optimizers seen by
`fit()` as one."""

import keras

CHAPTER_LEARNING_RATE = 0.005


def chapter_adam(learning_rate=CHAPTER_LEARNING_RATE, beta_1=0.5):
    """The chapter's optimizer: Adam with `beta_1=0.5`."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)


class OptimizerGroup(keras.optimizers.Optimizer):
    """Presents several already built optimizers to `fit()` as one.

    `fit()` only knows `model.optimizer`: on JAX it threads exactly
    `model.optimizer.variables` through the training step. A GAN has one
    optimizer per player, so the model compiles with this group, whose
    `variables` are its members' variables, in order. The members do the
    updates and are saved as the model's own attributes, so the group itself
    applies nothing and saves nothing.

    Args:
        optimizers: list of built `keras.optimizers.Optimizer`.
    """

    def __init__(self, optimizers, name="optimizer_group"):
        super().__init__(learning_rate=0.0, name=name)
        self.optimizers = list(optimizers)
        self.built = True

    @property
    def variables(self):
        return [v for opt in self.optimizers for v in opt.variables]

    @property
    def iterations(self):
        return self.optimizers[0].iterations

    def build(self, variables):
        self.built = True

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "`OptimizerGroup` does not apply gradients; its members do."
        )

    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass
