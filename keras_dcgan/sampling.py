"""`Sampling`: a trained DCGAN's `generate()` and `generate_from_noise()`."""

import numpy as np

from keras_dcgan import validation
from keras_dcgan.noise import fixed_noise, truncate


class Sampling:
    """Image generation for `DCGAN`: noise (and labels) in, NumPy images out.

    A mixin of `DCGAN`: it uses the model's `latent_dim`, `noise_shape`,
    `num_classes`, `generator` and `ema_generator`.
    """

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
            rng = np.random.default_rng(None if seed is None else [seed, 2])
            labels = rng.integers(0, self.num_classes, num_images)
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
        network = self.generator
        if use_ema and self.ema_generator is not None:
            network = self.ema_generator
        inputs = noise.reshape((-1,) + self.noise_shape)
        labels = validation.check_labels(labels, self.num_classes, len(noise))
        if labels is not None:
            inputs = [inputs, labels]
        images = network.predict(inputs, batch_size=batch_size, verbose=0)
        return np.asarray(images, dtype="float32")
