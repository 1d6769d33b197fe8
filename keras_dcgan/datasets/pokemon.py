"""The d2l Pokemon sprites: download, verify, extract, load."""

import os
import tempfile

import keras

from keras_dcgan.datasets.decoding import (
    parse_background,
    resolve_num_workers,
)
from keras_dcgan.datasets.image_folder import RESIZE_MODES
from keras_dcgan.datasets.pipeline import (
    Batching,
    check_image_size,
    dataset_from_source,
)
from keras_dcgan.datasets.sources import FolderSource, ZipSource, safe_extract
from keras_dcgan.files import file_hash
from keras_dcgan.validation import one_of

POKEMON_URL = "https://d2l-data.s3-accelerate.amazonaws.com/pokemon.zip"
POKEMON_SHA1 = "c065c0e2593b8b161a2d7873e42418bf6a21106c"

_LOCAL_COPY_HINT = (
    "To load a local copy without the network, pass its path: "
    "`load_pokemon(path='/path/to/pokemon.zip')` (a zip or its extracted "
    "folder)."
)


def _keras_home(cache_dir):
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
    os.makedirs(os.path.join(cache_dir, "datasets"), exist_ok=True)
    return cache_dir


def _sha1(path):
    # `keras.utils.get_file` checks only sha256 and md5; d2l publishes sha1.
    return file_hash(path, "sha1")


def _download_verified(cache_dir):
    """Downloads `pokemon.zip` with `keras.utils.get_file`, checks its sha1.

    A cached zip with another hash, or a download with another hash, is
    deleted: nothing is left in the cache unless the hash matched.
    """
    zip_path = os.path.join(cache_dir, "datasets", "pokemon.zip")
    if os.path.isfile(zip_path) and _sha1(zip_path) != POKEMON_SHA1:
        os.remove(zip_path)  # Not the expected file: never trust it.
    try:
        zip_path = keras.utils.get_file(
            "pokemon.zip",
            POKEMON_URL,
            cache_dir=cache_dir,
            cache_subdir="datasets",
        )
    except Exception as e:
        raise OSError(
            f"Could not download {POKEMON_URL} ({type(e).__name__}: {e}). "
            + _LOCAL_COPY_HINT
        ) from e
    got = _sha1(zip_path)
    if got != POKEMON_SHA1:
        os.remove(zip_path)
        raise ValueError(
            f"The file downloaded from {POKEMON_URL} is corrupt or not the "
            f"expected one, so it was deleted: its sha1 must be "
            f"{POKEMON_SHA1}. Received: sha1={got}. Try again, or "
            + _LOCAL_COPY_HINT[0].lower()
            + _LOCAL_COPY_HINT[1:]
        )
    return zip_path


def _pokemon_folder(cache_dir):
    """Returns the extracted d2l Pokemon folder, downloading if needed."""
    cache_dir = _keras_home(cache_dir)
    folder = os.path.join(cache_dir, "datasets", "pokemon-" + POKEMON_SHA1[:12])
    if os.path.isdir(folder):
        return folder  # Only complete extractions are renamed into place.
    return safe_extract(_download_verified(cache_dir), folder)


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
    data host by `keras.utils.get_file` into the Keras cache folder
    (`$KERAS_HOME` or `~/.keras`, under `datasets/`), its sha1 is checked
    and it is extracted; later calls reuse the extracted folder without
    touching the network. A download whose hash does not match is deleted,
    and the archive is extracted into a temporary folder that is renamed
    into place when complete, so a failed call leaves nothing a later call
    would trust.

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
    batching = Batching.checked(
        batch_size, shuffle, seed, drop_remainder, with_labels
    )
    decoding = (
        check_image_size(image_size, 3),
        3,
        parse_background(background),
        one_of("resize_mode", resize_mode, RESIZE_MODES),
    )
    num_workers = resolve_num_workers(num_workers)
    if path is None:
        path = _pokemon_folder(cache_dir)
    path = os.fspath(path)
    if os.path.isdir(path):
        source = FolderSource(path)
        prefix = os.path.join(path, "")
    elif os.path.isfile(path):
        source = ZipSource(path)
        prefix = path + "::"
    else:
        raise FileNotFoundError(
            "`path` must be a Pokemon zip archive or an extracted folder. "
            f"Received: path={path!r}"
        )
    prefix += source.strip_common_folder()
    return dataset_from_source(
        source, prefix, decoding, batching, cache_file, num_workers
    )
