"""Image-grid helpers shared by the dataset loaders and the callbacks.

This module depends only on NumPy and Pillow (matplotlib for
`show_image_grid`), so it can be imported without TensorFlow.
"""

import io
import math

import numpy as np

from keras_dcgan.files import atomic_write


def _to_numpy(images):
    """Converts a NumPy array, a TF/JAX/torch tensor or a list to NumPy."""
    if hasattr(images, "detach"):  # torch.Tensor
        images = images.detach().cpu().numpy()
    elif hasattr(images, "numpy") and not isinstance(images, np.ndarray):
        images = images.numpy()  # tf.Tensor
    return np.asarray(images)


def to_uint8(images, value_range=(-1.0, 1.0)):
    """Converts images to `uint8` pixels in [0, 255].

    Integer images are taken as pixels already and only clipped. Floating
    point images are mapped linearly from `value_range` to [0, 255],
    clipped and rounded.

    Args:
        images: array-like (NumPy array or a tensor of any backend) of
            images, any shape.
        value_range: `(low, high)` range of floating point input. Defaults
            to `(-1.0, 1.0)`, the range of the generator's `tanh` output.

    Returns:
        A `uint8` NumPy array with the same shape as `images`.

    Example:

    >>> to_uint8(np.array([-1.0, 0.0, 1.0])).tolist()
    [0, 128, 255]
    """
    images = _to_numpy(images)
    if images.dtype == np.uint8:
        return images
    if images.dtype == np.bool_ or np.issubdtype(images.dtype, np.integer):
        return np.clip(images, 0, 255).astype(np.uint8)
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(
            "`value_range` must be a pair `(low, high)` with high > low. "
            f"Received: value_range={value_range}"
        )
    scaled = (images.astype(np.float32) - low) * (255.0 / (high - low))
    scaled = np.nan_to_num(scaled, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _grid_shape(num_images, rows, cols):
    for name, value in (("rows", rows), ("cols", cols)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(
                f"`{name}` must be a positive integer or None. "
                f"Received: {name}={value!r}"
            )
    if rows is None and cols is None:
        cols = max(1, math.ceil(math.sqrt(num_images)))
        rows = max(1, math.ceil(num_images / cols))
    elif rows is None:
        rows = max(1, math.ceil(num_images / cols))
    elif cols is None:
        cols = max(1, math.ceil(num_images / rows))
    return int(rows), int(cols)


def make_grid(
    images,
    rows=None,
    cols=None,
    padding=2,
    pad_value=255,
    value_range=(-1.0, 1.0),
):
    """Tiles a batch of images into one `uint8` image grid.

    Images are placed row by row. If there are more images than
    `rows * cols` cells, only the first `rows * cols` are used; if there are
    fewer, the remaining cells are left at `pad_value`. When only one of
    `rows` and `cols` is given, the other is chosen to fit all images; when
    neither is given, the grid is as square as possible.

    Args:
        images: batch of images, shape `(N, H, W, C)` with `C` 1, 3 or 4,
            or `(N, H, W)` for grayscale. Floating point images are mapped
            from `value_range` (default [-1, 1]) to [0, 255]; `uint8`
            images are used as they are. NumPy arrays and tensors of any
            backend are accepted.
        rows: number of rows, or `None`.
        cols: number of columns, or `None`.
        padding: pixels between cells and around the border. Defaults to 2.
        pad_value: `uint8` value of the padding and empty cells. Defaults to
            255 (white).
        value_range: `(low, high)` range of floating point input. Defaults
            to `(-1.0, 1.0)`.

    Returns:
        A `uint8` NumPy array of shape `(rows * (H + padding) + padding,
        cols * (W + padding) + padding, C)`.

    Example:

    >>> images = np.random.uniform(-1, 1, size=(21, 8, 8, 3))
    >>> make_grid(images, rows=3, cols=7, padding=0).shape
    (24, 56, 3)
    """
    images = to_uint8(images, value_range=value_range)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            "`images` must have shape (N, H, W, C) with C in (1, 3, 4), or "
            f"(N, H, W). Received: images.shape={images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError(
            "`images` must hold at least one image. "
            f"Received: images.shape={images.shape}"
        )
    padding = int(padding)
    if padding < 0:
        raise ValueError(
            f"`padding` must be non-negative. Received: padding={padding}"
        )
    rows, cols = _grid_shape(images.shape[0], rows, cols)
    n, h, w, c = images.shape
    grid = np.full(
        (rows * (h + padding) + padding, cols * (w + padding) + padding, c),
        int(pad_value),
        dtype=np.uint8,
    )
    for i in range(min(n, rows * cols)):
        r, q = divmod(i, cols)
        top = padding + r * (h + padding)
        left = padding + q * (w + padding)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def _pil_image(grid):
    from PIL import Image

    if grid.shape[-1] == 1:
        return Image.fromarray(np.ascontiguousarray(grid[..., 0]))
    return Image.fromarray(np.ascontiguousarray(grid))


def png_bytes(grid, compress_level=6):
    """The PNG file of a `uint8` grid (as `make_grid` returns), as bytes."""
    buffer = io.BytesIO()
    _pil_image(grid).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def save_image_grid(images, path, rows=None, cols=None, **kwargs):
    """Saves a batch of images as one PNG grid, atomically.

    The PNG is written to a temporary file in the same folder and then moved
    into place with `os.replace`, so a reader never sees a half-written
    file. Missing parent folders are created.

    Args:
        images: batch of images, as for `make_grid`.
        path: destination file path (a `.png` file).
        rows: number of rows, or `None`.
        cols: number of columns, or `None`.
        **kwargs: passed to `make_grid` (`padding`, `pad_value`,
            `value_range`).

    Returns:
        The `uint8` grid that was saved, shape `(height, width, channels)`.

    Example:

    ```python
    images = next(iter(keras_dcgan.datasets.load_pokemon().as_numpy_iterator()))
    save_image_grid(images[:20], "pokemon.png", rows=4, cols=5)
    ```
    """
    grid = make_grid(images, rows=rows, cols=cols, **kwargs)
    atomic_write(path, lambda f: _pil_image(grid).save(f, format="PNG"))
    return grid


def save_gif(frames, path, duration=200):
    """Saves `uint8` image arrays or PIL images as a looping GIF, atomically.

    Args:
        frames: list of `(height, width, channels)` `uint8` arrays (such as
            `make_grid` returns) or PIL images, all the same size.
        path: destination `.gif` file.
        duration: int. Milliseconds per frame. Defaults to `200`.

    Returns:
        `path`.
    """
    if not frames:
        raise ValueError(
            "`frames` must hold at least one image. Received: frames=[]"
        )
    frames = [
        f.convert("RGB") if hasattr(f, "convert") else _pil_image(f)
        for f in frames
    ]
    return atomic_write(
        path,
        lambda f: frames[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=duration,
            loop=0,
        ),
    )


def show_image_grid(images, rows=None, cols=None, title=None, ax=None, **kw):
    """Shows a batch of images as one grid with matplotlib.

    Args:
        images: batch of images, as for `make_grid`.
        rows: number of rows, or `None`.
        cols: number of columns, or `None`.
        title: optional title for the axes.
        ax: optional matplotlib axes to draw into. A new figure is made when
            `None`.
        **kw: passed to `make_grid` (`padding`, `pad_value`,
            `value_range`).

    Returns:
        The matplotlib axes the grid was drawn into.

    Example:

    ```python
    images = next(iter(keras_dcgan.datasets.load_pokemon().as_numpy_iterator()))
    show_image_grid(images[:20], rows=4, cols=5)
    ```
    """
    import matplotlib.pyplot as plt

    grid = make_grid(images, rows=rows, cols=cols, **kw)
    if ax is None:
        height, width = grid.shape[:2]
        scale = 6.0 / max(height, width)
        _, ax = plt.subplots(figsize=(width * scale, height * scale))
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(grid)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax
