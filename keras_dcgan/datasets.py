"""Datasets for the DCGAN: Pokemon sprites, image folders, Fashion-MNIST and
fake data.

Every loader returns a `tf.data.Dataset` of `float32` images in [-1, 1]
(NHWC), which `Model.fit()` accepts on the TensorFlow, JAX and PyTorch
backends. The pipeline is the same for all of them:

1. Each image is decoded once (Pillow, in a thread pool), flattened onto a
   background colour, made square and resized, and stored as `uint8`
   pixels, in memory or in an on-disk `.npy` cache file.
2. Every epoch, the individual examples are shuffled (a full-size shuffle
   buffer of indices, reshuffled each iteration, seeded), then batched,
   converted to `float32` in [-1, 1] and prefetched.

Unlike the TensorFlow code of the d2l chapter, the cache sits before the
shuffle and the batching, so batch composition changes every epoch.
"""

import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import urllib.request
import warnings
import zipfile
import zlib

import numpy as np
import tensorflow as tf
from PIL import Image, ImageColor

from keras_dcgan import images as images_lib
from keras_dcgan.safety import SkippedImageWarning
from keras_dcgan.validation import one_of, positive_int

POKEMON_URL = "https://d2l-data.s3-accelerate.amazonaws.com/pokemon.zip"
POKEMON_SHA1 = "c065c0e2593b8b161a2d7873e42418bf6a21106c"

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# split: (images file, its published md5, labels file, its published md5).
FASHION_MNIST_FILES = {
    "train": (
        "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    "test": (
        "t10k-images-idx3-ubyte.gz",
        "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
}

_FASHION_MNIST_ALIASES = {
    "tshirt": 0,
    "top": 0,
    "boot": 9,
}

_RESIZE_MODES = ("pad", "crop")
_CACHE_FORMAT = 1


# ---------------------------------------------------------------------------
# Argument checks.


def _check_common(batch_size, image_size, channels=None):
    batch_size = positive_int("batch_size", batch_size)
    image_size = positive_int("image_size", image_size)
    if channels is not None:
        one_of("channels", channels, (1, 3))
    return batch_size, image_size


def _parse_background(background):
    """Returns `background` as an `(r, g, b)` tuple of ints in [0, 255]."""
    try:
        if isinstance(background, str):
            rgb = ImageColor.getrgb(background)[:3]
        elif isinstance(background, (int, np.integer)) and not isinstance(
            background, bool
        ):
            rgb = (int(background),) * 3
        else:
            rgb = tuple(int(v) for v in background)
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            "`background` must be a colour name or '#rrggbb' string, a gray "
            "level in [0, 255] or an (r, g, b) tuple of ints in [0, 255]. "
            f"Received: background={background!r}"
        ) from None
    return rgb


def _num_workers(num_workers):
    if num_workers is None:
        return max(2, min(16, 2 * (os.cpu_count() or 1)))
    return positive_int("num_workers", num_workers)


# ---------------------------------------------------------------------------
# Decoding one image.

_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _flatten(image, channels, background):
    """Converts any Pillow mode to 'L' or 'RGB', compositing transparency."""
    if image.mode in _HIGH_BIT_MODES:
        array = np.asarray(image)
        if image.mode == "F":
            array = np.clip(array, 0, 255)
        elif array.max(initial=0) > 255:
            array = array // 257  # 16-bit range to 8-bit.
        image = Image.fromarray(array.astype(np.uint8))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        "transparency" in image.info
    )
    if has_alpha:
        base = Image.new("RGBA", image.size, background + (255,))
        image = Image.alpha_composite(base, image.convert("RGBA"))
    return image.convert("L" if channels == 1 else "RGB")


def _fit_square(image, size, resize_mode, background):
    """Makes `image` `size` x `size` without distorting it.

    "crop" keeps the centred square of side min(width, height); "pad" scales
    the long side to `size` and centres the image on a `background` square.
    Downscaling uses area averaging (Pillow's BOX filter), upscaling is
    bilinear.
    """
    width, height = image.size

    def resample(src_w, src_h, dst_w, dst_h):
        if dst_w <= src_w and dst_h <= src_h:
            return Image.Resampling.BOX
        return Image.Resampling.BILINEAR

    if width == height or resize_mode == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        box = (left, top, left + side, top + side)
        if side == size and width == height:
            return image
        return image.resize(
            (size, size), resample(side, side, size, size), box=box
        )
    scale = size / max(width, height)
    new_w = max(1, min(size, round(width * scale)))
    new_h = max(1, min(size, round(height * scale)))
    resized = image.resize(
        (new_w, new_h), resample(width, height, new_w, new_h)
    )
    fill = background if image.mode == "RGB" else _luma(background)
    canvas = Image.new(image.mode, (size, size), fill)
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def _luma(rgb):
    # Pillow's own RGB -> L weights.
    r, g, b = rgb
    return (r * 299 + g * 587 + b * 114 + 500) // 1000


