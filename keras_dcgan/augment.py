"""Differentiable augmentation of the discriminator's inputs, for small data.

A discriminator trained on a few thousand images memorises them, and its
gradients stop teaching the generator. Augmenting the real *and* the
generated images, differentiably, wherever the discriminator sees them
(in both players' updates) lets it learn from more than the data set holds
while the generator still learns to draw un-augmented images.

- `DiffAugment`: Zhao et al., "Differentiable Augmentation for
  Data-Efficient GAN Training" (NeurIPS 2020): colour (brightness,
  saturation, contrast), translation by up to 1/8 of the image with zero
  padding, and cutout of a square of half the image's side.
- `AdaptiveAugment`: the same operations, each applied to an image with a
  probability `p` that Karras et al.'s ADA ("Training Generative
  Adversarial Networks with Limited Data", NeurIPS 2020) tunes during
  training from the overfitting signal `r_t = E[sign(D(real))]`.

Both are Keras layers written with `keras.ops` and a
`keras.random.SeedGenerator`, so they run alike on TensorFlow, JAX and
PyTorch, under `jit_compile` and mixed precision (in the images' dtype).
"""

import keras
from keras import ops

from keras_dcgan import validation

OPERATIONS = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


@keras.saving.register_keras_serializable(package="keras_dcgan")
class DiffAugment(keras.layers.Layer):
    """Random colour, translation and cutout, differentiable in the images.

    Each operation of `policy` is applied to each image independently with
    `probability`: `color` adds a brightness offset U(-0.5, 0.5), scales
    the saturation by U(0, 2) and the contrast by U(0.5, 1.5); `translation`
    shifts by a whole number of pixels, up to 1/8 of each side, filling with
    zeros; `cutout` sets a square of half the image's side, centred
    anywhere, to zero. Images are `(batch, height, width, channels)` in
    [-1, 1]; the output has their shape and dtype.

    Args:
        policy: string. Comma-separated operations among `"color"`,
            `"translation"` and `"cutout"`. Defaults to all three.
        probability: float in [0, 1]. Chance that an operation is applied
            to an image. Defaults to `1.0`, DiffAugment's.
        seed: int or None. Seed of the random draws. Defaults to `None`.
        **kwargs: standard layer arguments such as `name`.

    Example:

    ```python
    augment = keras_dcgan.augment.DiffAugment(seed=0)
    model = keras_dcgan.DCGAN(generator, discriminator, augment=augment)
    ```
    """

    def __init__(
        self,
        policy="color,translation,cutout",
        probability=1.0,
        seed=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.policy = _parse_policy(policy)
        self.probability = validation.unit_interval("probability", probability)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="augment")
        self.built = True

    def _current_probability(self):
        return self.probability

    def call(self, images):
        images = ops.convert_to_tensor(images)
        probability = self._current_probability()
        for operation in self.policy:
            images = _OPERATIONS[operation](
                images, probability, self.seed_generator
            )
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "policy": ",".join(self.policy),
                "probability": self.probability,
                "seed": self.seed,
            }
        )
        return config

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["seed_state"] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        # Keras's loader may reach the layer a second time through its
        # model's list of layers, with an empty store: nothing to load.
        if not len(store.keys()):
            return
        self.seed_generator.state.assign(store["seed_state"])
        super().load_own_variables(
            {key: store[key] for key in store.keys() if key != "seed_state"}
        )


