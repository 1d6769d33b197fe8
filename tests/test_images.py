import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from keras_dcgan import images


def test_make_grid_float_rgb_layout_and_range():
    batch = np.full((6, 4, 5, 3), -1.0, np.float32)
    batch[1] = 1.0  # Second image white.
    batch[5, ..., 0] = 0.0
    grid = images.make_grid(batch, rows=2, cols=3, padding=1, pad_value=7)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 3)
    assert (grid[0] == 7).all() and (grid[:, 0] == 7).all()
    assert (grid[1:5, 1:6] == 0).all()  # Image 0, -1 -> 0.
    assert (grid[1:5, 7:12] == 255).all()  # Image 1, 1 -> 255.
    assert (grid[6:10, 13:18, 0] == 128).all()  # Image 5, 0 -> 128.
    assert (grid[6:10, 13:18, 1:] == 0).all()


def test_make_grid_uint8_gray_and_three_dim_input():
    batch = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    grid = images.make_grid(batch, rows=2, cols=2, padding=0)
    assert grid.shape == (4, 4, 1)
    np.testing.assert_array_equal(grid[:2, 2:, 0], batch[1])
    np.testing.assert_array_equal(grid[2:, :2, 0], batch[2])
    grid = images.make_grid(batch[..., None], padding=0)
    assert grid.shape == (4, 4, 1)


def test_make_grid_fills_empty_cells_and_truncates():
    batch = np.zeros((3, 2, 2, 3), np.uint8)
    grid = images.make_grid(batch, rows=2, cols=2, padding=0, pad_value=255)
    assert (grid[2:, 2:] == 255).all() and (grid[2:, :2] == 0).all()
    grid = images.make_grid(np.zeros((9, 2, 2, 3)), rows=1, cols=2, padding=0)
    assert grid.shape == (2, 4, 3)


@pytest.mark.parametrize(
    "n, rows, cols, expected",
    [(20, None, None, (4, 5)), (21, 3, None, (3, 7)), (21, None, 7, (3, 7))],
)
def test_make_grid_chooses_missing_dimension(n, rows, cols, expected):
    grid = images.make_grid(
        np.zeros((n, 2, 2, 3)), rows=rows, cols=cols, padding=0
    )
    assert grid.shape[:2] == (2 * expected[0], 2 * expected[1])


def test_make_grid_accepts_backend_tensors():
    batch = keras.ops.convert_to_tensor(np.ones((2, 3, 3, 3), np.float32))
    grid = images.make_grid(batch, padding=0)
    assert grid.shape == (3, 6, 3) and (grid == 255).all()


def test_make_grid_bad_input():
    with pytest.raises(ValueError, match=r"Received: images.shape=\(2, 3\)"):
        images.make_grid(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Received: images.shape"):
        images.make_grid(np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="Received: rows=0"):
        images.make_grid(np.zeros((2, 4, 4, 3)), rows=0)
    with pytest.raises(ValueError, match="at least one image"):
        images.make_grid(np.zeros((0, 4, 4, 3)))


def test_to_uint8_range_and_value_range():
    out = images.to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 3.0]))
    assert out.tolist() == [0, 0, 128, 255, 255]
    out = images.to_uint8(np.array([0.0, 0.5, 1.0]), value_range=(0, 1))
    assert out.tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="Received: value_range"):
        images.to_uint8(np.zeros(2), value_range=(1, 1))


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB")])
def test_save_image_grid_writes_png(tmp_path, channels, mode):
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1, 1, (5, 6, 6, channels)).astype(np.float32)
    path = tmp_path / "sub" / "grid.png"
    grid = images.save_image_grid(batch, path, rows=2, cols=3)
    with Image.open(path) as saved:
        assert saved.mode == mode
        pixels = np.asarray(saved)
    np.testing.assert_array_equal(pixels.reshape(grid.shape), grid)
    assert sorted(os.listdir(path.parent)) == ["grid.png"]


def test_save_image_grid_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        images.save_image_grid(np.zeros((2, 4, 4, 3)), path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["grid.png"]


def test_show_image_grid_draws():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = images.show_image_grid(np.zeros((4, 4, 4, 1)), title="real")
    assert ax.get_title() == "real"
    assert ax.images[0].get_array().shape[:2] == (14, 14)
    plt.close(ax.figure)


def test_package_and_images_import_without_tensorflow():
    # Under JAX or PyTorch, TensorFlow is imported only by the data loaders.
    code = (
        "import sys\n"
        "import keras_dcgan\n"
        "from keras_dcgan import images\n"
        "images.make_grid(images.np.zeros((2, 4, 4, 3)))\n"
        "print('tensorflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, KERAS_BACKEND="jax"),
    )
    assert out.stdout.strip() == "False"
