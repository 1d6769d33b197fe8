"""Named training recipes: the chapter's and the DCGAN paper's.

A `Recipe` holds every hyper-parameter of a run: the networks' sizes and
initialisation, the optimizers, the batch size and the number of epochs.
`get_recipe(name, **overrides)` returns one with any field replaced, and
`Recipe.build()` makes the compiled `DCGAN`. (Trained models, which Keras
calls presets, are loaded with `DCGAN.from_preset()`.)
"""

import dataclasses

import keras

from keras_dcgan import augment, validation
from keras_dcgan.dcgan import DCGAN
from keras_dcgan.networks import (
    LABEL_INPUTS,
    build_discriminator,
    build_generator,
)
from keras_dcgan.optimizers import chapter_adam


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A complete DCGAN recipe.

    Args:
        name: string. The recipe's name.
        source: string. Where the numbers come from.
        learning_rate: float. Adam learning rate of both players.
        beta_1: float. Adam's `beta_1`.
        epochs: int. Number of epochs.
        batch_size: int. Examples per training step.
        latent_dim: int. Size of the noise vector.
        image_size: int. Side of the square images (a power of two).
        filters: int. Channels of G's last and D's first block.
        negative_slope: float. D's LeakyReLU slope.
        first_block_batch_norm: bool. Whether D's first block normalises.
        init_stddev: float. Standard deviation of the N(0, s) kernels.
        gamma_mean: float. Mean of BatchNormalization's scale; the scale is
            N(gamma_mean, gamma_stddev), or constant when `gamma_stddev` is
            0.
        gamma_stddev: float. See `gamma_mean`.
        ema_decay: float in (0, 1) or None. Keep an exponential moving
            average of the generator with this decay (see `DCGAN`); it
            changes what is sampled, not how the networks train. Defaults
            to `0.999` in every recipe (27% lower FD after 2 epochs of
            Fashion-MNIST, see docs/quality.md); `None` keeps none.
        num_classes: int or None. Train a class-conditional model with this
            many classes (see `DCGAN`). Defaults to `None`.
        conditional_batch_norm: bool. With `num_classes`, the generator's
            blocks also take their BatchNorm scale and offset from the class
            (see `build_generator`). Defaults to `False`.
        auxiliary_classifier: bool. With `num_classes`, the discriminator
            also classifies the images, trained with AC-GAN's loss (see
            `build_discriminator` and `DCGAN`). Defaults to `False`.
        label_input: string. How a conditional discriminator sees the
            label: `"projection"` or `"channels"` (see
            `build_discriminator`). Defaults to `"projection"`.
        augment: string. Differentiable augmentation of the
            discriminator's inputs (see `keras_dcgan.augment`): `"none"`,
            `"diffaugment"` (always on) or `"ada"` (as strong as the
            discriminator's overfitting needs). Defaults to `"none"`.
        mirror: bool. Flip each real image left-right with probability
            1/2 (see `DCGAN`). Defaults to `False`.
        upsampling: string. How the generator doubles the image's side:
            `"transpose"`, the chapter's transposed convolutions, or
            `"nearest"`, nearest-neighbour upsampling and a convolution (see
            `build_generator`). Defaults to `"transpose"`.

    Example:

    ```python
    recipe = keras_dcgan.recipes.get_recipe("dcgan-paper", epochs=5)
    model = recipe.build(channels=3, seed=0)  # compiled DCGAN
    ```
    """

    name: str
    source: str
    learning_rate: float
    beta_1: float = 0.5
    epochs: int = 40
    batch_size: int = 256
    latent_dim: int = 100
    image_size: int = 64
    filters: int = 64
    negative_slope: float = 0.2
    first_block_batch_norm: bool = True
    init_stddev: float = 0.02
    gamma_mean: float = 1.0
    gamma_stddev: float = 0.0
    ema_decay: float = 0.999
    num_classes: int = None
    conditional_batch_norm: bool = False
    auxiliary_classifier: bool = False
    label_input: str = "projection"
    augment: str = "none"
    mirror: bool = False
    upsampling: str = "transpose"

    def __post_init__(self):
        for name in ("epochs", "batch_size", "latent_dim", "image_size"):
            validation.positive_int(name, getattr(self, name))
        validation.positive_int("filters", self.filters)
        for name in ("learning_rate", "init_stddev"):
            validation.positive_number(name, getattr(self, name))
        if self.ema_decay is not None:
            validation.open_unit_interval("ema_decay", self.ema_decay)
        if self.num_classes is not None:
            validation.positive_int("num_classes", self.num_classes)
        validation.one_of("augment", self.augment, tuple(augment.AUGMENTS))
        validation.one_of("label_input", self.label_input, LABEL_INPUTS)

    def replace(self, **overrides):
        """Returns a copy with some fields replaced.

        Raises:
            ValueError: if a name is not a field of `Recipe`.
        """
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(
                f"Unknown recipe field {unknown[0]!r}. Expected one of "
                f"{', '.join(sorted(fields))}. "
                f"Received: {unknown[0]}={overrides[unknown[0]]!r}"
            )
        return dataclasses.replace(self, **overrides)

    def to_config(self):
        """The fields as a JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def _kernel_initializer(self):
        return keras.initializers.RandomNormal(0.0, self.init_stddev)

    def _gamma_initializer(self):
        if self.gamma_stddev:
            return keras.initializers.RandomNormal(
                self.gamma_mean, self.gamma_stddev
            )
        return keras.initializers.Constant(self.gamma_mean)

    def build_networks(self, channels=3):
        """Builds `(generator, discriminator)` for `channels`-channel images.

        Args:
            channels: int. Image channels (3 for RGB, 1 for grayscale).

        Returns:
            A tuple of two built `keras.Model`.
        """
        channels = validation.positive_int("channels", channels)
        image_shape = (self.image_size, self.image_size, channels)
        generator = build_generator(
            self.latent_dim,
            image_shape,
            filters=self.filters,
            kernel_initializer=self._kernel_initializer(),
            gamma_initializer=self._gamma_initializer(),
            num_classes=self.num_classes,
            conditional_batch_norm=self.conditional_batch_norm,
            upsampling=self.upsampling,
        )
        discriminator = build_discriminator(
            image_shape,
            filters=self.filters,
            negative_slope=self.negative_slope,
            first_block_batch_norm=self.first_block_batch_norm,
            kernel_initializer=self._kernel_initializer(),
            gamma_initializer=self._gamma_initializer(),
            num_classes=self.num_classes,
            auxiliary_classifier=self.auxiliary_classifier,
            label_input=self.label_input,
        )
        return generator, discriminator

    def optimizers(self):
        """Two fresh Adam optimizers `(d_optimizer, g_optimizer)`."""
        return tuple(
            chapter_adam(self.learning_rate, self.beta_1) for _ in range(2)
        )

    def build(self, channels=3, seed=None, class_names=None, **compile_kwargs):
        """Builds and compiles the `DCGAN` of this recipe.

        Args:
            channels: int. Image channels. Defaults to `3`.
            seed: int or None. Seeds the weight initialisation (through
                `keras.utils.set_random_seed`) and the training noise.
                Defaults to `None`.
            class_names: optional names of the `num_classes` classes.
            **compile_kwargs: other `DCGAN.compile` arguments, such as
                `jit_compile`.

        Returns:
            A compiled `keras_dcgan.DCGAN`.
        """
        if seed is not None:
            keras.utils.set_random_seed(seed)
        generator, discriminator = self.build_networks(channels)
        model = DCGAN(
            generator,
            discriminator,
            latent_dim=self.latent_dim,
            seed=seed,
            ema_decay=self.ema_decay,
            num_classes=self.num_classes,
            class_names=class_names,
            augment=self.augment,
            mirror=self.mirror,
        )
        d_optimizer, g_optimizer = self.optimizers()
        model.compile(
            d_optimizer=d_optimizer, g_optimizer=g_optimizer, **compile_kwargs
        )
        return model


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="d2l",
            source=(
                "Dive into Deep Learning, chapter 'Deep Convolutional "
                "Generative Adversarial Networks' (MXNet code): lr 0.005, "
                "40 epochs, batch 256, latent 100, BatchNorm in D's first "
                "block, weights N(0, 0.02)."
            ),
            learning_rate=0.005,
            epochs=40,
        ),
        Recipe(
            name="d2l-pytorch",
            source=(
                "Dive into Deep Learning, same chapter, PyTorch tab: as "
                "'d2l' with 20 epochs."
            ),
            learning_rate=0.005,
            epochs=20,
        ),
        Recipe(
            name="d2l-tensorflow",
            source=(
                "Dive into Deep Learning, same chapter, TensorFlow tab: as "
                "'d2l' with lr 0.0005."
            ),
            learning_rate=0.0005,
            epochs=40,
        ),
        Recipe(
            name="dcgan-paper",
            source=(
                "Radford, Metz and Chintala, 'Unsupervised Representation "
                "Learning with Deep Convolutional GANs' (2016), section 4: "
                "Adam lr 2e-4, beta_1 0.5, batch 128, weights N(0, 0.02), "
                "no BatchNorm on D's input layer, LeakyReLU 0.2; BatchNorm "
                "scale N(1, 0.02) and 25 epochs as in the authors' "
                "dcgan.torch code (niter=25)."
            ),
            learning_rate=2e-4,
            epochs=25,
            batch_size=128,
            first_block_batch_norm=False,
            gamma_mean=1.0,
            gamma_stddev=0.02,
        ),
    )
}


def get_recipe(name, **overrides):
    """Returns the named recipe with some fields overridden.

    Args:
        name: one of `"d2l"`, `"d2l-pytorch"`, `"d2l-tensorflow"`,
            `"dcgan-paper"`.
        **overrides: `Recipe` fields to replace, such as `epochs=5`.

    Returns:
        A `Recipe`.

    Example:

    >>> get_recipe("d2l", epochs=2).epochs
    2
    """
    validation.one_of("name", name, tuple(RECIPES))
    return RECIPES[name].replace(**overrides)
