"""`BestKIDCheckpoint`: keep the model of the epoch with the best KID."""

import json
import math
import os

import keras
import numpy as np

from keras_dcgan import checkpoints, validation
from keras_dcgan.evaluation import features, metrics
from keras_dcgan.files import write_bytes_atomic
from keras_dcgan.noise import fixed_noise

BEST_MODEL_FILE = "best.keras"
BEST_RECORD_FILE = "best.json"
# `train_run(select_extractor=...)`: the features and their names.
EXTRACTOR_NAMES = {
    "evaluator": "Fashion-MNIST evaluator",
    "random": "random-weight CNN, seed 0",
}


class BestKIDCheckpoint(keras.callbacks.Callback):
    """Computes KID every few epochs and keeps the best model.

    Published DCGAN logs show sample quality peaking early and then
    decaying while the losses look unremarkable. Every `every` epochs (and
    after the last) this callback generates `num_samples` images from a
    fixed noise seed (with `model.generate()` for a `DCGAN`, or from the
    model itself, or its `generator`, for plain models), computes the
    kernel distance of their features to `real_features` and adds it to the
    epoch logs as `"kid"` (NaN on the epochs in between, so the logs line
    up per epoch). When the KID is the lowest so far, the model is saved to
    `filepath` (atomically: the whole model, loadable with
    `keras.saving.load_model`). At the end of training the best weights
    are put back, unless `restore_best=False`.

    With `checkpoint_dir`, a run folder whose `Checkpoint` commits every
    epoch (as in `keras_dcgan.runs.train_run`), an evaluation counts only
    once the checkpoint of its epoch is committed; the evaluations are
    recorded in `best.json` there, and a resumed run starts from that
    record, so a worse later epoch never replaces the best model and a run
    killed and resumed ends with the record of an uninterrupted one. The
    model at the start of `fit()` must then be the folder's checkpoint (as
    `train_run` resumes it).

    Args:
        extractor: a `keras.Model` from images to features, such as the
            extractor of `load_fashion_mnist_evaluator()`.
        real_features: array `(n, d)` of the extractor's features of real
            images, `n >= 2`.
        every: int. Evaluate every this many epochs (and after the last).
            Defaults to `1`.
        num_samples: int. Generated images per evaluation. Defaults to
            `500`.
        seed: int. Seed of the noise and of the KID subsets, the same at
            every evaluation. Defaults to `0`.
        kid_subsets: int. Subsets of the kernel distance. Defaults to `20`.
        filepath: optional path of a `.keras` file where the best model is
            saved each time it improves. Defaults to `best.keras` in
            `checkpoint_dir` when that is given.
        restore_best: bool. Whether to restore the best weights at the end
            of training. Defaults to `True`.
        verbose: int. `1` prints one line per evaluation. Defaults to `0`.
        extractor_name: optional string naming the features in the record
            and the printed lines. Defaults to the extractor's name.
        checkpoint_dir: optional run folder (see above). Defaults to
            `None`.

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
        extractor_name=None,
        checkpoint_dir=None,
    ):
        super().__init__()
        self.extractor = extractor
        self.real_features = np.asarray(real_features, dtype="float64")
        if self.real_features.ndim != 2 or len(self.real_features) < 2:
            raise ValueError(
                "`real_features` must be an array (n, d) of features with "
                "n >= 2. Received: "
                f"real_features.shape={self.real_features.shape}"
            )
        self.every = validation.positive_int("every", every)
        self.num_samples = validation.positive_int("num_samples", num_samples)
        self.seed = int(seed)
        self.kid_subsets = validation.positive_int("kid_subsets", kid_subsets)
        self.checkpoint_dir = (
            None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        )
        if filepath is None and self.checkpoint_dir is not None:
            filepath = os.path.join(self.checkpoint_dir, BEST_MODEL_FILE)
        self.filepath = None if filepath is None else os.fspath(filepath)
        if self.filepath is not None and not self.filepath.endswith(".keras"):
            raise ValueError(
                "`filepath` must end in `.keras`. "
                f"Received: filepath={filepath!r}"
            )
        self.restore_best = bool(restore_best)
        self.verbose = int(verbose)
        self.extractor_name = extractor_name or getattr(
            extractor, "name", "features"
        )
        self.best_kid = np.inf
        self.best_kid_std = None
        self.best_epoch = None
        self.best_weights = None
        self.history = []  # (epoch, kid, kid_std), epochs counted from 1
        self._pending = None  # An evaluation waiting for its checkpoint.

    def generate_images(self):
        """The `num_samples` images of one evaluation, from fixed noise."""
        if hasattr(self.model, "generate"):
            return self.model.generate(self.num_samples, seed=self.seed)
        generator = getattr(self.model, "generator", self.model)
        noise_shape = tuple(generator.input_shape[1:])
        noise = fixed_noise(self.num_samples, noise_shape, self.seed)
        return generator.predict(noise, batch_size=256, verbose=0)

    def compute_kid(self):
        """KID of the current model; returns `(mean, std)`.

        Non-finite images or features (a diverged model) score NaN.
        """
        nan = (float("nan"), float("nan"))
        images = np.asarray(self.generate_images(), dtype="float32")
        if not np.all(np.isfinite(images)):
            return nan
        fake = features.extract_features(self.extractor, images)
        if not np.all(np.isfinite(fake)):
            return nan
        # Subsets of half the smaller set (at most 1,000), so that they
        # differ and their spread is a standard deviation worth reporting.
        smaller = min(len(self.real_features), len(fake))
        return metrics.kernel_distance(
            self.real_features,
            fake,
            num_subsets=self.kid_subsets,
            subset_size=max(2, min(1000, smaller // 2)),
            seed=self.seed,
        )

    def _evaluates(self, epoch):
        last = self.params.get("epochs") if self.params else None
        return (epoch + 1) % self.every == 0 or epoch + 1 == last

    def on_train_begin(self, logs=None):
        self._pending = None
        if self.checkpoint_dir is not None:
            self._resume()

    def on_epoch_begin(self, epoch, logs=None):
        self._commit_pending()

    def on_epoch_end(self, epoch, logs=None):
        if not self._evaluates(epoch):
            if logs is not None:
                logs["kid"] = float("nan")
            return
        kid, kid_std = self.compute_kid()
        if logs is not None:
            logs["kid"] = kid
        self._pending = (epoch + 1, kid, kid_std)
        if self.checkpoint_dir is None:
            self._commit_pending()

    def on_train_end(self, logs=None):
        self._commit_pending()
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def _resume(self):
        """Loads the record of the evaluations whose checkpoint exists."""
        record = checkpoints.read_checkpoint(self.checkpoint_dir)
        committed = record["epoch"] if record else 0
        saved = read_best_record(self.checkpoint_dir) or {}
        if any(saved.get(k) != v for k, v in self._settings().items()):
            saved = {}  # Scores on other features are not comparable.
        self.history = [
            (int(h["epoch"]), _float(h["kid"]), _float(h["kid_std"]))
            for h in saved.get("history", [])
            if int(h["epoch"]) <= committed
        ]
        self.best_kid, self.best_kid_std, self.best_epoch = np.inf, None, None
        for epoch, kid, kid_std in self.history:
            if kid < self.best_kid:
                self.best_kid, self.best_kid_std = kid, kid_std
                self.best_epoch = epoch
        if self.restore_best and self.best_epoch is not None:
            if self.filepath is not None and os.path.isfile(self.filepath):
                best = checkpoints.load_model(self.filepath)
                self.best_weights = best.get_weights()
        evaluated = {epoch for epoch, _, _ in self.history}
        if committed and committed not in evaluated:
            if self._evaluates(committed - 1):
                # Stopped between the checkpoint and the record: the model
                # is that checkpoint's, so its evaluation is made now.
                self._record(committed, *self.compute_kid())

    def _commit_pending(self):
        if self._pending is None:
            return
        epoch, kid, kid_std = self._pending
        self._pending = None
        if self.checkpoint_dir is not None:
            record = checkpoints.read_checkpoint(self.checkpoint_dir)
            if record is None or record["epoch"] != epoch:
                return  # No checkpoint of this epoch: it does not count.
        self._record(epoch, kid, kid_std)

    def _record(self, epoch, kid, kid_std):
        self.history = [h for h in self.history if h[0] != epoch]
        self.history.append((epoch, kid, kid_std))
        improved = kid < self.best_kid  # False for NaN.
        if improved:
            self.best_kid, self.best_kid_std = kid, kid_std
            self.best_epoch = epoch
            if self.restore_best:
                self.best_weights = self.model.get_weights()
            if self.filepath is not None:
                checkpoints.save_model_atomic(self.model, self.filepath)
        if self.checkpoint_dir is not None:
            data = json.dumps(self.record(), indent=1, sort_keys=True)
            path = os.path.join(self.checkpoint_dir, BEST_RECORD_FILE)
            write_bytes_atomic(path, data.encode())
        if self.verbose:
            print(
                f"epoch {epoch}: KID {kid:.4f}±{kid_std:.4f} "
                f"({self.num_samples} generated vs "
                f"{len(self.real_features)} real, {self.extractor_name})"
                + (" best so far" if improved else "")
            )

    def _settings(self):
        """What makes two evaluations comparable."""
        return {
            "extractor": self.extractor_name,
            "num_generated": self.num_samples,
            "num_real": len(self.real_features),
            "seed": self.seed,
        }

    def record(self):
        """The best epoch, its score and every evaluation, as a dict.

        The content of `best.json`: `epoch`, `kid` and `kid_std` of the best
        evaluation (`None` before one has a finite KID), `model` (the best
        model's file, relative to the run folder), `extractor`,
        `num_generated`, `num_real`, `every`, `seed`, `backend` and
        `history`, a list of `{"epoch", "kid", "kid_std"}`.
        """
        model = self.filepath
        if model is not None and self.checkpoint_dir is not None:
            model = os.path.relpath(model, self.checkpoint_dir)
        return {
            "metric": "kid",
            "epoch": self.best_epoch,
            "kid": _json_float(
                None if self.best_epoch is None else self.best_kid
            ),
            "kid_std": _json_float(self.best_kid_std),
            "model": model,
            **self._settings(),
            "every": self.every,
            "backend": keras.backend.backend(),
            "history": [
                {
                    "epoch": epoch,
                    "kid": _json_float(kid),
                    "kid_std": _json_float(kid_std),
                }
                for epoch, kid, kid_std in sorted(self.history)
            ],
        }


def _float(value):
    return float("nan") if value is None else float(value)


def _json_float(value):
    """`value` as a float, or `None` when missing or not finite."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def read_best_record(directory):
    """Reads a run folder's `best.json`; `None` when there is none.

    Raises:
        ValueError: if the file is not a record of `BestKIDCheckpoint`.
    """
    path = os.path.join(os.fspath(directory), BEST_RECORD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except ValueError as error:
        raise ValueError(
            f"`{path}` must be the JSON record of the best checkpoint; it "
            f"could not be read ({error}). Received: path={path!r}"
        ) from None
    if not isinstance(record, dict) or not isinstance(
        record.get("history"), list
    ):
        raise ValueError(
            f"`{path}` must be the record of the best checkpoint, with a "
            f"`history` list. Received: path={path!r}"
        )
    return record


def selection_extractor(image_shape, extractor="random"):
    """The feature extractor of a run's best-checkpoint selection.

    `"evaluator"` is the shipped Fashion-MNIST evaluator, which takes
    32x32x1 images; other images fall back to `"random"`, a fixed
    random-weight CNN (`build_random_feature_extractor(image_shape,
    seed=0)`).

    Args:
        image_shape: tuple `(height, width, channels)` of the run's images.
        extractor: `"evaluator"` or `"random"`. Defaults to `"random"`.

    Returns:
        A tuple `(extractor, name)`: the `keras.Model` and its name in
        `EXTRACTOR_NAMES`.
    """
    if extractor not in EXTRACTOR_NAMES:
        raise ValueError(
            "`extractor` must be one of "
            f"{tuple(EXTRACTOR_NAMES)}. Received: extractor={extractor!r}"
        )
    image_shape = tuple(int(d) for d in image_shape)
    if extractor == "evaluator" and (
        image_shape == features.EVALUATOR_IMAGE_SHAPE
    ):
        _, model = features.load_fashion_mnist_evaluator()
        return model, EXTRACTOR_NAMES["evaluator"]
    model = features.build_random_feature_extractor(image_shape, seed=0)
    return model, EXTRACTOR_NAMES["random"]


def run_best_checkpoint(
    directory, images, every=1, extractor="random", seed=0, num_images=1000
):
    """The `BestKIDCheckpoint` of a run folder (`train_run(select_best=)`).

    The real features are those of a fixed subset of the run's training
    images: `num_images` of them (all when fewer), drawn by `seed`. Each
    evaluation generates `num_images` images. The best model is kept in
    `best.keras` and the record in `best.json` in `directory`; the weights
    are not restored at the end.

    Args:
        directory: the run folder.
        images: array `(n, height, width, channels)` of `uint8` pixels or
            floats in [-1, 1]: the run's training images.
        every: int. Evaluate every this many epochs (and after the last).
        extractor: `"evaluator"` or `"random"`, see
            `selection_extractor`.
        seed: int. Seed of the subset, the noise and the KID subsets.
        num_images: int. Real and generated images per evaluation.
            Defaults to `1000`.

    Returns:
        A `BestKIDCheckpoint`.
    """
    images = np.asarray(images)
    num_images = validation.positive_int("num_images", num_images)
    model, name = selection_extractor(images.shape[1:], extractor)
    rng = np.random.default_rng(seed)
    count = min(num_images, len(images))
    subset = images[np.sort(rng.choice(len(images), count, replace=False))]
    if subset.dtype == np.uint8:
        subset = subset.astype("float32") * (1.0 / 127.5) - 1.0
    return BestKIDCheckpoint(
        model,
        features.extract_features(model, subset),
        every=every,
        num_samples=num_images,
        seed=seed,
        restore_best=False,
        extractor_name=name,
        checkpoint_dir=directory,
    )
