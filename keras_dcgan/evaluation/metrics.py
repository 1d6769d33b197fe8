"""Quality metrics on two feature arrays, in float64 NumPy.

Every function here takes features of shape `(n, d)`, such as
`extract_features` returns, and works in float64 whatever the backend.
"""

import numpy as np

from keras_dcgan import validation

_CHUNK = 1024


def _as_features(name, features, min_rows=1):
    array = np.asarray(features, dtype="float64")
    if array.ndim != 2 or len(array) < min_rows:
        raise ValueError(
            f"`{name}` must be a 2D array (n, d) of features with at least "
            f"{min_rows} rows. Received: {name}.shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"`{name}` must hold finite numbers. Received: {name} with "
            f"{int(np.sum(~np.isfinite(array)))} NaN or infinite values"
        )
    return array


def _check_pair(real, fake, min_rows=1):
    real = _as_features("real", real, min_rows)
    fake = _as_features("fake", fake, min_rows)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real` and `fake` must have the same number of features. "
            f"Received: real.shape={real.shape}, fake.shape={fake.shape}"
        )
    return real, fake


def _sqrt_psd(matrix):
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2):
    """Frechet distance between two Gaussians given means and covariances.

    `|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1^1/2 sigma2
    sigma1^1/2)^1/2)`. The trace of the square root is computed from the
    eigenvalues of the symmetric matrix `sigma1^1/2 sigma2 sigma1^1/2`
    (negative round-off clipped to 0), so it is real and stable even for
    singular covariances, unlike `scipy.linalg.sqrtm(sigma1 @ sigma2)`.

    Args:
        mu1: array `(d,)`, the first mean.
        sigma1: array `(d, d)`, the first covariance.
        mu2: array `(d,)`, the second mean.
        sigma2: array `(d, d)`, the second covariance.

    Returns:
        A Python float, at least 0.
    """
    mu1, mu2 = np.asarray(mu1, "float64"), np.asarray(mu2, "float64")
    sigma1 = np.atleast_2d(np.asarray(sigma1, "float64"))
    sigma2 = np.atleast_2d(np.asarray(sigma2, "float64"))
    if not (mu1.shape == mu2.shape and sigma1.shape == sigma2.shape) or (
        sigma1.shape != (mu1.size, mu1.size)
    ):
        raise ValueError(
            "The means must be (d,) and the covariances (d, d), alike for "
            f"both. Received: mu1.shape={mu1.shape}, mu2.shape={mu2.shape}, "
            f"sigma1.shape={sigma1.shape}, sigma2.shape={sigma2.shape}"
        )
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    values = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    trace_root = np.sum(np.sqrt(np.clip(values, 0.0, None)))
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2)
    return float(max(distance - 2.0 * trace_root, 0.0))


def frechet_distance(real, fake):
    """Frechet distance (the "FID" when the features are Inception's).

    Fits a Gaussian to each feature set (mean and unbiased covariance) and
    returns the Frechet distance between the two Gaussians. It is biased
    upwards at small sample sizes, so compare values only at equal counts,
    next to the real-vs-real value at those counts (`quality_report` does).

    Args:
        real: array `(n, d)` of features of real images (n >= 2).
        fake: array `(m, d)` of features of generated images (m >= 2).

    Returns:
        A Python float, at least 0; 0 for identical sets.

    Example:

    ```python
    fid = frechet_distance(real_features, fake_features)
    ```
    """
    real, fake = _check_pair(real, fake, min_rows=2)
    return frechet_distance_from_statistics(
        real.mean(0),
        np.cov(real, rowvar=False),
        fake.mean(0),
        np.cov(fake, rowvar=False),
    )


def _polynomial_kernel(x, y, degree, gamma, coef0):
    return (x @ y.T * gamma + coef0) ** degree


def _unbiased_mmd2(x, y, kernel):
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return term_xx + term_yy - 2.0 * k_xy.mean()


def kernel_distance(
    real,
    fake,
    num_subsets=100,
    subset_size=1000,
    degree=3,
    gamma=None,
    coef0=1.0,
    seed=0,
):
    """Kernel distance (the "KID" when the features are Inception's).

    The unbiased estimate of the squared maximum mean discrepancy with the
    polynomial kernel `k(x, y) = (gamma x.y + coef0)^degree` (by default
    `gamma = 1/d`, cubic, as in Binkowski et al., 2018), computed on
    `num_subsets` random subsets of `min(subset_size, n, m)` images of each
    set. Unlike the Frechet distance it is unbiased, so its expected value
    for two samples of the same distribution is 0 at any sample size (single
    estimates can be slightly negative).

    Args:
        real: array `(n, d)` of features of real images (n >= 2).
        fake: array `(m, d)` of features of generated images (m >= 2).
        num_subsets: int. Number of random subsets. Defaults to `100`.
        subset_size: int. Images per subset. Defaults to `1000`.
        degree: int. Degree of the polynomial kernel. Defaults to `3`.
        gamma: float or None. Kernel scale; `None` means `1 / d`.
        coef0: float. Kernel offset. Defaults to `1.0`.
        seed: int. Seed of the subset draws. Defaults to `0`.

    Returns:
        A tuple `(mean, std)` of Python floats over the subsets.

    Example:

    ```python
    kid, kid_std = kernel_distance(real_features, fake_features)
    ```
    """
    real, fake = _check_pair(real, fake, min_rows=2)
    num_subsets = validation.positive_int("num_subsets", num_subsets)
    subset_size = validation.positive_int("subset_size", subset_size)
    size = max(min(subset_size, len(real), len(fake)), 2)
    gamma = 1.0 / real.shape[1] if gamma is None else float(gamma)

    def kernel(x, y):
        return _polynomial_kernel(x, y, degree, gamma, coef0)

    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        values[i] = _unbiased_mmd2(x, y, kernel)
    return float(values.mean()), float(values.std())


def _squared_norms(x):
    return np.einsum("ij,ij->i", x, x)


def _pairwise_distances(x, y):
    """Euclidean distances `(len(x), len(y))`; use only for small blocks."""
    d2 = _squared_norms(x)[:, None] + _squared_norms(y)[None, :] - 2 * x @ y.T
    return np.sqrt(np.clip(d2, 0.0, None))


def _kth_neighbour_distances(x, k):
    """Distance of each row of `x` to its k-th nearest other row."""
    out = np.empty(len(x))
    for start in range(0, len(x), _CHUNK):
        block = _pairwise_distances(x[start : start + _CHUNK], x)
        # Index k, not k - 1: the nearest row (distance 0) is the row itself.
        out[start : start + _CHUNK] = np.partition(block, k, axis=1)[:, k]
    return out


def nearest_neighbour_distances(queries, references):
    """Distance of each query row to its nearest reference row.

    Args:
        queries: array `(n, d)`.
        references: array `(m, d)`.

    Returns:
        A float64 array `(n,)`.
    """
    queries = _as_features("queries", queries)
    references = _as_features("references", references)
    out = np.empty(len(queries))
    for start in range(0, len(queries), _CHUNK):
        block = _pairwise_distances(queries[start : start + _CHUNK], references)
        out[start : start + _CHUNK] = block.min(axis=1)
    return out


def precision_recall_density_coverage(real, fake, k=5):
    """k-nearest-neighbour precision, recall, density and coverage.

    Each real feature vector gets a ball reaching its k-th nearest real
    neighbour; the union of the balls estimates the real manifold, and
    likewise for the generated vectors. Then (Kynkaanniemi et al., 2019;
    Naeem et al., 2020):

    - precision: fraction of generated samples inside the real manifold
      (are the images realistic?);
    - recall: fraction of real samples inside the generated manifold (is
      the variety covered?);
    - density: how many real balls contain each generated sample, over `k`
      (about 1 when the two distributions match; above 1 when samples
      crowd around dense real regions);
    - coverage: fraction of real balls that contain at least one generated
      sample (robust to outliers; near 0 for a collapsed generator).

    Args:
        real: array `(n, d)` of features of real images (n > k).
        fake: array `(m, d)` of features of generated images (m > k).
        k: int. Neighbourhood size. Defaults to `5`.

    Returns:
        A dict with float values `"precision"`, `"recall"`, `"density"` and
        `"coverage"`.

    Example:

    ```python
    scores = precision_recall_density_coverage(real_features, fake_features)
    scores["coverage"]
    ```
    """
    k = validation.positive_int("k", k)
    real, fake = _check_pair(real, fake, min_rows=k + 1)
    real_radii = _kth_neighbour_distances(real, k)
    fake_radii = _kth_neighbour_distances(fake, k)
    inside_real = np.zeros(len(fake), dtype="int64")  # real balls per fake
    covered = np.zeros(len(real), dtype=bool)
    recalled = np.zeros(len(real), dtype=bool)
    for start in range(0, len(real), _CHUNK):
        stop = start + _CHUNK
        block = _pairwise_distances(real[start:stop], fake)  # (real, fake)
        in_ball = block <= real_radii[start:stop, None]
        inside_real += in_ball.sum(axis=0)
        covered[start:stop] = in_ball.any(axis=1)
        recalled[start:stop] = (block <= fake_radii[None, :]).any(axis=1)
    return {
        "precision": float(np.mean(inside_real > 0)),
        "recall": float(np.mean(recalled)),
        "density": float(inside_real.sum() / (k * len(fake))),
        "coverage": float(np.mean(covered)),
    }


def memorization(train, fake, heldout, quantile=0.05, max_copy_fraction=0.2):
    """Checks whether generated samples are copies of training images.

    For every generated sample and every held-out real image (real images
    the generator never saw), finds the distance to the nearest training
    image. A generator that creates new images sits about as far from the
    training set as held-out images do; one that copies sits much closer.
    A generated sample counts as a near-copy when it is closer to the
    training set than the `quantile` of the held-out distances; if more
    than `max_copy_fraction` of the samples are near-copies (against about
    `quantile` for a generator that does not copy), the generator is
    flagged.

    Args:
        train: array `(n, d)` of features of the training images.
        fake: array `(m, d)` of features of generated images.
        heldout: array `(h, d)` of features of held-out real images.
        quantile: float in (0, 1). Defaults to `0.05`.
        max_copy_fraction: float in (0, 1). Defaults to `0.2`.

    Returns:
        A dict: `"fake_median"` and `"heldout_median"` (median
        nearest-training-image distances), `"ratio"` (their quotient),
        `"copy_fraction"`, `"threshold"` (the distance below which a sample
        is a near-copy) and `"memorized"` (bool).

    Example:

    ```python
    check = memorization(train_features, fake_features, test_features)
    check["memorized"]
    ```
    """
    for name, value in (
        ("quantile", quantile),
        ("max_copy_fraction", max_copy_fraction),
    ):
        if not 0 < value < 1:
            raise ValueError(
                f"`{name}` must be between 0 and 1. Received: {name}={value}"
            )
    train = _as_features("train", train)
    fake = _as_features("fake", fake)
    heldout = _as_features("heldout", heldout)
    to_fake = nearest_neighbour_distances(fake, train)
    to_heldout = nearest_neighbour_distances(heldout, train)
    threshold = float(np.quantile(to_heldout, quantile))
    fake_median = float(np.median(to_fake))
    heldout_median = float(np.median(to_heldout))
    copy_fraction = float(np.mean(to_fake < threshold))
    return {
        "fake_median": fake_median,
        "heldout_median": heldout_median,
        "ratio": fake_median / heldout_median if heldout_median else np.inf,
        "copy_fraction": copy_fraction,
        "threshold": threshold,
        "memorized": bool(copy_fraction > max_copy_fraction),
    }
