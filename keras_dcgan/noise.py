"""Fixed noise: the same latent points every time, from a seed."""

import numpy as np

from keras_dcgan import validation


def fixed_noise(num_images, latent_dim, seed=0):
    """Draws `num_images` latent vectors from N(0, 1), fixed by `seed`.

    The same `(num_images, latent_dim, seed)` gives the same array on every
    backend and machine (NumPy's `default_rng`), so image grids, health
    checks and quality reports can be compared across epochs, resumed runs
    and backends.

    Args:
        num_images: int. Number of latent vectors.
        latent_dim: int, or a tuple: the shape of one latent vector (such
            as a generator's input shape `(1, 1, 100)`; the values are the
            same as for the flat size).
        seed: int. Seed of the draw. Defaults to `0`.

    Returns:
        A `float32` NumPy array `(num_images, latent_dim)` (or
        `(num_images, *latent_dim)`).

    Example:

    >>> keras_dcgan.noise.fixed_noise(21, 100, seed=0).shape
    (21, 100)
    """
    if isinstance(latent_dim, tuple):
        shape = tuple(int(d) for d in latent_dim)
    else:
        shape = (int(latent_dim),)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((int(num_images),) + shape, dtype=np.float32)


def truncate(noise, truncation, seed=None):
    """Redraws the values of N(0, 1) `noise` outside +-`truncation`.

    The truncation trick of BigGAN (Brock et al., 2019): latent points near
    the centre give more typical, less varied images. The result follows a
    standard normal truncated to the interval.

    Args:
        noise: float32 NumPy array of N(0, 1) values.
        truncation: float > 0. The bound, in standard deviations.
        seed: seed of the redraws, anything `np.random.default_rng` takes.
            Defaults to `None`.

    Returns:
        A new float32 array of the same shape.
    """
    validation.positive_number("truncation", truncation, "standard deviations")
    rng = np.random.default_rng(seed)
    noise = np.array(noise, dtype=np.float32)
    outside = np.abs(noise) > truncation
    while outside.any():
        noise[outside] = rng.standard_normal(outside.sum(), dtype=np.float32)
        outside = np.abs(noise) > truncation
    return noise


def slerp(start, end, num_points):
    """Spherical interpolation between two latent vectors, ends included.

    Gaussian noise lives near a sphere; walking along the great circle keeps
    the points' norms typical, where a straight line passes through the
    centre (White, "Sampling Generative Networks", 2016). Parallel vectors
    fall back to a straight line.

    Args:
        start: NumPy vector, the first point.
        end: NumPy vector of the same shape, the last point.
        num_points: int >= 2. Points on the path.

    Returns:
        A float32 array `(num_points,) + start.shape`.
    """
    start = np.asarray(start, dtype=np.float64)
    end = np.asarray(end, dtype=np.float64)
    t = np.linspace(0.0, 1.0, int(num_points))[:, None]
    a, b = start.ravel(), end.ravel()
    cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    if np.sin(angle) < 1e-6:
        path = (1.0 - t) * a + t * b
    else:
        path = (np.sin((1.0 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(
            angle
        )
    return path.reshape((-1,) + start.shape).astype(np.float32)