def _decode_image(data, image_size, channels, background, resize_mode):
    """Decodes image bytes to a `uint8` array `(size, size, channels)`."""
    with Image.open(io.BytesIO(data)) as image:
        limit = Image.MAX_IMAGE_PIXELS
        width, height = image.size
        if limit is not None and width * height > limit:
            raise Image.DecompressionBombError(
                f"Image size ({width * height} pixels) exceeds the limit of "
                f"{limit} pixels (PIL.Image.MAX_IMAGE_PIXELS)."
            )
        if image.format == "JPEG":
            image.draft("L" if channels == 1 else "RGB", (image_size,) * 2)
        image.load()  # The first frame of animated GIFs.
        image = _flatten(image, channels, background)
        image = _fit_square(image, image_size, resize_mode, background)
        array = np.asarray(image, dtype=np.uint8)
    if channels == 1:
        array = array[..., None]
    return array


# ---------------------------------------------------------------------------
# Image sources: a folder or a zip archive, listed as relative posix paths.


def _is_image_name(relpath):
    parts = relpath.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return parts[-1].lower().endswith(IMAGE_EXTENSIONS)


class _Source:
    """A list of image paths (relative, posix) and a way to read them."""

    origin = ""
    prefix = ""  # Prepended to `names` when reading.
    names = ()

    def strip_common_folder(self):
        """Drops a single top folder shared by all paths (d2l's `pokemon/`).

        Returns the folder dropped ("" if none).
        """
        names = self.names
        if not names:
            return ""
        top = names[0].split("/")[0] + "/"
        if all(n.startswith(top) and n.count("/") >= 2 for n in names):
            self.names = [n[len(top) :] for n in names]
            self.prefix += top
            return top
        return ""

    def close(self):
        pass


class _FolderSource(_Source):
    def __init__(self, directory):
        self.root = os.fspath(directory)
        self.origin = self.root
        names = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            names.extend(rel + f for f in sorted(filenames))
        self.names = [n for n in names if _is_image_name(n)]

    def _path(self, name):
        return os.path.join(self.root, *(self.prefix + name).split("/"))

    def read(self, name):
        with open(self._path(name), "rb") as f:
            return f.read()

    def fingerprint(self, names):
        digest = hashlib.sha1(os.path.abspath(self.root).encode())
        for name in names:
            st = os.stat(self._path(name))
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def _unsafe_member_reason(info):
    """Returns why a zip entry is unsafe to extract, or None."""
    name = info.filename.replace("\\", "/")
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a symbolic link"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "it has an absolute path"
    if ".." in name.split("/"):
        return "it has a '..' component"
    if "\0" in name:
        return "it has a NUL character in its name"
    return None


def _check_members(zf, origin):
    for info in zf.infolist():
        reason = _unsafe_member_reason(info)
        if reason is not None:
            raise ValueError(
                f"Refusing to read the archive {origin}: entry "
                f"{info.filename!r} is unsafe because {reason}. Expected "
                "relative paths inside the archive and regular files only."
            )


def _open_zip(path):
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"The file is not a readable zip archive (truncated or corrupt?): "
            f"{e}. Received: path={os.fspath(path)!r}"
        ) from None


