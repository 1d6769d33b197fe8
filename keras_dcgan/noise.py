"""Fixed noise: the same latent points every time, from a seed."""

import numpy as np


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