@keras.saving.register_keras_serializable(package="keras_dcgan")
class AdaptiveAugment(DiffAugment):
    """`DiffAugment` whose probability `p` follows ADA's overfitting signal.

    `p` starts at 0. `DCGAN` calls `update(real_logits)` after each
    discriminator update with its logits on the (augmented) real images;
    every `interval` steps, `r_t`, the mean sign of those logits since the
    last adjustment, is compared with `target`: `p` rises when the
    discriminator is too sure of the real images (`r_t > target`) and falls
    otherwise, by `images / speed` for the images seen since the last
    adjustment, within [0, 1]. `p`, `r_t` and the accumulators are layer
    variables, saved and resumed with the model.

    Args:
        policy: string. As for `DiffAugment`.
        target: float in (0, 1). The `r_t` to hold. Defaults to `0.6`, ADA's.
        interval: int. Steps between adjustments. Defaults to `4`, ADA's.
        speed: int. Images over which `p` can move by 1. Defaults to
            `100_000`, the quicker setting of StyleGAN3's training script
            (ADA's paper used 500,000), so that `p` can catch a
            discriminator that wins within a few epochs of a small set.
        seed: int or None. Seed of the random draws. Defaults to `None`.
        **kwargs: standard layer arguments such as `name`.
    """

    def __init__(
        self,
        policy="color,translation,cutout",
        target=0.6,
        interval=4,
        speed=100_000,
        seed=None,
        **kwargs,
    ):
        kwargs.pop("probability", None)
        super().__init__(policy=policy, probability=0.0, seed=seed, **kwargs)
        self.target = validation.open_unit_interval("target", target)
        self.interval = validation.positive_int("interval", interval)
        self.speed = validation.positive_int("speed", speed)
        self.p = self._state_variable("p")
        self.r_t = self._state_variable("r_t")
        self.sign_sum = self._state_variable("sign_sum")
        self.sign_count = self._state_variable("sign_count")
        self.steps = self._state_variable("steps")

    def _state_variable(self, name):
        return self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
            name=name,
        )

    def _current_probability(self):
        return self.p

    def update(self, real_logits):
        """Accumulates `sign(real_logits)`; adjusts `p` every `interval`
        steps."""
        signs = ops.sign(ops.cast(ops.reshape(real_logits, (-1,)), "float32"))
        total = self.sign_sum + ops.sum(signs)
        count = self.sign_count + ops.cast(ops.shape(signs)[0], "float32")
        steps = self.steps + 1.0
        due = ops.cast(ops.equal(ops.mod(steps, self.interval), 0), "float32")
        r_t = total / count
        step = ops.sign(r_t - self.target) * count / self.speed
        self.p.assign(ops.clip(self.p + due * step, 0.0, 1.0))
        self.r_t.assign(due * r_t + (1.0 - due) * self.r_t)
        self.sign_sum.assign((1.0 - due) * total)
        self.sign_count.assign((1.0 - due) * count)
        self.steps.assign(steps)

    def get_config(self):
        config = super().get_config()
        del config["probability"]
        config.update(
            {
                "target": self.target,
                "interval": self.interval,
                "speed": self.speed,
            }
        )
        return config


AUGMENTS = {"none": None, "diffaugment": DiffAugment, "ada": AdaptiveAugment}


def get(identifier, seed=None):
    """An augmentation layer from a name, or the layer itself.

    Args:
        identifier: `None`, `"none"`, `"diffaugment"`, `"ada"`, or a
            `DiffAugment` (or subclass) instance, returned as it is.
        seed: int or None. Seed of a layer made from a name.

    Returns:
        A `DiffAugment`, an `AdaptiveAugment` or `None`.
    """
    if identifier is None or isinstance(identifier, DiffAugment):
        return identifier
    validation.one_of("augment", identifier, tuple(AUGMENTS))
    layer_class = AUGMENTS[identifier]
    return None if layer_class is None else layer_class(seed=seed)


def mirror(images, seed_generator):
    """Flips each image left-right with probability 1/2."""
    batch_size = ops.shape(images)[0]
    flip = keras.random.uniform((batch_size, 1, 1, 1), seed=seed_generator)
    return ops.where(flip < 0.5, ops.flip(images, axis=2), images)


def _parse_policy(policy):
    if not isinstance(policy, str):
        raise ValueError(
            "`policy` must be a comma-separated string of operations among "
            f"{', '.join(OPERATIONS)}. Received: policy={policy!r}"
        )
    operations = [name.strip() for name in policy.split(",") if name.strip()]
    for name in operations:
        if name not in OPERATIONS:
            raise ValueError(
                f"Unknown augmentation {name!r} in `policy`. Expected "
                f"operations among {', '.join(OPERATIONS)}. "
                f"Received: policy={policy!r}"
            )
    return tuple(operations)


