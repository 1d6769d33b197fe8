import os

import keras
import numpy as np
import pytest
from helpers import fake_images, tiny_dcgan

from keras_dcgan import evaluation
from keras_dcgan.evaluation import features, metrics


@pytest.fixture(scope="module")
def extractor():
    """One random-weight extractor for 16x16x3 images (building is slow)."""
    return evaluation.build_random_feature_extractor((16, 16, 3))


def gaussian(n, d=4, mean=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return mean + scale * rng.standard_normal((n, d))


# Frechet distance.


def test_frechet_distance_of_identical_sets_is_zero():
    x = gaussian(200, d=8)
    assert evaluation.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_gaussian_formula():
    # N(mu1, diag(a^2)) vs N(mu2, diag(b^2)): |mu1 - mu2|^2 + sum (a - b)^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    a, b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 2.0, 1.5])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((a - b) ** 2)
    got = evaluation.frechet_distance_from_statistics(
        mu1, np.diag(a**2), mu2, np.diag(b**2)
    )
    assert got == pytest.approx(expected, rel=1e-10)
    # And from samples, with full (rotated) covariances.
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    x = gaussian(200_000, d=3, seed=2) * a @ rotation.T + mu1 @ rotation.T
    y = gaussian(200_000, d=3, seed=3) * b @ rotation.T + mu2 @ rotation.T
    assert evaluation.frechet_distance(x, y) == pytest.approx(
        expected, rel=0.02
    )


def test_frechet_distance_stays_real_for_singular_covariances():
    # Rank-1 covariances: a raw `sqrtm` of their product goes complex.
    x = np.outer(np.arange(10.0), [1.0, 2.0, 0.0])
    y = np.outer(np.arange(10.0), [2.0, -1.0, 0.0]) + 3.0
    value = evaluation.frechet_distance(x, y)
    assert isinstance(value, float) and np.isfinite(value) and value > 0
    # Orthogonal rank-1 covariances: the cross term vanishes, leaving the
    # mean shift plus tr(S1 + S2).
    diff = x.mean(0) - y.mean(0)
    expected = diff @ diff + 2 * np.cov(x, rowvar=False).trace()
    assert value == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_rejects_mismatched_features():
    with pytest.raises(ValueError, match=r"real.shape=\(5, 3\)"):
        evaluation.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"Received: fake.shape=\(1, 3\)"):
        evaluation.frechet_distance(np.zeros((5, 3)), np.zeros((1, 3)))


# Kernel distance.


def test_kernel_distance_of_identical_distributions_is_near_zero():
    x, y = gaussian(500, seed=0), gaussian(500, seed=1)
    same, std = evaluation.kernel_distance(
        x, y, num_subsets=20, subset_size=200
    )
    shifted, _ = evaluation.kernel_distance(
        x, gaussian(500, mean=0.5, seed=1), num_subsets=20, subset_size=200
    )
    assert abs(same) < 0.05 < 0.5 < shifted
    assert 0 < std < 0.1
    # One set against itself: -O(1/n), as the cross term keeps its diagonal.
    identical, _ = evaluation.kernel_distance(x, x, num_subsets=5)
    assert abs(identical) < 0.05


def test_kernel_distance_is_unbiased_and_grows_with_the_shift():
    # Polynomial kernel, degree 1, gamma 1, coef0 0: MMD^2 = |mu_x - mu_y|^2.
    x, y = gaussian(400, seed=0), gaussian(400, mean=1.0, seed=1)
    mean, _ = evaluation.kernel_distance(
        x, y, num_subsets=10, subset_size=400, degree=1, gamma=1.0, coef0=0.0
    )
    assert mean == pytest.approx(4.0, rel=0.1)
    small, _ = evaluation.kernel_distance(
        x, gaussian(400, mean=0.5, seed=2), num_subsets=10
    )
    large, _ = evaluation.kernel_distance(x, y, num_subsets=10)
    assert 0 < small < large


# Precision, recall, density, coverage.


