"""`Sampling`: the generator's side of a DCGAN: its passes, the moving
average of its weights (the EMA generator), and `generate()`."""

import keras
import numpy as np
from keras import ops

from keras_dcgan import validation
from keras_dcgan.layers import GBlock
from keras_dcgan.noise import fixed_noise, truncate


class Sampling:
    """Image generation for `DCGAN`: noise (and labels) in, NumPy images out.

    A mixin of `DCGAN`: it uses the model's `latent_dim`, `noise_shape`,
    `num_classes`, `generator`, `ema_generator`, `ema_decay` and
    `ema_updates`, and gives the training step `_generate` and
    `update_ema`.
    """

    def _generate(self, generator, noise, labels, training):
        noise = ops.reshape(noise, (-1,) + self.noise_shape)
        if labels is None:
            return generator(noise, training=training)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        return generator([noise, labels], training=training)

    def update_ema(self):
        """Moves `ema_generator` towards the generator (if there is one).

        Every trainable weight becomes `d * average + (1 - d) * current`
        (BatchNormalization statistics: see `recompute_ema_statistics`).
        The decay warms up as in `tf.train.ExponentialMovingAverage` with
        `num_updates`: `d = min(ema_decay, (1 + t) / (10 + t))` at update t, so
        the random initial weights are forgotten within the first epoch
        instead of weighing on the average for thousands of steps.
        `train_step` calls it after each generator update.
        """
        if self.ema_generator is None:
            return
        steps = ops.cast(self.ema_updates, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + steps) / (10.0 + steps))
        pairs = zip(self.ema_generator.weights, self.generator.weights)
        for average, current in pairs:
            if current.trainable:
                current = ops.cast(current, "float32")
                average.assign(decay * average + (1.0 - decay) * current)
        self.ema_updates.assign(self.ema_updates + 1)

    def generate(
        self,
        num_images,
        seed=None,
        batch_size=256,
        truncation=None,
        labels=None,
        use_ema=True,
    ):
        """Generates images from standard normal noise.

        The noise is drawn with NumPy, so a given `seed` gives the same noise
        (and labels) on every backend.

        Args:
            num_images: int. How many images to make.
            seed: int or None. Seed of the noise. Defaults to `None`.
            batch_size: int. Images per generator call. Defaults to `256`.
            truncation: float or None. Redraw noise values beyond this many
                standard deviations (the truncation trick: more typical,
                less varied images). Defaults to `None`, plain N(0, 1).
            labels: for a conditional model, an int array `(num_images,)`
                of the classes to draw. Defaults to `None`: uniformly drawn
                classes (seeded by `seed`).
            use_ema: bool. Use `ema_generator` when the model has one.
                Defaults to `True`; `False` gives the trained generator.

        Returns:
            A float32 NumPy array `(num_images, height, width, channels)` with
            values in [-1, 1].
        """
        num_images = validation.positive_int("num_images", num_images)
        noise = fixed_noise(num_images, self.latent_dim, seed)
        if truncation is not None:
            # Redraws from a stream of their own, not the first draw's.
            noise = truncate(
                noise, truncation, None if seed is None else [seed, 1]
            )
        if self.num_classes is not None and labels is None:
            labels = _uniform_labels(self.num_classes, num_images, seed)
        return self.generate_from_noise(
            noise, labels=labels, batch_size=batch_size, use_ema=use_ema
        )

    def generate_from_noise(
        self, noise, labels=None, batch_size=256, use_ema=True
    ):
        """The generator's images (inference mode) for given noise.

        Args:
            noise: array `(num_images, latent_dim)`.
            labels: int array `(num_images,)` of classes in
                `[0, num_classes)`; required by a conditional model, refused
                by an unconditional one.
            batch_size: int. Images per generator call. Defaults to `256`.
            use_ema: bool. Use `ema_generator` when the model has one.
                Defaults to `True`.

        Returns:
            A float32 NumPy array of images in [-1, 1].
        """
        noise = np.asarray(noise, dtype="float32")
        if noise.ndim != 2 or noise.shape[1] != self.latent_dim:
            raise ValueError(
                "`noise` must have the shape (num_images, latent_dim) = "
                f"(num_images, {self.latent_dim}). "
                f"Received: noise.shape={noise.shape}"
            )
        network = self.sampling_generator(use_ema)
        inputs = noise.reshape((-1,) + self.noise_shape)
        labels = validation.check_labels(labels, self.num_classes, len(noise))
        if labels is not None:
            inputs = [inputs, labels]
        images = network.predict(inputs, batch_size=batch_size, verbose=0)
        return np.asarray(images, dtype="float32")

    def sampling_generator(self, use_ema=True):
        """The network that samples: `ema_generator` (its BatchNorm
        statistics recomputed if the average moved since) when the model
        keeps one and `use_ema`, else `generator`."""
        if not use_ema or self.ema_generator is None:
            return self.generator
        updates = int(keras.ops.convert_to_numpy(self.ema_updates))
        if getattr(self, "_ema_statistics_at", None) != updates:
            self.recompute_ema_statistics()
        return self.ema_generator

    def recompute_ema_statistics(self, num_images=1024, batch_size=256):
        """Sets `ema_generator`'s BatchNormalization statistics from its own
        activations.

        An average of weights is a network that was never trained, and the
        statistics its BatchNormalization layers need are those of its own
        activations, not an average of the trained generator's ("standing
        statistics", Brock, Donahue and Simonyan, "Large Scale GAN Training
        for High Fidelity Natural Image Synthesis", 2019). The average runs
        in training mode on `num_images` seeded noise vectors (and uniformly
        drawn labels), and each statistic becomes its mean over those
        batches. The result depends on the averaged weights alone.
        `generate()` calls it whenever the average has moved since.

        Args:
            num_images: int. Noise vectors to measure on. Defaults to `1024`.
            batch_size: int. Images per generator call. Defaults to `256`.
        """
        if self.ema_generator is None:
            raise ValueError(
                "`recompute_ema_statistics()` needs a model with an average "
                "generator. Received: a DCGAN with ema_decay=None"
            )
        num_images = validation.positive_int("num_images", num_images)
        batch_size = validation.positive_int("batch_size", batch_size)
        layers = _batch_norm_layers(self.ema_generator)
        noise = fixed_noise(num_images, self.latent_dim, seed=0)
        labels = None
        if self.num_classes is not None:
            labels = _uniform_labels(self.num_classes, num_images, seed=0)
        settings = [(layer.trainable, layer.momentum) for layer in layers]
        try:
            for layer in layers:
                layer.trainable = True  # a frozen layer uses its statistics
            for i, start in enumerate(range(0, num_images, batch_size)):
                for layer in layers:
                    layer.momentum = i / (i + 1)  # the mean over batches
                end = start + batch_size
                batch_labels = None if labels is None else labels[start:end]
                self._generate(
                    self.ema_generator,
                    noise[start:end],
                    batch_labels,
                    training=True,
                )
        finally:
            for layer, (trainable, momentum) in zip(layers, settings):
                layer.trainable, layer.momentum = trainable, momentum
        self._ema_statistics_at = int(
            keras.ops.convert_to_numpy(self.ema_updates)
        )


def _uniform_labels(num_classes, num_images, seed):
    """Uniformly drawn classes, from a stream of their own beside the noise."""
    rng = np.random.default_rng(None if seed is None else [seed, 2])
    return rng.integers(0, num_classes, num_images)


def _batch_norm_layers(network):
    """The BatchNormalization layers of `network`, in `GBlock`s and nested
    models too."""
    found = []
    for layer in network.layers:
        if isinstance(layer, GBlock):
            layer = layer.batch_norm
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_batch_norm_layers(layer))
    return found


def frozen_copy(network, name):
    """A non-trainable copy of `network`, with the same weights."""
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    copy.trainable = False
    copy.name = name
    return copy
