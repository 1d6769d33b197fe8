"""`DCGAN`: the chapter's adversarial training as a `keras.Model`."""

import keras
from keras import ops

from keras_dcgan import augment as augment_lib
from keras_dcgan import pretrained, validation
from keras_dcgan.optimizers import OptimizerGroup, chapter_adam
from keras_dcgan.sampling import Sampling, frozen_copy
from keras_dcgan.trainers import GANTrainer


@keras.saving.register_keras_serializable(package="keras_dcgan")
class DCGAN(GANTrainer, Sampling, keras.Model):
    """A generator and a discriminator trained against each other by `fit()`.

    Each training step makes two updates, as the chapter does. First the
    discriminator learns to label a real batch 1 and the generator's images
    of a noise batch 0 (the generator is left untouched); then the generator
    learns to make the discriminator label its images of the same noise 1.
    Both losses are sigmoid binary cross-entropy on the discriminator's
    logits, and every network call uses `training=True`, so BatchNormalization
    uses and updates batch statistics.

    `fit()` logs four epoch means: `d_loss` (the chapter's `loss_D`, the
    mean of the real and fake terms), `g_loss`, and `real_prob` /
    `fake_prob`, D(x) and D(G(z)). `evaluate()` reports the same numbers
    with inference behaviour and no update. Calling the model on noise runs
    the generator.

    The step's maths is written once, here; the generator runs once per
    step and its update reuses that pass through a vector-Jacobian product.
    Recording a pass and taking gradients differ by backend, so they are
    hooks (see `keras_dcgan.trainers.base.GANTrainerBase`), and the
    generator's passes and moving average live in `Sampling`.

    With `num_classes`, the model is class-conditional: both networks take
    the labels as a second input, the data yields `(images, labels)`, each
    fake batch gets uniform labels, and `generate()` takes the labels to
    draw. A discriminator with class logits as a second output
    (`auxiliary_classifier=True`) adds AC-GAN's classification loss (Odena
    et al., 2017) of real and fake images to `d_loss`, of fake to `g_loss`.

    With `augment`, the discriminator sees every image, real or generated,
    through a differentiable augmentation in both players' updates, so that
    it cannot simply memorise a small data set; an `AdaptiveAugment` adds
    its probability `aug_p` and overfitting signal `r_t` to the logs.

    Args:
        generator: a `keras.Model` from noise to images in [-1, 1], such as
            `keras_dcgan.build_generator()`. It must be built.
        discriminator: a `keras.Model` from images to one logit per image,
            such as `keras_dcgan.build_discriminator()`. It must be built.
        latent_dim: int. Size of the noise vector; must match the
            generator's input. Defaults to `100`.
        seed: int or None. Seed of the training noise. Defaults to `None`.
        ema_decay: float in (0, 1) or None. With a decay such as `0.999`,
            the model keeps `ema_generator`, a moving average of the
            generator's weights (see `update_ema`), which `generate()` and
            the image grids use. Defaults to `None`, no average.
        num_classes: int or None. The number of classes of a conditional
            model, whose networks take labels as their second input.
            Defaults to `None`, unconditional.
        class_names: optional list of `num_classes` class names.
        augment: `None`, `"diffaugment"`, `"ada"` or a layer of
            `keras_dcgan.augment`. Defaults to `None`, no augmentation.
        mirror: bool. Whether to flip each real image left-right with
            probability 1/2 in training. Defaults to `False`.
        **kwargs: standard model arguments such as `name`.

    Example:

    ```python
    model = keras_dcgan.DCGAN(
        keras_dcgan.build_generator(latent_dim=100),
        keras_dcgan.build_discriminator(),
        latent_dim=100,
    )
    model.compile()  # two Adam(learning_rate=0.005, beta_1=0.5)
    model.fit(dataset, epochs=40)
    images = model.generate(21, seed=0)  # numpy, (21, 64, 64, 3)
    ```
    """

    presets = pretrained.PRESETS

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim=100,
        seed=None,
        ema_decay=None,
        num_classes=None,
        class_names=None,
        augment=None,
        mirror=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.latent_dim = validation.positive_int("latent_dim", latent_dim)
        self.num_classes = None
        if num_classes is not None:
            self.num_classes = validation.positive_int(
                "num_classes", num_classes
            )
        self.class_names = validation.check_class_names(
            class_names, self.num_classes
        )
        noise_shape = validation.check_gan_networks(
            generator, discriminator, self.latent_dim, self.num_classes
        )
        self.generator = generator
        self.discriminator = discriminator
        self.seed = seed
        self.noise_shape = noise_shape
        self.image_shape = tuple(discriminator.inputs[0].shape[1:])
        self.auxiliary_classifier = len(discriminator.outputs) == 2
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise")
        self.augment = augment_lib.get(augment, _offset(seed, 1))
        self.mirror = bool(mirror)
        if self.mirror:
            self.mirror_seed_generator = keras.random.SeedGenerator(
                _offset(seed, 2), name="mirror"
            )
        self.ema_decay = None
        self.ema_generator = None
        if ema_decay is not None:
            self.ema_decay = validation.open_unit_interval(
                "ema_decay", ema_decay
            )
            self.ema_generator = frozen_copy(generator, "ema_generator")
            self.ema_updates = keras.Variable(
                0, dtype="int32", trainable=False, name="ema_updates"
            )
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_prob_tracker = keras.metrics.Mean(name="real_prob")
        self.fake_prob_tracker = keras.metrics.Mean(name="fake_prob")
        self.built = True

    def call(self, inputs, training=False):
        """Runs the generator on noise, or on `(noise, labels)`."""
        labels = None
        if self.num_classes is not None:
            inputs, labels = inputs
        return self._generate(self.generator, inputs, labels, training)

    def _discriminate(self, images, labels, training=True):
        """`(logits, class_loss)`: the discriminator's logits and, with an
        auxiliary classifier, the per-example cross-entropy of its class
        prediction against `labels` (else `None`)."""
        if labels is None:
            return self.discriminator(images, training=training), None
        outputs = self.discriminator([images, labels], training=training)
        if not self.auxiliary_classifier:
            return outputs, None
        logits, class_logits = outputs
        class_loss = ops.sparse_categorical_crossentropy(
            labels, ops.cast(class_logits, "float32"), from_logits=True
        )
        return logits, class_loss

    def compile(
        self, d_optimizer=None, g_optimizer=None, loss_fn=None, **kwargs
    ):
        """Configures the two players' optimizers and the loss.

        Args:
            d_optimizer: the discriminator's optimizer. Defaults to
                `Adam(learning_rate=0.005, beta_1=0.5)`, the chapter's.
            g_optimizer: the generator's optimizer. Defaults to the same.
            loss_fn: a `keras.losses.Loss` or function `(labels, logits)`,
                per example or reduced. Defaults to
                `BinaryCrossentropy(from_logits=True)`.
            **kwargs: other `keras.Model.compile` arguments, such as
                `jit_compile`, `run_eagerly` and `steps_per_execution`.
        """
        validation.check_gan_compile_arguments(kwargs)
        kwargs.pop("auto_scale_loss", None)
        self._compile_args = {
            "d_optimizer": keras.optimizers.get(d_optimizer or chapter_adam()),
            "g_optimizer": keras.optimizers.get(g_optimizer or chapter_adam()),
            "loss_fn": loss_fn
            or keras.losses.BinaryCrossentropy(
                from_logits=True, reduction=None
            ),
            # Plain settings such as `jit_compile`, saved with the model.
            "kwargs": {
                name: value
                for name, value in kwargs.items()
                if isinstance(value, (bool, int, str))
            },
        }
        self.d_optimizer = self._prepare(
            self._compile_args["d_optimizer"], self.discriminator
        )
        self.g_optimizer = self._prepare(
            self._compile_args["g_optimizer"], self.generator
        )
        self.loss_fn = self._compile_args["loss_fn"]
        super().compile(
            optimizer=OptimizerGroup([self.d_optimizer, self.g_optimizer]),
            auto_scale_loss=False,
            **kwargs,
        )

    def _prepare(self, optimizer, network):
        """Wraps for float16 loss scaling and builds against `network`."""
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(network.trainable_variables)
        return optimizer

    def get_compile_config(self):
        if not getattr(self, "_compile_args", None):
            return None
        args = self._compile_args
        return {
            "d_optimizer": keras.optimizers.serialize(args["d_optimizer"]),
            "g_optimizer": keras.optimizers.serialize(args["g_optimizer"]),
            "loss_fn": keras.losses.serialize(args["loss_fn"]),
            **args["kwargs"],
        }

    def compile_from_config(self, config):
        config = dict(config)
        self.compile(
            d_optimizer=keras.optimizers.deserialize(config.pop("d_optimizer")),
            g_optimizer=keras.optimizers.deserialize(config.pop("g_optimizer")),
            loss_fn=keras.losses.deserialize(config.pop("loss_fn")),
            **config,
        )

    def fit(self, x=None, y=None, *args, **kwargs):
        # Checks a batch before any step is traced: the same `ValueError`
        # on every backend, and no JAX weights lost with a failed trace.
        batch = validation.first_batch(x, y, kwargs.get("batch_size") or 32)
        if batch is not None:
            self._real_batch(batch)
        return super().fit(x, y, *args, **kwargs)

    @property
    def metrics(self):
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.real_prob_tracker,
            self.fake_prob_tracker,
        ]

    # Shared maths: the backend trainers only differentiate and apply.

    def _real_batch(self, data):
        """`(images, labels)` of a batch; `labels` is `None` unless the model
        is conditional."""
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        images = self._real_images(images)
        if self.num_classes is None:
            return images, None
        if labels is None:
            raise ValueError(
                f"A conditional DCGAN (num_classes={self.num_classes}) "
                "trains on `(images, labels)` batches. Received: batches "
                "of images only"
            )
        return images, ops.reshape(ops.cast(labels, "int32"), (-1,))

    def _real_images(self, images):
        validation.warn_if_integer_pixels(images)
        images = ops.convert_to_tensor(images)
        validation.check_batch_shape(images, self.image_shape)
        return ops.cast(images, "float32")

    def _noise(self, batch_size):
        return self._replica_slice(
            batch_size,
            lambda n: keras.random.normal(
                (n,) + self.noise_shape, seed=self.seed_generator
            ),
        )

    def _fake_labels(self, batch_size):
        """Labels of a fake batch, uniform over the classes (or `None`)."""
        if self.num_classes is None:
            return None
        return self._replica_slice(
            batch_size,
            lambda n: keras.random.randint(
                (n,), 0, self.num_classes, seed=self.seed_generator
            ),
        )

    def _bce(self, label, logits):
        logits = ops.reshape(ops.cast(logits, "float32"), (-1, 1))
        labels = ops.full_like(logits, label)
        return self.loss_fn(labels, logits)

    def _discriminator_loss(self, real, fake):
        """Mean and per-example loss of `_discriminate`'s real and fake
        outputs."""
        real_logits, real_class_loss = real
        fake_logits, fake_class_loss = fake
        per_example = (
            self._bce(1.0, real_logits) + self._bce(0.0, fake_logits)
        ) / 2.0
        if real_class_loss is not None:
            per_example += (real_class_loss + fake_class_loss) / 2.0
        return ops.mean(per_example), per_example

    def _generator_loss(self, fake):
        fake_logits, fake_class_loss = fake
        per_example = self._bce(1.0, fake_logits)
        if fake_class_loss is not None:
            per_example += fake_class_loss
        return ops.mean(per_example), per_example

    def _update_metrics(self, d_loss, g_loss, real_logits, fake_logits):
        # Per-example values of every replica, so the logs are global means.
        values = self._all_replicas([d_loss, g_loss, real_logits, fake_logits])
        d_loss, g_loss, real_logits, fake_logits = values
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_prob_tracker.update_state(ops.sigmoid(real_logits))
        self.fake_prob_tracker.update_state(ops.sigmoid(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    def _augmented(self, images):
        """The images as the discriminator sees them in training."""
        if self.augment is None:
            return images
        return self.augment(images)

    def _gan_train_step(self, data):
        real, real_labels = self._real_batch(data)
        if self.mirror:
            real = augment_lib.mirror(real, self.mirror_seed_generator)
        noise = self._noise(ops.shape(real)[0])
        fake_labels = self._fake_labels(ops.shape(real)[0])
        # The generator runs once per step, as in PyTorch's DCGAN example:
        # its images enter the discriminator's update as constants, and the
        # generator's update carries the updated discriminator's gradient
        # with respect to them back through that same recorded pass.
        fake, generator_vjp = self._forward_with_vjp(
            lambda: self._generate(self.generator, noise, fake_labels, True),
            self.generator.trainable_variables,
        )
        fake = ops.stop_gradient(fake)

        def discriminator_objective():
            real_outputs = self._discriminate(
                self._augmented(real), real_labels
            )
            fake_outputs = self._discriminate(
                self._augmented(fake), fake_labels
            )
            loss, per_example = self._discriminator_loss(
                real_outputs, fake_outputs
            )
            return loss, (per_example, real_outputs[0], fake_outputs[0])

        def generator_objective(images):
            return self._generator_loss(
                self._discriminate(self._augmented(images), fake_labels)
            )

        _, (d_loss, real_logits, fake_logits) = self._minimize(
            self.d_optimizer,
            self.discriminator.trainable_variables,
            discriminator_objective,
        )
        if isinstance(self.augment, augment_lib.AdaptiveAugment):
            self.augment.update(ops.stop_gradient(real_logits))
        _, g_loss, fake_gradient = self._input_gradient(
            self.g_optimizer, generator_objective, fake
        )
        self._apply(
            self.g_optimizer,
            self.generator.trainable_variables,
            generator_vjp(fake_gradient),
        )
        self.update_ema()
        logs = self._update_metrics(d_loss, g_loss, real_logits, fake_logits)
        if isinstance(self.augment, augment_lib.AdaptiveAugment):
            logs["aug_p"] = self.augment.p.value
            logs["r_t"] = self.augment.r_t.value
        return logs

    def _gan_test_step(self, data):
        real, real_labels = self._real_batch(data)
        noise = self._noise(ops.shape(real)[0])
        fake_labels = self._fake_labels(ops.shape(real)[0])
        fake = self._generate(self.generator, noise, fake_labels, False)
        real_outputs = self._discriminate(real, real_labels, False)
        fake_outputs = self._discriminate(fake, fake_labels, False)
        _, d_loss = self._discriminator_loss(real_outputs, fake_outputs)
        _, g_loss = self._generator_loss(fake_outputs)
        return self._update_metrics(
            d_loss, g_loss, real_outputs[0], fake_outputs[0]
        )

    def export_generator(self, path, format="saved_model"):
        """Exports the sampling generator (the EMA one if kept) for inference.

        Inputs `noise` `(batch, latent_dim)` float32 (and `labels` `(batch,)`
        int32 if conditional); output `images`, float32 in [-1, 1].
        `format`: `"saved_model"` (a folder), `"onnx"` or `"litert"`
        (`.tflite`); which backend exports which: `keras_dcgan.export`.
        Returns `path`.
        """
        from keras_dcgan import export

        return export.export_generator(self, path, format=format)

    @classmethod
    def from_preset(cls, preset, file_hash=None, compile=True):
        """Loads a trained `DCGAN`: a shipped preset, a file or a URL.

        `DCGAN.presets` maps the shipped presets' names to their metadata
        (data, recipe, training time, quality figures). The model holds the
        trained networks, compiled with the preset's recipe optimizers
        (fresh state), ready for `generate()` and for `fit()` to fine-tune.

        Args:
            preset: a name in `DCGAN.presets`, a preset folder (see
                `keras_dcgan.pretrained.export_preset`), a `.keras` file of
                a `DCGAN`, or an `http(s)://` or `file://` URL of either
                (a folder as a `.zip`), downloaded once into the Keras cache.
            file_hash: string. The sha256 of the file at a URL.
            compile: bool. Whether to compile a model that is not compiled
                yet. Defaults to `True`.

        Example:

        ```python
        model = keras_dcgan.DCGAN.from_preset("dcgan_pokemon_64")
        images = model.generate(21, seed=0)  # (21, 64, 64, 3) in [-1, 1]
        ```
        """
        return pretrained.from_preset(cls, preset, file_hash, compile)

    # Saving: the networks go in the config, the noise state in the weights.

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                name: keras.saving.serialize_keras_object(getattr(self, name))
                for name in _SAVED_LAYERS
            }
        )
        config.update(
            {
                "latent_dim": self.latent_dim,
                "seed": self.seed,
                "ema_decay": self.ema_decay,
                "num_classes": self.num_classes,
                "class_names": self.class_names,
                "mirror": self.mirror,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in _SAVED_LAYERS:
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(
                    config[name]
                )
        return cls(**config)

    def _own_variables(self):
        """The model's variables outside its layers, by their saved names."""
        own = {"noise_seed_state": self.seed_generator.state}
        if self.ema_generator is not None:
            own["ema_updates"] = self.ema_updates
        if self.mirror:
            own["mirror_seed_state"] = self.mirror_seed_generator.state
        return own

    def save_own_variables(self, store):
        for name, variable in self._own_variables().items():
            store[name] = ops.convert_to_numpy(variable)

    def load_own_variables(self, store):
        for name, variable in self._own_variables().items():
            variable.assign(store[name])


_SAVED_LAYERS = ("generator", "discriminator", "augment")


def _offset(seed, offset):
    """A seed of its own for each random stream of a seeded model."""
    return None if seed is None else seed + offset