def test_prdc_of_two_samples_of_one_distribution():
    scores = evaluation.precision_recall_density_coverage(
        gaussian(600, seed=0), gaussian(600, seed=1), k=5
    )
    assert set(scores) == {"precision", "recall", "density", "coverage"}
    assert scores["precision"] > 0.8 and scores["recall"] > 0.8
    assert 0.8 < scores["density"] < 1.2 and scores["coverage"] > 0.8


def test_prdc_of_a_collapsed_generator():
    real = gaussian(500, seed=0)
    collapsed = np.repeat(gaussian(1, seed=1), 100, axis=0)
    scores = evaluation.precision_recall_density_coverage(real, collapsed)
    assert scores["coverage"] < 0.05
    assert scores["recall"] < 0.05


def test_prdc_of_a_shifted_generator_has_low_precision():
    real, fake = gaussian(400, seed=0), gaussian(400, mean=4.0, seed=1)
    scores = evaluation.precision_recall_density_coverage(real, fake, k=3)
    assert scores["precision"] < 0.1 and scores["coverage"] < 0.1


def test_prdc_needs_more_than_k_samples():
    with pytest.raises(ValueError, match="at least 6 rows"):
        evaluation.precision_recall_density_coverage(
            gaussian(5), gaussian(50), k=5
        )


# Memorisation.


def test_memorization_flags_a_copy_of_the_training_set():
    train, heldout = gaussian(400, seed=0), gaussian(200, seed=1)
    copied = evaluation.memorization(train, train[:200], heldout)
    assert copied["memorized"] and copied["copy_fraction"] == 1.0
    assert copied["ratio"] == 0.0
    fresh = evaluation.memorization(train, gaussian(200, seed=2), heldout)
    assert not fresh["memorized"] and fresh["copy_fraction"] < 0.2
    assert 0.7 < fresh["ratio"] < 1.4


def test_nearest_neighbour_distances():
    refs = np.array([[0.0, 0.0], [10.0, 0.0]])
    queries = np.array([[3.0, 4.0], [10.0, 1.0]])
    np.testing.assert_allclose(
        evaluation.nearest_neighbour_distances(queries, refs), [5.0, 1.0]
    )


# Feature extractors.


def test_evaluator_weights_load_and_classify():
    classifier, extractor = evaluation.load_fashion_mnist_evaluator()
    images = fake_images(3, image_shape=(32, 32, 1))
    logits = keras.ops.convert_to_numpy(classifier(images))
    assert logits.shape == (3, 10) and np.all(np.isfinite(logits))
    feats = evaluation.extract_features(extractor, images, batch_size=2)
    assert feats.shape == (3, 128) and feats.dtype == np.float64
    # The shipped weights are trained: a blank image is not a uniform guess.
    blank = -np.ones((1, 32, 32, 1), "float32")
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(classifier(blank)))
    assert probs.max() > 0.2


def test_missing_evaluator_weights_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_fashion_evaluator"):
        evaluation.load_fashion_mnist_evaluator(tmp_path / "none.weights.h5")


def test_random_feature_extractor_is_fixed_by_its_seed(extractor):
    images = fake_images(2, image_shape=(16, 16, 3))
    b = evaluation.build_random_feature_extractor((16, 16, 3), seed=0)
    fa = evaluation.extract_features(extractor, images)
    assert fa.shape == (2, 32 + 64 + 128 + 256)
    np.testing.assert_allclose(fa, evaluation.extract_features(b, images))


def test_extract_features_checks_the_shape(extractor):
    with pytest.raises(ValueError, match=r"images.shape=\(2, 8, 8, 3\)"):
        evaluation.extract_features(extractor, np.zeros((2, 8, 8, 3)))


def test_inception_offline_error_is_fast_and_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ConnectionError, match="not cached.*copy it to"):
        evaluation.build_inception_feature_extractor(
            (32, 32, 1), download=False
        )
    # A download that cannot reach the server gives the same error.
    monkeypatch.setattr(features, "_can_reach", lambda url, timeout: False)
    with pytest.raises(ConnectionError, match="offline"):
        evaluation.build_inception_feature_extractor((32, 32, 3))


