"""Decoding images: one file to `uint8` pixels, a whole source to an array.

Each image is flattened onto a background colour (transparency composited,
not turned black), made square without distortion and resized. A source
(a folder or a zip) is decoded once, in a thread pool, into memory or an
on-disk `.npy` cache that later calls reuse while nothing has changed.
"""

import concurrent.futures
import io
import json
import os
import warnings

import numpy as np
from PIL import Image, ImageColor

from keras_dcgan.datasets.sources import labels_from_names, no_images_error
from keras_dcgan.files import atomic_replace, atomic_write
from keras_dcgan.validation import SkippedImageWarning, positive_int

_CACHE_FORMAT = 1


def parse_background(background):
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


def decode_image(data, image_size, channels, background, resize_mode):
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


def resolve_num_workers(num_workers):
    """Returns the decoding thread count: twice the CPUs (2 to 16) if None."""
    if num_workers is None:
        return max(2, min(16, 2 * (os.cpu_count() or 1)))
    return positive_int("num_workers", num_workers)


# ---------------------------------------------------------------------------
# Decoding many images, and the on-disk cache.


def _decode_into(out, source, names, decode_args, num_workers):
    """Decodes `names` into `out` in place; returns a mask of successes."""
    ok = np.zeros(len(names), bool)
    failures = []

    def work(start, stop):
        for i in range(start, stop):
            try:
                out[i] = decode_image(source.read(names[i]), *decode_args)
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


def load_source(source, decode_args, cache_file, num_workers):
    """Decodes a source once; returns `(pixels, names, labels, classes)`.

    `decode_args` is `(image_size, channels, background, resize_mode)`.
    """
    names, labels, class_names = labels_from_names(source.names, source.origin)
    if not names:
        raise no_images_error(source, readable=False)
    image_size, channels, background, resize_mode = decode_args
    shape = (len(names), image_size, image_size, channels)
    if cache_file is None:
        pixels = np.empty(shape, np.uint8)
        ok = _decode_into(pixels, source, names, decode_args, num_workers)
        count = _compact(pixels, ok)
        if count == 0:
            raise no_images_error(source, readable=True)
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
            raise no_images_error(source, readable=True)
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
    if os.path.exists(meta_file):
        os.remove(meta_file)  # The old pixels are no longer trusted.
    result = {}

    def write_pixels(tmp_path):
        pixels = np.lib.format.open_memmap(tmp_path, "w+", np.uint8, shape)
        ok = _decode_into(pixels, source, names, decode_args, num_workers)
        result["count"] = _compact(pixels, ok)
        result["ok"] = ok.tolist()
        pixels.flush()
        del pixels

    atomic_replace(cache_file, write_pixels, suffix=".npy.tmp")
    meta = {"key": key, "count": result["count"], "ok": result["ok"]}
    atomic_write(meta_file, lambda f: f.write(json.dumps(meta).encode()))
    return meta