def _applied(images, probability, seed_generator):
    """A `(batch, 1, 1, 1)` 0/1 mask: which images an operation changes."""
    shape = (ops.shape(images)[0], 1, 1, 1)
    draw = keras.random.uniform(shape, seed=seed_generator)
    return ops.cast(draw < probability, images.dtype)


def _uniform(images, low, high, seed_generator):
    shape = (ops.shape(images)[0], 1, 1, 1)
    return ops.cast(
        keras.random.uniform(shape, low, high, seed=seed_generator),
        images.dtype,
    )


def _color(images, probability, seed_generator):
    # Each change is added where applied, so images left alone stay exact.
    applied = _applied(images, probability, seed_generator)
    brightness = _uniform(images, -0.5, 0.5, seed_generator)
    images = images + applied * brightness
    applied = _applied(images, probability, seed_generator)
    saturation = _uniform(images, 0.0, 2.0, seed_generator)
    mean = ops.mean(images, axis=3, keepdims=True)
    images = images + applied * (saturation - 1.0) * (images - mean)
    applied = _applied(images, probability, seed_generator)
    contrast = _uniform(images, 0.5, 1.5, seed_generator)
    mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    return images + applied * (contrast - 1.0) * (images - mean)


def _shift_matrices(size, shifts, dtype):
    """`(batch, size, size)` 0/1 matrices `M` with `M[b, i, i + shift[b]]`."""
    rows = ops.reshape(ops.arange(size, dtype="int32"), (1, size, 1))
    cols = ops.reshape(ops.arange(size, dtype="int32"), (1, 1, size))
    return ops.cast(
        ops.equal(cols, rows + ops.reshape(shifts, (-1, 1, 1))), dtype
    )


def _random_shifts(images, limit, probability, seed_generator):
    """Whole-pixel shifts in [-limit, limit], 0 where not applied."""
    batch_size = ops.shape(images)[0]
    shifts = keras.random.randint(
        (batch_size,), -limit, limit + 1, seed=seed_generator
    )
    applied = keras.random.uniform((batch_size,), seed=seed_generator)
    return ops.where(applied < probability, shifts, ops.zeros_like(shifts))


def _translation(images, probability, seed_generator):
    # Shifting is a product with a 0/1 matrix on each side: differentiable,
    # zero-filled, and the same ops on every backend.
    _, height, width, _ = images.shape
    rows = _shift_matrices(
        height,
        _random_shifts(
            images,
            int(height * TRANSLATION_RATIO + 0.5),
            probability,
            seed_generator,
        ),
        images.dtype,
    )
    cols = _shift_matrices(
        width,
        _random_shifts(
            images,
            int(width * TRANSLATION_RATIO + 0.5),
            probability,
            seed_generator,
        ),
        images.dtype,
    )
    images = ops.einsum("bij,bjwc->biwc", rows, images)
    return ops.einsum("bkw,bhwc->bhkc", cols, images)


def _cutout(images, probability, seed_generator):
    _, height, width, _ = images.shape
    batch_size = ops.shape(images)[0]
    applied = _applied(images, probability, seed_generator)
    masks = []
    for axis, size in ((1, height), (2, width)):
        half = int(size * CUTOUT_RATIO + 0.5) // 2
        centre = keras.random.randint(
            (batch_size, 1), 0, size + 1, seed=seed_generator
        )
        position = ops.reshape(ops.arange(size, dtype="int32"), (1, size))
        inside = ops.logical_and(
            position >= centre - half, position < centre + half
        )
        shape = [batch_size, 1, 1, 1]
        shape[axis] = size
        masks.append(ops.cast(ops.reshape(inside, shape), images.dtype))
    return images * (1.0 - applied * masks[0] * masks[1])


_OPERATIONS = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}
