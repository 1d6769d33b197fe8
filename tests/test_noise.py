import numpy as np
import pytest

from keras_dcgan import recipes
from keras_dcgan.noise import fixed_noise, slerp, truncate


def test_truncate_bounds_and_keeps_values_inside():
    noise = fixed_noise(500, 16, seed=0)
    bounded = truncate(noise, 0.5, seed=1)
    assert bounded.shape == noise.shape and bounded.dtype == np.float32
    assert np.abs(bounded).max() <= 0.5
    inside = np.abs(noise) <= 0.5
    np.testing.assert_array_equal(bounded[inside], noise[inside])
    # A truncated normal on [-0.5, 0.5] is close to uniform there.
    assert 0.25 < np.abs(bounded).mean() * 2 < 0.55
    np.testing.assert_array_equal(bounded, truncate(noise, 0.5, seed=1))
    assert np.abs(noise).max() > 0.5  # the input is not changed


@pytest.mark.parametrize("bad", [0, -1.0, True, "1"])
def test_truncate_rejects_a_non_positive_bound(bad):
    with pytest.raises(ValueError, match=f"Received: truncation={bad!r}"):
        truncate(np.zeros((2, 3), "float32"), bad)


def test_slerp_endpoints_and_norms():
    start, end = fixed_noise(2, 100, seed=3)
    path = slerp(start, end, 9)
    assert path.shape == (9, 100) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], start, atol=1e-5)
    np.testing.assert_allclose(path[-1], end, atol=1e-5)
    # Along the great circle the norm stays near the ends' norms, while a
    # straight line's midpoint is about 1/sqrt(2) of them.
    norms = np.linalg.norm(path, axis=1)
    low = min(np.linalg.norm(start), np.linalg.norm(end))
    assert norms.min() > 0.95 * low
    assert np.linalg.norm((start + end) / 2) < 0.8 * low
    # Parallel vectors: a straight line.
    np.testing.assert_allclose(slerp(start, 2 * start, 3)[1], 1.5 * start)


def test_generate_with_truncation_is_seeded_and_less_varied():
    model = recipes.get_recipe(
        "d2l", image_size=8, filters=4, latent_dim=4
    ).build(channels=1, seed=0)
    plain = model.generate(64, seed=0)
    a = model.generate(64, seed=0, truncation=0.2)
    np.testing.assert_array_equal(a, model.generate(64, seed=0, truncation=0.2))
    assert a.std(axis=0).mean() < plain.std(axis=0).mean()
    with pytest.raises(ValueError, match="Received: truncation=0"):
        model.generate(2, truncation=0)
