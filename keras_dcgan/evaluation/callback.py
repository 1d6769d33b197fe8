"""`BestKIDCheckpoint`: keep the generator from the epoch with the best KID."""

import os

import keras
import numpy as np

from keras_dcgan import validation
from keras_dcgan.evaluation import metrics
from keras_dcgan.evaluation.features import extract_features
from keras_dcgan.noise import fixed_noise


class BestKIDCheckpoint(keras.callbacks.Callback):
    """Computes KID every few epochs and keeps the best generator.

    Published DCGAN logs show sample quality peaking early and then
    decaying while the losses look unremarkable. Every `every` epochs this
    callback generates `num_samples` images from a fixed noise seed,
    computes the kernel distance of their features to `real_features`, adds
    it to the epoch logs as `"kid"`, and remembers the generator's weights
    when the KID is the lowest so far (optionally saving the generator to
    `filepath`). At the end of training it puts the best weights back,
    unless `restore_best=False`.

    Args:
        extractor: a `keras.Model` from images to features, such as the
            extractor of `load_fashion_mnist_evaluator()`.
        real_features: array `(n, d)` of the extractor's features of real
            images.
        every: int. Evaluate every this many epochs (and after the last).
            Defaults to `1`.
        num_samples: int. Generated images per evaluation. Defaults to
            `500`.
        seed: int. Seed of the noise and of the KID subsets, the same at
            every evaluation. Defaults to `0`.
        kid_subsets: int. Subsets of the kernel distance. Defaults to `20`.
        filepath: optional path of a `.keras` file where the best generator
            is saved each time it improves.
        restore_best: bool. Whether to restore the best generator weights at
            the end of training. Defaults to `True`.
        verbose: int. `1` prints one line per evaluation. Defaults to `0`.

    Example:

    ```python
    _, extractor = load_fashion_mnist_evaluator()
    real = extract_features(extractor, test_images[:1000])
    best = BestKIDCheckpoint(extractor, real, every=2, num_samples=500)
    model.fit(dataset, epochs=20, callbacks=[best])
    best.best_kid, best.best_epoch
    ```
    """

    def __init__(
        self,
        extractor,
        real_features,
        every=1,
        num_samples=500,
        seed=0,
        kid_subsets=20,
        filepath=None,
        restore_best=True,
        verbose=0,
    ):
        super().__init__()
        self.extractor = extractor
        self.real_features = np.asarray(real_features, dtype="float64")
        self.every = validation.positive_int("every", every)
        self.num_samples = validation.positive_int("num_samples", num_samples)
        self.seed = int(seed)
        self.kid_subsets = validation.positive_int("kid_subsets", kid_subsets)
        self.filepath = None if filepath is None else os.fspath(filepath)
        if self.filepath is not None and not self.filepath.endswith(".keras"):
            raise ValueError(
                "`filepath` must end in `.keras`. "
                f"Received: filepath={filepath!r}"
            )
        self.restore_best = bool(restore_best)
        self.verbose = int(verbose)
        self.best_kid = np.inf
        self.best_epoch = None
        self.best_weights = None
        self.history = []  # (epoch, kid, kid_std), epochs counted from 1

    def _generator(self):
        return getattr(self.model, "generator", self.model)

    def compute_kid(self):
        """KID of the current generator; returns `(mean, std)`."""
        noise_shape = tuple(self._generator().input_shape[1:])
        noise = fixed_noise(self.num_samples, noise_shape, self.seed)
        images = self._generator().predict(noise, batch_size=256, verbose=0)
        fake = extract_features(self.extractor, images)
        return metrics.kernel_distance(
            self.real_features,
            fake,
            num_subsets=self.kid_subsets,
            subset_size=min(1000, self.num_samples),
            seed=self.seed,
        )

    def on_epoch_end(self, epoch, logs=None):
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and epoch + 1 != last:
            return
        kid, kid_std = self.compute_kid()
        self.history.append((epoch + 1, kid, kid_std))
        if logs is not None:
            logs["kid"] = kid
        improved = kid < self.best_kid
        if improved:
            self.best_kid, self.best_epoch = kid, epoch + 1
            self.best_weights = self._generator().get_weights()
            if self.filepath is not None:
                self._generator().save(self.filepath)
        if self.verbose:
            print(
                f"epoch {epoch + 1}: KID {kid:.4f}±{kid_std:.4f} "
                f"({self.num_samples} generated vs "
                f"{len(self.real_features)} real)"
                + (" best so far" if improved else "")
            )

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self._generator().set_weights(self.best_weights)
