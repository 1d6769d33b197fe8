"""Image-level evaluation: generate, extract features, compare, report."""

import json
import os

import keras
import numpy as np

from keras_dcgan import validation
from keras_dcgan.evaluation import metrics
from keras_dcgan.evaluation.features import extract_features
from keras_dcgan.noise import fixed_noise

METRIC_NAMES = ("fid", "kid", "precision", "recall", "density", "coverage")
_LOWER_IS_BETTER = {"fid": True, "kid": True}


def generate_images(model, num_images, seed=0, batch_size=256):
    """Generates images with a `DCGAN` or a bare generator model.

    Args:
        model: a `keras_dcgan.DCGAN`, or a generator `keras.Model` whose
            input is noise of shape `(batch, ..., latent_dim)`.
        num_images: int. How many images to make.
        seed: int or None. Seed of the NumPy noise. Defaults to `0`.
        batch_size: int. Images per call. Defaults to `256`.

    Returns:
        A float32 NumPy array of images in [-1, 1].
    """
    num_images = validation.positive_int("num_images", num_images)
    if hasattr(model, "generate"):
        return model.generate(num_images, seed=seed, batch_size=batch_size)
    noise_shape = tuple(model.input_shape[1:])
    noise = fixed_noise(num_images, noise_shape, seed)
    return np.asarray(model.predict(noise, batch_size=batch_size, verbose=0))


def per_class_accuracy(classifier, images, labels, num_classes):
    """The fraction of each class's `images` that `classifier` (a
    `keras.Model` to class logits) assigns to their class in `labels`."""
    logits = classifier.predict(images, batch_size=500, verbose=0)
    predicted = np.argmax(logits, axis=-1)
    return [
        float(np.mean(predicted[labels == k] == k)) for k in range(num_classes)
    ]


def class_agreement(model, classifier, per_class=200, seed=0, **generate_kw):
    """How often a classifier names the class a conditional model was asked for.

    Args:
        model: a class-conditional `keras_dcgan.DCGAN`.
        classifier: a `keras.Model` from images in [-1, 1] to class logits
            (such as the first model of `load_fashion_mnist_evaluator()`).
        per_class: int. Images generated for each class. Defaults to `200`.
        seed: int. Seed of the noise. Defaults to `0`.
        **generate_kw: more arguments of `model.generate()`, such as
            `truncation` or `use_ema`.

    Returns:
        A dict `{"mean", "per_class", "pixel_std"}`: the fraction of each
        class's images that the classifier assigns to that class, their
        mean, and the variety within a class: the per-pixel standard
        deviation across one class's images, averaged over pixels and
        classes (near 0 when each class is drawn as one image; 0.29 for the
        Fashion-MNIST test images).
    """
    num_classes = getattr(model, "num_classes", None)
    if not num_classes:
        raise ValueError(
            "class_agreement needs a class-conditional model (one with "
            f"`num_classes`). Received: num_classes={num_classes}"
        )
    per_class = validation.positive_int("per_class", per_class)
    labels = np.arange(per_class * num_classes) % num_classes
    images = model.generate(
        len(labels), seed=seed, labels=labels, **generate_kw
    )
    agreement = per_class_accuracy(classifier, images, labels, num_classes)
    by_class = images.reshape((per_class, num_classes, -1))
    return {
        "mean": float(np.mean(agreement)),
        "per_class": agreement,
        "pixel_std": float(np.mean(np.std(by_class, axis=0))),
    }


def compare_features(
    real,
    fake,
    floor,
    k=5,
    kid_subsets=100,
    kid_subset_size=1000,
    seed=0,
):
    """Every metric for `fake` against `real`, and for `floor` against `real`.

    `floor` holds other real images, as many as `fake`, disjoint from
    `real`: its scores are the best a generator can reach at these sample
    counts (the Frechet distance of two real samples is not 0 at finite
    sizes).

    Args:
        real: array `(n, d)`, features of the reference real images.
        fake: array `(m, d)`, features of generated images.
        floor: array `(m, d)`, features of other real images, or `None`
            to skip the real-vs-real column.
        k: int. Neighbourhood size of precision/recall. Defaults to `5`.
        kid_subsets: int. Subsets of the kernel distance. Defaults to `100`.
        kid_subset_size: int. Subset size of the kernel distance.
            Defaults to `1000`.
        seed: int. Seed of the kernel distance's subsets. Defaults to `0`.

    Returns:
        A dict `{"num_real", "num_fake", "num_floor", "metrics"}` where
        `metrics` maps each name of `METRIC_NAMES` to
        `{"value", "real_floor"}` (KID adds `"std"` and `"real_floor_std"`).
    """

    def scores(other):
        kid, kid_std = metrics.kernel_distance(
            real,
            other,
            num_subsets=kid_subsets,
            subset_size=kid_subset_size,
            seed=seed,
        )
        out = {
            "fid": metrics.frechet_distance(real, other),
            "kid": kid,
            "kid_std": kid_std,
        }
        out.update(metrics.precision_recall_density_coverage(real, other, k))
        return out

    generated = scores(fake)
    baseline = scores(floor) if floor is not None else None
    table = {}
    for name in METRIC_NAMES:
        entry = {
            "value": generated[name],
            "real_floor": baseline[name] if baseline else None,
        }
        if name == "kid":
            entry["std"] = generated["kid_std"]
            entry["real_floor_std"] = baseline["kid_std"] if baseline else None
        table[name] = entry
    return {
        "num_real": len(real),
        "num_fake": len(fake),
        "num_floor": len(floor) if floor is not None else 0,
        "metrics": table,
    }


def split_real(real, num_fake):
    """Splits real images or features into `(reference, floor)`.

    The first `num_fake` rows are the real-vs-real floor set (as many as
    the generated images), the rest the reference set.
    """
    if len(real) < num_fake + 2:
        raise ValueError(
            "The real-vs-real floor needs at least `num_samples` + 2 real "
            f"images ({num_fake} + 2). Received: {len(real)} real images"
        )
    return real[num_fake:], real[:num_fake]


def quality_report(
    model,
    real_images,
    extractor,
    num_samples=1000,
    train_images=None,
    seed=0,
    k=5,
    kid_subsets=100,
    batch_size=256,
    extractor_name=None,
):
    """Evaluates a generator against real images with one feature extractor.

    Generates `num_samples` images and compares them with real images: the
    first `num_samples` real images form the real-vs-real floor set, the
    rest the reference set. If `train_images` are given, the real images
    must be held out from training, and the memorisation check runs too.

    Args:
        model: a `keras_dcgan.DCGAN` or a generator `keras.Model`, or a NumPy
            array of already generated images.
        real_images: array of real images in [-1, 1] (at least
            `num_samples + k + 1`).
        extractor: a `keras.Model` from images to features.
        num_samples: int. Generated images. Defaults to `1000`.
        train_images: optional array of the training images.
        seed: int. Seed of the noise and the KID subsets. Defaults to `0`.
        k: int. Neighbourhood size of precision/recall. Defaults to `5`.
        kid_subsets: int. Subsets of the kernel distance. Defaults to `100`.
        batch_size: int. Images per network call. Defaults to `256`.
        extractor_name: optional name printed with the table; defaults to
            the extractor's name.

    Returns:
        The dict of `compare_features`, plus `"extractor"`,
        `"num_features"` and `"memorization"` (the dict of
        `metrics.memorization`, or `None`).

    Example:

    ```python
    _, extractor = load_fashion_mnist_evaluator()
    report = quality_report(model, test_images, extractor, num_samples=1000)
    print(format_report(report))
    ```
    """
    num_samples = validation.positive_int("num_samples", num_samples)
    if isinstance(model, np.ndarray):
        fake_images = model[:num_samples]
    else:
        fake_images = generate_images(model, num_samples, seed, batch_size)
    reference, floor = split_real(np.asarray(real_images), len(fake_images))

    def features_of(images):
        return extract_features(extractor, images, batch_size)

    real = features_of(reference)
    fake = features_of(fake_images)
    report = compare_features(
        real,
        fake,
        features_of(floor),
        k=k,
        kid_subsets=kid_subsets,
        seed=seed,
    )
    report["extractor"] = extractor_name or extractor.name
    report["num_features"] = int(real.shape[1])
    report["memorization"] = None
    if train_images is not None:
        report["memorization"] = metrics.memorization(
            features_of(train_images), fake, real
        )
        report["memorization"]["num_train"] = len(train_images)
        report["memorization"]["num_heldout"] = len(real)
    return report


def format_report(report):
    """Formats a `quality_report` as a plain-text table.

    Every row shows the generated value, the real-vs-real floor at the same
    sample counts, and the counts themselves.
    """
    n, m = report["num_real"], report["num_fake"]
    lines = [
        f"Features: {report.get('extractor', '?')} "
        f"({report.get('num_features', '?')} numbers per image)",
        f"{'metric':<11}{'generated':>15}{'real-vs-real':>16}  samples",
    ]
    for name in METRIC_NAMES:
        entry = report["metrics"][name]
        floor = entry["real_floor"]
        if name == "kid":
            value = f"{entry['value']:.4f}±{entry['std']:.4f}"
            floor_text = (
                f"{floor:.4f}±{entry['real_floor_std']:.4f}"
                if floor is not None
                else "-"
            )
        else:
            value = f"{entry['value']:.3f}"
            floor_text = f"{floor:.3f}" if floor is not None else "-"
        direction = "lower" if _LOWER_IS_BETTER.get(name) else "higher"
        lines.append(
            f"{name.upper() if name in ('fid', 'kid') else name:<11}"
            f"{value:>15}{floor_text:>16}  {m} generated vs {n} real; "
            f"floor {report['num_floor']} real vs the same {n} "
            f"({direction} is better)"
        )
    check = report.get("memorization")
    if check:
        lines.append(
            f"memorisation: median distance to the nearest of "
            f"{check['num_train']} training images {check['fake_median']:.3f}"
            f" for {m} generated vs {check['heldout_median']:.3f} for "
            f"{check['num_heldout']} held-out real (ratio "
            f"{check['ratio']:.2f}); near-copies "
            f"{100 * check['copy_fraction']:.1f}% -> "
            + ("MEMORISED" if check["memorized"] else "no memorisation")
        )
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot write {type(value).__name__} as JSON.")


def write_report_json(report, path):
    """Writes a report as JSON (with `keras` backend and version added)."""
    data = dict(report, backend=keras.backend.backend())
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)
        f.write("\n")