class _ZipSource(_Source):
    """Reads images straight from a zip archive, without extracting it."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.origin = self.path
        self._local = threading.local()
        self._opened = []
        self._lock = threading.Lock()
        with _open_zip(self.path) as zf:
            _check_members(zf, self.path)
            self._infos = {
                i.filename: i
                for i in zf.infolist()
                if not i.is_dir() and _is_image_name(i.filename)
            }
        self.names = sorted(self._infos)

    def _zip(self):
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = self._local.zf = zipfile.ZipFile(self.path)
            with self._lock:
                self._opened.append(zf)
        return zf

    def read(self, name):
        return self._zip().read(self._infos[self.prefix + name])

    def fingerprint(self, names):
        st = os.stat(self.path)
        digest = hashlib.sha1(
            f"{os.path.abspath(self.path)}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        )
        for name in names:
            crc = self._infos[self.prefix + name].CRC
            digest.update(f"{name}\0{crc}\n".encode())
        return digest.hexdigest()

    def close(self):
        with self._lock:
            for zf in self._opened:
                zf.close()
            self._opened.clear()


def _labels_from_names(names, origin):
    """ImageFolder rule: the first folder of a path is its class.

    Returns `(kept_names, labels, class_names)`. A flat folder has no
    classes (all labels 0). When class sub-folders exist, images lying
    directly in the root are ignored, with a warning.
    """
    class_names = sorted({n.split("/")[0] for n in names if "/" in n})
    if not class_names:
        return names, np.zeros(len(names), np.int32), []
    kept = [n for n in names if "/" in n]
    if len(kept) < len(names):
        warnings.warn(
            f"Ignored {len(names) - len(kept)} image(s) lying directly in "
            f"{origin}, which has class sub-folders (for example "
            f"{next(n for n in names if '/' not in n)!r}).",
            stacklevel=4,
        )
    index = {c: i for i, c in enumerate(class_names)}
    labels = np.array([index[n.split("/")[0]] for n in kept], np.int32)
    return kept, labels, class_names


# ---------------------------------------------------------------------------
# Decoding many images, and the on-disk cache.


def _decode_into(out, source, names, decode_args, num_workers):
    """Decodes `names` into `out` in place; returns a mask of successes."""
    ok = np.zeros(len(names), bool)
    failures = []

    def work(start, stop):
        for i in range(start, stop):
            try:
                out[i] = _decode_image(source.read(names[i]), *decode_args)
                ok[i] = True
            except Exception as e:  # Any unreadable file is skipped.
                failures.append((names[i], f"{type(e).__name__}: {e}"))

    chunk = 64
    bounds = [
        (s, min(s + chunk, len(names))) for s in range(0, len(names), chunk)
    ]
    with warnings.catch_warnings():
        # Pillow warns (rather than raises) for images between one and two
        # times MAX_IMAGE_PIXELS; treat those as oversized too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
            for future in [pool.submit(work, *b) for b in bounds]:
                future.result()
    if failures:
        failures.sort()
        example, reason = failures[0]
        warnings.warn(
            f"Skipped {len(failures)} unreadable, corrupt or oversized image "
            f"file(s) in {source.origin} (for example {example!r}: {reason}).",
            SkippedImageWarning,
            stacklevel=4,
        )
    return ok


def _compact(array, ok):
    """Moves the rows where `ok` is True to the front; returns their count."""
    kept = np.flatnonzero(ok)
    for j, i in enumerate(kept):
        if i != j:
            array[j] = array[i]
    return len(kept)


def _no_images_error(source, readable):
    what = "readable image" if readable else "image file"
    return ValueError(
        f"No {what} found in {source.origin}. Expected a folder (or zip) of "
        f"{', '.join(IMAGE_EXTENSIONS)} files, flat or in class sub-folders. "
        f"Received: directory={source.origin!r}"
    )


def _load_source(
    source,
    names,
    image_size,
    channels,
    background,
    resize_mode,
    cache_file,
    num_workers,
):
    """Decodes a source once; returns `(pixels, names, labels, classes)`."""
    names, labels, class_names = _labels_from_names(names, source.origin)
    if not names:
        raise _no_images_error(source, readable=False)
    decode_args = (image_size, channels, background, resize_mode)
    shape = (len(names), image_size, image_size, channels)
    if cache_file is None:
        pixels = np.empty(shape, np.uint8)
        ok = _decode_into(pixels, source, names, decode_args, num_workers)
        count = _compact(pixels, ok)
        if count == 0:
            raise _no_images_error(source, readable=True)
        pixels = pixels[:count]
    else:
        cache_file = os.fspath(cache_file)
        meta_file = cache_file + ".json"
        key = {
            "format": _CACHE_FORMAT,
            "source": source.fingerprint(names),
            "decode": [image_size, channels, list(background), resize_mode],
        }
        meta = _read_cache_meta(meta_file, key)
        if meta is None:
            meta = _write_cache(
                cache_file,
                meta_file,
                key,
                shape,
                source,
                names,
                decode_args,
                num_workers,
            )
        count = meta["count"]
        if count == 0:
            raise _no_images_error(source, readable=True)
        ok = np.array(meta["ok"], bool)
        pixels = np.load(cache_file, mmap_mode="r")[:count]
    kept = np.flatnonzero(ok)
    names = [names[i] for i in kept]
    return pixels, names, labels[kept], class_names


def _read_cache_meta(meta_file, key):
    try:
        with open(meta_file) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if meta.get("key") != key:
        return None
    return meta


def _write_cache(
    cache_file, meta_file, key, shape, source, names, decode_args, num_workers
):
    folder = os.path.dirname(os.path.abspath(cache_file))
    os.makedirs(folder, exist_ok=True)
    if os.path.exists(meta_file):
        os.remove(meta_file)  # The old pixels are no longer trusted.
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
    os.close(fd)
    try:
        pixels = np.lib.format.open_memmap(tmp, "w+", np.uint8, shape)
        ok = _decode_into(pixels, source, names, decode_args, num_workers)
        count = _compact(pixels, ok)
        pixels.flush()
        del pixels
        os.replace(tmp, cache_file)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    meta = {"key": key, "count": count, "ok": ok.tolist()}
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f)
    os.replace(tmp, meta_file)
    return meta


# ---------------------------------------------------------------------------
# The tf.data pipeline.


def _make_dataset(
    pixels,
    labels=None,
    batch_size=256,
    shuffle=True,
    seed=None,
    drop_remainder=False,
):
    """Builds shuffle -> batch -> to float [-1, 1] -> prefetch.

    `pixels` is a `uint8` array (in memory or a `np.memmap`). Only indices
    go through the shuffle buffer, so a full-size buffer is cheap and every
    epoch sees a new order of individual examples. With a `seed`, the
    sequence of epoch orders is deterministic.
    """
    count = len(pixels)
    dataset = tf.data.Dataset.range(count)
    if shuffle:
        dataset = dataset.shuffle(
            count, seed=seed, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    label_tensor = None if labels is None else tf.constant(labels, tf.int32)
    if isinstance(pixels, np.memmap):
        item_shape = pixels.shape[1:]

        def read(indices):
            return np.ascontiguousarray(pixels[np.sort(indices)])

        def gather(indices):
            # Read rows in file order, then put them back in shuffled order.
            order = tf.argsort(tf.argsort(indices))
            batch = tf.numpy_function(read, [indices], tf.uint8)
            batch = tf.gather(batch, order)
            return tf.ensure_shape(batch, (None,) + item_shape)

    else:
        pixel_tensor = tf.constant(pixels)

        def gather(indices):
            return tf.gather(pixel_tensor, indices)

    def to_float(indices):
        images = tf.cast(gather(indices), tf.float32) * (1.0 / 127.5) - 1.0
        if label_tensor is None:
            return images
        return images, tf.gather(label_tensor, indices)

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _finish(dataset, class_names, file_paths=None):
    dataset.class_names = list(class_names)
    if file_paths is not None:
        dataset.file_paths = list(file_paths)
    return dataset


def _dataset_from_source(
    source,
    names,
    batch_size,
    image_size,
    channels,
    background,
    resize_mode,
    shuffle,
    seed,
    drop_remainder,
    with_labels,
    cache_file,
    num_workers,
    path_prefix,
):
    try:
        pixels, names, labels, class_names = _load_source(
            source,
            names,
            image_size,
            channels,
            background,
            resize_mode,
            cache_file,
            num_workers,
        )
    finally:
        source.close()
    dataset = _make_dataset(
        pixels,
        labels if with_labels else None,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
    )
    paths = [path_prefix + n for n in names]
    return _finish(dataset, class_names, paths)


# ---------------------------------------------------------------------------
# Public loaders.


def image_folder_dataset(
    directory,
    batch_size=256,
    image_size=64,
    channels=3,
    *,
    background="white",
    resize_mode="pad",
    shuffle=True,
    seed=None,
    drop_remainder=False,
    with_labels=False,
    cache_file=None,
    num_workers=None,
):
    """Loads a folder of images (PNG, JPEG, GIF, BMP) as a `tf.data.Dataset`.

    The folder may be flat or hold one sub-folder per class, as for
    torchvision's `ImageFolder`: the first folder level names the class
    (class indices follow the sorted folder names) and images may be nested
    deeper inside a class folder. When class folders exist, images lying
    directly in `directory` are ignored with a warning. Hidden files and
    folders (names starting with ".") are ignored.

    Each image is decoded once with Pillow:

    - Palette, alpha and transparent images are composited onto
      `background` (white by default) instead of turning black.
    - Grayscale and colour images are converted to `channels`.
    - GIFs contribute their first frame.
    - Non-square images are not distorted: `resize_mode="pad"` scales the
      long side to `image_size` and centres the image on a `background`
      square; `resize_mode="crop"` keeps the centred square. Downscaling
      averages areas (Pillow's BOX filter), upscaling is bilinear.
    - Unreadable, corrupt or oversized files (Pillow's decompression-bomb
      limit, `PIL.Image.MAX_IMAGE_PIXELS`, stays on) are skipped with one
      `keras_dcgan.safety.SkippedImageWarning` giving their count and an
      example. To fail instead, turn it into an error with
      `warnings.filterwarnings("error", category=SkippedImageWarning)`.

    The decoded `uint8` pixels are kept in memory, or in `cache_file` (a
    `.npy` file, memory-mapped and reused by later calls while the images
    and decoding arguments are unchanged) for data that does not fit.
    Examples are shuffled individually every epoch, then batched, scaled to
    `float32` in [-1, 1] and prefetched.

    Args:
        directory: path of the image folder.
        batch_size: examples per batch. Defaults to 256.
        image_size: side of the square output images. Defaults to 64.
        channels: 3 for RGB or 1 for grayscale. Defaults to 3.
        background: colour that transparency is composited onto and that
            pads non-square images: a colour name, `"#rrggbb"`, a gray level
            or an `(r, g, b)` tuple. Defaults to `"white"`.
        resize_mode: `"pad"` (default) or `"crop"`, see above.
        shuffle: whether to shuffle the examples every epoch.
            Defaults to `True`.
        seed: optional integer seed making the shuffle order deterministic.
        drop_remainder: whether to drop the last, smaller batch.
            Defaults to `False`.
        with_labels: if `True`, elements are `(images, labels)` with `int32`
            class indices (all 0 for a flat folder). Defaults to `False`.
        cache_file: optional `.npy` path for an on-disk pixel cache. Its
            metadata goes to `cache_file + ".json"`. Defaults to `None`
            (keep pixels in memory).
        num_workers: decoding threads. Defaults to twice the CPU count.

    Returns:
        A `tf.data.Dataset` of `float32` batches `(batch, image_size,
        image_size, channels)`, or `(images, labels)` pairs. Its
        `class_names` attribute lists the class folders and `file_paths`
        the images kept, in their (unshuffled) order.

    Example:

    ```python
    dataset = keras_dcgan.datasets.image_folder_dataset(
        "my_sprites", batch_size=128, image_size=64, seed=0
    )
    images = next(dataset.as_numpy_iterator())  # (128, 64, 64, 3) float32
    ```
    """
    batch_size, image_size = _check_common(batch_size, image_size, channels)
    one_of("resize_mode", resize_mode, _RESIZE_MODES)
    background = _parse_background(background)
    num_workers = _num_workers(num_workers)
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "`directory` must be an existing folder of images. "
            f"Received: directory={directory!r}"
        )
    source = _FolderSource(directory)
    return _dataset_from_source(
        source,
        source.names,
        batch_size,
        image_size,
        channels,
        background,
        resize_mode,
        shuffle,
        seed,
        drop_remainder,
        with_labels,
        cache_file,
        num_workers,
        path_prefix=os.path.join(directory, ""),
    )


def _keras_cache_dir(cache_dir):
    """Keras's rule: `$KERAS_HOME` or `~/.keras`, else `/tmp/.keras`."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(
            os.path.expanduser("~"), ".keras"
        )
    cache_dir = os.path.expanduser(os.fspath(cache_dir))
    try:
        os.makedirs(cache_dir, exist_ok=True)
        writable = os.access(cache_dir, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        cache_dir = os.path.join(tempfile.gettempdir(), ".keras")
    datasets_dir = os.path.join(cache_dir, "datasets")
    os.makedirs(datasets_dir, exist_ok=True)
    return datasets_dir


def _file_hash(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url, dest):
    """Downloads `url` into the file `dest`. Tests replace this function."""
    with urllib.request.urlopen(url, timeout=60) as response:
        with open(dest, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)


_LOCAL_COPY_HINT = (
    "To load a local copy without the network, pass its path: "
    "`load_pokemon(path='/path/to/pokemon.zip')` (a zip or its extracted "
    "folder)."
)


def _download_verified(url, dest, sha1):
    """Downloads to a temporary name, checks the sha1, then renames.

    Nothing is left at `dest` unless the hash matched.
    """
    folder = os.path.dirname(dest)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(dest) + ".", suffix=".part"
    )
    os.close(fd)
    try:
        try:
            _fetch(url, tmp)
        except Exception as e:
            raise OSError(
                f"Could not download {url} ({type(e).__name__}: {e}). "
                + _LOCAL_COPY_HINT
            ) from e
        got = _file_hash(tmp, "sha1")
        if got != sha1:
            raise ValueError(
                f"The file downloaded from {url} is corrupt or not the "
                f"expected one, so it was deleted: its sha1 must be {sha1}. "
                f"Received: sha1={got}. Try again, or "
                + _LOCAL_COPY_HINT[0].lower()
                + _LOCAL_COPY_HINT[1:]
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _safe_extract(zip_path, dest):
    """Extracts `zip_path` to the new folder `dest`, atomically.

    Every entry is checked before anything is written: absolute paths,
    `..` components and symbolic links are refused. Files are extracted to a
    temporary folder next to `dest`, which is renamed to `dest` at the end,
    so a half-extracted folder is never found at `dest`.
    """
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(
        dir=parent, prefix="." + os.path.basename(dest) + ".extract-"
    )
    try:
        root = os.path.realpath(tmp)
        with _open_zip(zip_path) as zf:
            _check_members(zf, os.fspath(zip_path))
            for info in zf.infolist():
                name = info.filename.replace("\\", "/")
                target = os.path.realpath(os.path.join(root, *name.split("/")))
                if target != root and not target.startswith(root + os.sep):
                    raise ValueError(
                        f"Refusing to extract {info.filename!r} outside the "
                        f"target folder. Received: path={zip_path!r}"
                    )
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except (zipfile.BadZipFile, EOFError, zlib.error) as e:
                    raise ValueError(
                        f"The zip archive is corrupt ({e}). "
                        f"Received: path={os.fspath(zip_path)!r}"
                    ) from None
        try:
            os.rename(tmp, dest)
        except OSError:
            if not os.path.isdir(dest):  # Not a concurrent extraction.
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _pokemon_folder(cache_dir):
    """Returns the extracted d2l Pokemon folder, downloading if needed."""
    datasets_dir = _keras_cache_dir(cache_dir)
    folder = os.path.join(datasets_dir, "pokemon-" + POKEMON_SHA1[:12])
    if os.path.isdir(folder):
        return folder  # Only complete extractions are renamed into place.
    zip_path = os.path.join(datasets_dir, "pokemon.zip")
    if os.path.isfile(zip_path) and (
        _file_hash(zip_path, "sha1") != POKEMON_SHA1
    ):
        os.remove(zip_path)  # Not the expected file: never trust it.
    if not os.path.isfile(zip_path):
        _download_verified(POKEMON_URL, zip_path, POKEMON_SHA1)
    return _safe_extract(zip_path, folder)


def load_pokemon(
    batch_size=256,
    image_size=64,
    path=None,
    *,
    background="white",
    resize_mode="pad",
    shuffle=True,
    seed=None,
    drop_remainder=False,
    with_labels=False,
    cache_dir=None,
    cache_file=None,
    num_workers=None,
):
    """Loads the d2l Pokemon sprites as a `tf.data.Dataset` in [-1, 1].

    With no `path`, d2l's `pokemon.zip` is downloaded over https from d2l's
    data host into the Keras cache folder (`$KERAS_HOME` or `~/.keras`,
    under `datasets/`), its sha1 is checked and it is extracted; later calls
    reuse the extracted folder without touching the network. The download
    goes to a temporary name and is renamed into place only if its hash
    matches, and the archive is extracted into a temporary folder that is
    renamed into place when complete, so a failed call leaves nothing a
    later call would trust.

    With `path`, pointing at a zip archive or an extracted folder (d2l's
    layout `pokemon/<class>/<image>.png`, or the class folders directly),
    nothing touches the network and no hash is checked, so any copy or
    stand-in loads. A zip is read in place, without extracting it. Unsafe
    archive entries (absolute paths, `..`, symbolic links) are refused.

    Images are decoded as by `image_folder_dataset`: transparency
    composited onto `background`, non-square sprites padded (or cropped),
    resized to `image_size` and scaled to [-1, 1].

    Args:
        batch_size: examples per batch. Defaults to 256 (as in the chapter).
        image_size: side of the square output images. Defaults to 64.
        path: optional local `pokemon.zip` or extracted folder.
        background: colour transparency is composited onto. Defaults to
            `"white"`.
        resize_mode: `"pad"` (default) or `"crop"` for non-square sprites.
        shuffle: whether to shuffle the examples every epoch.
            Defaults to `True`.
        seed: optional integer seed making the shuffle order deterministic.
        drop_remainder: whether to drop the last, smaller batch.
            Defaults to `False`.
        with_labels: if `True`, elements are `(images, labels)` with the
            species index (sorted class-folder order). Defaults to `False`.
        cache_dir: folder for the download instead of the Keras cache.
        cache_file: optional `.npy` path for an on-disk pixel cache (see
            `image_folder_dataset`). Defaults to `None` (in memory).
        num_workers: decoding threads. Defaults to twice the CPU count.

    Returns:
        A `tf.data.Dataset` of `float32` batches `(batch, image_size,
        image_size, 3)` in [-1, 1] (or `(images, labels)` pairs), with
        `class_names` and `file_paths` attributes.

    Example:

    ```python
    dataset = keras_dcgan.datasets.load_pokemon(
        path="pokemon.zip", batch_size=256, seed=0
    )
    model.fit(dataset, epochs=40)
    ```
    """
    batch_size, image_size = _check_common(batch_size, image_size)
    one_of("resize_mode", resize_mode, _RESIZE_MODES)
    background = _parse_background(background)
    num_workers = _num_workers(num_workers)
    if path is None:
        path = _pokemon_folder(cache_dir)
    path = os.fspath(path)
    if os.path.isdir(path):
        source = _FolderSource(path)
        prefix = os.path.join(path, "")
    elif os.path.isfile(path):
        source = _ZipSource(path)
        prefix = path + "::"
    else:
        raise FileNotFoundError(
            "`path` must be a Pokemon zip archive or an extracted folder. "
            f"Received: path={path!r}"
        )
    prefix += source.strip_common_folder()
    return _dataset_from_source(
        source,
        source.names,
        batch_size,
        image_size,
        3,
        background,
        resize_mode,
        shuffle,
        seed,
        drop_remainder,
        with_labels,
        cache_file,
        num_workers,
        path_prefix=prefix,
    )


# ---------------------------------------------------------------------------
# Fashion-MNIST.


def _class_indices(classes):
    if classes is None:
        return None
    if isinstance(classes, (str, int, np.integer)):
        classes = [classes]
    names = {
        re.sub(r"[^a-z0-9]", "", n.lower()): i
        for i, n in enumerate(FASHION_MNIST_CLASS_NAMES)
    }
    names.update(_FASHION_MNIST_ALIASES)
    indices = []
    for c in classes:
        if isinstance(c, str):
            index = names.get(re.sub(r"[^a-z0-9]", "", c.lower()))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            index = int(c) if 0 <= c < 10 else None
        else:
            index = None
        if index is None:
            raise ValueError(
                "`classes` must hold Fashion-MNIST class indices 0-9 or names "
                f"({', '.join(FASHION_MNIST_CLASS_NAMES)}). "
                f"Received: classes={classes!r} (unknown class {c!r})"
            )
        indices.append(index)
    if not indices:
        raise ValueError(
            f"`classes` must not be empty. Received: classes={classes!r}"
        )
    return sorted(set(indices))


def _read_idx(path, magic, item_shape):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = len(item_shape) + 1
    header = 4 + 4 * ndim
    dims = (
        np.frombuffer(data, ">u4", count=ndim + 1)
        if len(data) >= header
        else None
    )
    expected_dims = None if dims is None else (dims[1], *item_shape)
    if dims is None or dims[0] != magic or tuple(dims[1:]) != expected_dims:
        raise ValueError(
            f"The file is not an idx file of {('images', 'labels')[ndim == 1]}"
            f" with items of shape {item_shape}. Received: path={path!r}"
        )
    count = int(dims[1])
    array = np.frombuffer(data, np.uint8, offset=header)
    if array.size != count * int(np.prod(item_shape, dtype=np.int64)):
        raise ValueError(f"The idx file is truncated. Received: path={path!r}")
    return array.reshape((count,) + tuple(item_shape))


def _fashion_mnist_from_folder(path, split, verify):
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            "`path` must be a folder holding the Fashion-MNIST idx .gz files. "
            f"Received: path={path!r}"
        )
    images_name, images_md5, labels_name, labels_md5 = FASHION_MNIST_FILES[
        split
    ]
    arrays = []
    for name, md5, magic, shape in (
        (images_name, images_md5, 2051, (28, 28)),
        (labels_name, labels_md5, 2049, ()),
    ):
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise FileNotFoundError(
                f"The Fashion-MNIST folder has no {name}. Expected the four "
                "idx files "
                + ", ".join(
                    n for v in FASHION_MNIST_FILES.values() for n in v[::2]
                )
                + f". Received: path={path!r}"
            )
        if verify:
            got = _file_hash(file, "md5")
            if got != md5:
                raise ValueError(
                    f"{name} is not the published Fashion-MNIST file: its "
                    f"md5 must be {md5}. Pass verify=False to load other "
                    f"files in the same format. Received: md5={got}"
                )
        arrays.append(_read_idx(file, magic, shape))
    images, labels = arrays
    if len(images) != len(labels):
        raise ValueError(
            f"{images_name} and {labels_name} must hold the same number of "
            f"items. Received: {len(images)} images and {len(labels)} labels"
        )
    return images, labels.astype(np.int32)