# Reports and the best-checkpoint callback.


def test_quality_report_has_the_real_floor_and_counts(extractor):
    # Already generated images (a model works the same way: see the
    # evaluate command's test); uniform noise plays a bad generator.
    model = fake_images(12, image_shape=(16, 16, 3), seed=4) * 0.2
    real = fake_images(40, image_shape=(16, 16, 3), seed=1)
    train = fake_images(30, image_shape=(16, 16, 3), seed=2)
    report = evaluation.quality_report(
        model,
        real,
        extractor,
        num_samples=12,
        train_images=train,
        kid_subsets=3,
    )
    assert (report["num_fake"], report["num_real"]) == (12, 28)
    assert report["num_floor"] == 12
    for name in evaluation.METRIC_NAMES:
        assert np.isfinite(report["metrics"][name]["value"])
        assert np.isfinite(report["metrics"][name]["real_floor"])
    # Shrunken noise against full-range noise: worse than the floor.
    fid = report["metrics"]["fid"]
    assert fid["value"] > fid["real_floor"]
    assert report["memorization"]["num_train"] == 30
    text = evaluation.format_report(report)
    assert "12 generated vs 28 real; floor 12 real" in text
    assert "memorisation" in text


def test_format_report_keeps_wide_kid_columns_apart():
    metrics = {
        name: {"value": 0.5, "real_floor": 0.9}
        for name in evaluation.METRIC_NAMES
    }
    metrics["kid"] = {
        "value": 0.0030,
        "std": 0.0004,
        "real_floor": -0.0001,
        "real_floor_std": 0.0002,
    }
    text = evaluation.format_report(
        {
            "num_real": 5000,
            "num_fake": 1000,
            "num_floor": 1000,
            "metrics": metrics,
        }
    )
    row = next(line for line in text.splitlines() if line.startswith("KID"))
    assert row.split()[1:3] == ["0.0030±0.0004", "-0.0001±0.0002"]


def test_split_real_needs_enough_images():
    with pytest.raises(ValueError, match="Received: 11 real images"):
        evaluation.split_real(np.zeros((11, 2)), 10)


def test_best_kid_checkpoint_keeps_the_best_generator(tmp_path, extractor):
    model = tiny_dcgan(image_shape=(16, 16, 3))
    model.compile()
    real = evaluation.extract_features(
        extractor, fake_images(16, image_shape=(16, 16, 3))
    )
    path = tmp_path / "best.keras"
    best = evaluation.BestKIDCheckpoint(
        extractor,
        real,
        every=2,
        num_samples=8,
        kid_subsets=2,
        filepath=path,
    )
    history = model.fit(
        fake_images(8, image_shape=(16, 16, 3)),
        epochs=3,
        batch_size=4,
        verbose=0,
        callbacks=[best],
    ).history
    # Evaluated at epochs 2 and 3 (the last); NaN in the logs of epoch 1.
    assert [epoch for epoch, _, _ in best.history] == [2, 3]
    assert best.best_kid == min(kid for _, kid, _ in best.history)
    assert np.isnan(history["kid"][0])
    assert history["kid"][1:] == [kid for _, kid, _ in best.history]
    # The restored model scores the best KID again.
    assert best.compute_kid()[0] == pytest.approx(best.best_kid, rel=1e-4)
    # The file holds the whole model, with the best weights.
    saved = keras.saving.load_model(path)
    assert isinstance(saved, type(model))
    for a, b in zip(saved.weights, model.weights):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )


def test_best_kid_checkpoint_rejects_a_bad_path():
    with pytest.raises(ValueError, match="Received: filepath='best.h5'"):
        evaluation.BestKIDCheckpoint(None, np.zeros((4, 2)), filepath="best.h5")


def test_metrics_module_names_are_public():
    for name in evaluation.__all__:
        assert hasattr(evaluation, name), name
    assert metrics.frechet_distance is evaluation.frechet_distance
    assert os.path.basename(evaluation.EVALUATOR_WEIGHTS).endswith(
        ".weights.h5"
    )