def _fashion_mnist_from_tfds(split, data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError(
            "Loading Fashion-MNIST without `path` needs tensorflow-datasets "
            "(`pip install tensorflow-datasets`). Or pass `path=` a folder "
            "holding the four idx .gz files."
        ) from None
    try:
        dataset = tfds.load(
            "fashion_mnist", split=split, as_supervised=True, data_dir=data_dir
        )
        images, labels = [], []
        for x, y in tfds.as_numpy(dataset.batch(10000)):
            images.append(x[..., 0])
            labels.append(y)
    except Exception as e:
        raise OSError(
            "Could not load fashion_mnist through tensorflow-datasets "
            f"({type(e).__name__}: {e}). Without network access, pass `path=` "
            "a folder holding the four idx .gz files, e.g. "
            "load_fashion_mnist(path='data/fashion-mnist')."
        ) from e
    return (
        np.concatenate(images).astype(np.uint8),
        np.concatenate(labels).astype(np.int32),
    )


def _resize_square(images, image_size, resize_mode):
    """Pads (centred, black) or resizes `(N, 28, 28)` uint8 images."""
    size = images.shape[1]
    if image_size == size:
        return images
    if resize_mode == "pad":
        if image_size < size:
            raise ValueError(
                f"`resize_mode='pad'` needs `image_size` >= {size}; use "
                "resize_mode='resize' for smaller images. "
                f"Received: image_size={image_size}"
            )
        before = (image_size - size) // 2
        after = image_size - size - before
        return np.pad(images, ((0, 0), (before, after), (before, after)))
    out = np.empty((len(images), image_size, image_size), np.uint8)
    for start in range(0, len(images), 10000):
        chunk = images[start : start + 10000, ..., None]
        resized = tf.image.resize(
            chunk, (image_size, image_size), method="bilinear", antialias=True
        )
        out[start : start + 10000] = np.clip(
            np.rint(resized.numpy()[..., 0]), 0, 255
        )
    return out


def load_fashion_mnist(
    split="train",
    image_size=32,
    classes=None,
    batch_size=256,
    path=None,
    *,
    channels=1,
    resize_mode="pad",
    with_labels=False,
    shuffle=True,
    seed=None,
    drop_remainder=False,
    verify=True,
    data_dir=None,
):
    """Loads Fashion-MNIST as a `tf.data.Dataset` of images in [-1, 1].

    Without `path`, the data comes through tensorflow-datasets
    (`tfds.load("fashion_mnist")`, downloading on first use). With `path`, a
    folder holding the four standard idx files
    (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
    `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`), it loads
    fully offline. The two files of the split are checked against their
    published md5 unless `verify=False` (for files in the same format that
    are not the originals, such as test fixtures).

    The 28x28 images are centre-padded with black (`resize_mode="pad"`, the
    default) or resized (`resize_mode="resize"`, bilinear with antialias) to
    `image_size`, so 32 suits a generator that doubles 4 -> 8 -> 16 -> 32.

    Args:
        split: `"train"` (60,000 images) or `"test"` (10,000).
        image_size: side of the square output images. Defaults to 32.
        classes: optional class filter: an index 0-9, a name such as
            `"sneaker"` or `"Ankle boot"` (case, spaces and punctuation
            ignored), or a list of them. Labels keep their original indices.
        batch_size: examples per batch. Defaults to 256.
        path: optional folder holding the four idx `.gz` files.
        channels: 1 (default) or 3 (the gray level repeated).
        resize_mode: `"pad"` (default) or `"resize"`.
        with_labels: if `True`, elements are `(images, labels)` with `int32`
            labels, for evaluation. Defaults to `False`.
        shuffle: whether to shuffle the examples every epoch.
            Defaults to `True`.
        seed: optional integer seed making the shuffle order deterministic.
        drop_remainder: whether to drop the last, smaller batch.
            Defaults to `False`.
        verify: whether to check the md5 of the idx files given by `path`.
            Defaults to `True`.
        data_dir: optional tensorflow-datasets data folder.

    Returns:
        A `tf.data.Dataset` of `float32` batches `(batch, image_size,
        image_size, channels)`, or `(images, labels)` pairs. Its
        `class_names` attribute lists the ten class names.

    Example:

    ```python
    dataset = keras_dcgan.datasets.load_fashion_mnist(
        image_size=32, classes=["sneaker", "trouser"], with_labels=True
    )
    ```
    """
    one_of("split", split, ("train", "test"))
    batch_size, image_size = _check_common(batch_size, image_size, channels)
    one_of("resize_mode", resize_mode, ("pad", "resize"))
    indices = _class_indices(classes)
    if path is None:
        images, labels = _fashion_mnist_from_tfds(split, data_dir)
    else:
        images, labels = _fashion_mnist_from_folder(path, split, verify)
    if indices is not None:
        mask = np.isin(labels, indices)
        images, labels = images[mask], labels[mask]
    images = _resize_square(images, image_size, resize_mode)[..., None]
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    dataset = _make_dataset(
        images,
        labels if with_labels else None,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
    )
    return _finish(dataset, FASHION_MNIST_CLASS_NAMES)


# ---------------------------------------------------------------------------
# Fake data and previews.


def fake_dataset(
    num_examples=64,
    image_shape=(64, 64, 3),
    batch_size=32,
    *,
    num_classes=10,
    with_labels=False,
    shuffle=True,
    seed=0,
    drop_remainder=False,
):
    """Random images in [-1, 1], for smoke tests and dry runs.

    The images are uniform random `uint8` pixels (drawn with NumPy from
    `seed`) going through the same pipeline as the real loaders.

    Args:
        num_examples: number of examples. Defaults to 64.
        image_shape: shape of one image, any tuple of positive integers.
            Defaults to `(64, 64, 3)`.
        batch_size: examples per batch. Defaults to 32.
        num_classes: number of random labels when `with_labels=True`.
            Defaults to 10.
        with_labels: if `True`, elements are `(images, labels)`.
        shuffle: whether to shuffle the examples every epoch.
        seed: integer seed for the pixels, labels and shuffle. Defaults to 0.
        drop_remainder: whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset` of `float32` batches
        `(batch,) + image_shape`, or `(images, labels)` pairs.

    Example:

    >>> dataset = fake_dataset(8, image_shape=(16, 16, 1), batch_size=4)
    >>> next(dataset.as_numpy_iterator()).shape
    (4, 16, 16, 1)
    """
    num_examples = positive_int("num_examples", num_examples)
    batch_size = positive_int("batch_size", batch_size)
    num_classes = positive_int("num_classes", num_classes)
    try:
        shape = tuple(image_shape)
        for v in shape:
            positive_int("image_shape", v)
        if not shape:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            "`image_shape` must be a non-empty tuple of positive integers. "
            f"Received: image_shape={image_shape!r}"
        ) from None
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (num_examples,) + shape, dtype=np.uint8)
    labels = rng.integers(0, num_classes, num_examples).astype(np.int32)
    dataset = _make_dataset(
        pixels,
        labels if with_labels else None,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_remainder=drop_remainder,
    )
    return _finish(dataset, [str(i) for i in range(num_classes)])


def take_images(dataset, count):
    """Returns the first `count` images of a dataset as a NumPy array.

    Args:
        dataset: a `tf.data.Dataset` of image batches or `(images, labels)`
            pairs, such as the loaders of this module return.
        count: number of images to take.

    Returns:
        A NumPy array of up to `count` images.
    """
    count = positive_int("count", count)
    batches, taken = [], 0
    for element in dataset.as_numpy_iterator():
        batch = element[0] if isinstance(element, tuple) else element
        batches.append(batch[: count - taken])
        taken += len(batches[-1])
        if taken >= count:
            break
    if not batches:
        raise ValueError("`dataset` must not be empty.")
    return np.concatenate(batches)


def preview_dataset(dataset, path=None, rows=4, cols=5):
    """Shows or saves a grid of the first `rows * cols` images of a dataset.

    The chapter shows the first 20 Pokemon this way. With `path`, the grid
    is written as a PNG (atomically, by `images.save_image_grid`); otherwise
    it is drawn with matplotlib.

    Args:
        dataset: a `tf.data.Dataset` of images in [-1, 1] (or pairs).
        path: optional PNG path.
        rows: grid rows. Defaults to 4.
        cols: grid columns. Defaults to 5.

    Returns:
        The `uint8` grid, shape `(height, width, channels)`.

    Example:

    ```python
    preview_dataset(load_pokemon(path="pokemon.zip"), "pokemon.png")
    ```
    """
    rows = positive_int("rows", rows)
    cols = positive_int("cols", cols)
    batch = take_images(dataset, rows * cols)
    if path is not None:
        return images_lib.save_image_grid(batch, path, rows=rows, cols=cols)
    images_lib.show_image_grid(batch, rows=rows, cols=cols)
    return images_lib.make_grid(batch, rows=rows, cols=cols)
