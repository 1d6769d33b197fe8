"""Trained presets: the shipped ones, preset folders and their download.

A preset folder holds three files: `config.json` (the `DCGAN`'s Keras
config, with both networks), `model.weights.npz` (every network variable by
its path; kernels may be stored as float16) and `metadata.json` (what the
model is, how it was trained and how good it is). `DCGAN.from_preset()`
loads one; `export_preset()` writes one.
"""

import collections.abc
import io
import json
import os
import shutil
import tempfile
import urllib.parse
import zipfile

import keras
import numpy as np

from keras_dcgan import checkpoints, files
from keras_dcgan.optimizers import CHAPTER_LEARNING_RATE, chapter_adam

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.npz"
METADATA_FILE = "metadata.json"
CACHE_SUBDIR = "keras_dcgan"
_URL_SCHEMES = ("http", "https", "file")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Presets(collections.abc.Mapping):
    """The shipped presets: a read-only mapping of name -> metadata dict."""

    def _names(self):
        return sorted(
            name
            for name in os.listdir(_HERE)
            if os.path.isfile(os.path.join(_HERE, name, METADATA_FILE))
        )

    def __getitem__(self, name):
        if name not in self._names():
            raise KeyError(name)
        return _read_json(os.path.join(_HERE, name, METADATA_FILE))

    def __iter__(self):
        return iter(self._names())

    def __len__(self):
        return len(self._names())

    def __repr__(self):
        return f"Presets({', '.join(self._names())})"


PRESETS = Presets()


def _cache_dir():
    # keras.utils.get_file's default cache, named here so that a file that
    # fails its checksum can be removed.
    return os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )


def _download(url, file_hash):
    if not file_hash:
        raise ValueError(
            "A preset URL needs the file's sha256 to verify the download. "
            f"Expected: file_hash='<64 hex digits>'. Received: preset={url!r}, "
            f"file_hash={file_hash!r}"
        )
    fname = os.path.basename(urllib.parse.urlparse(url).path)
    if not fname.endswith((".keras", ".zip")):
        raise ValueError(
            "A preset URL must name a `.keras` file or a `.zip` of a preset "
            f"folder. Received: preset={url!r}"
        )
    cache_dir = _cache_dir()
    # get_file falls back to /tmp for a folder that does not exist yet.
    os.makedirs(os.path.join(cache_dir, CACHE_SUBDIR), exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname,
            origin=url,
            file_hash=file_hash,
            hash_algorithm="sha256",
            cache_dir=cache_dir,
            cache_subdir=CACHE_SUBDIR,
        )
    except ValueError as error:
        target = os.path.join(cache_dir, CACHE_SUBDIR, fname)
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(
            f"The file downloaded from {url} does not have the expected "
            f"sha256; it was removed. Expected: {file_hash}. ({error})"
        ) from None
    if fname.endswith(".keras"):
        return path
    folder = path[: -len(".zip")]
    if not os.path.isfile(os.path.join(folder, CONFIG_FILE)):
        _extract_preset_zip(path, folder)
    return folder


def _extract_preset_zip(path, folder):
    """Extracts a zip of a preset folder (files at its top) to `folder`."""
    with zipfile.ZipFile(path) as archive:
        names = {
            os.path.basename(n): n
            for n in archive.namelist()
            if not n.endswith("/")
        }
        missing = [n for n in (CONFIG_FILE, WEIGHTS_FILE) if n not in names]
        if missing:
            raise ValueError(
                f"A preset archive must hold {CONFIG_FILE} and {WEIGHTS_FILE}. "
                f"Received: {path!r} without {', '.join(missing)}"
            )
        staging = tempfile.mkdtemp(dir=os.path.dirname(folder))
        try:
            for base in (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE):
                if base in names:
                    with open(os.path.join(staging, base), "wb") as f:
                        f.write(archive.read(names[base]))
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def resolve(preset, file_hash=None):
    """Turns a preset name, path or URL into a local folder or `.keras` file.

    Args:
        preset: a shipped preset's name, a preset folder, a `.keras` file, or
            an `http(s)://` or `file://` URL of a `.keras` file or a `.zip`
            of a preset folder.
        file_hash: the sha256 of the file at a URL (required for URLs).

    Returns:
        The path of a preset folder or of a `.keras` file.
    """
    preset = os.fspath(preset)
    if preset in PRESETS:
        return os.path.join(_HERE, preset)
    if urllib.parse.urlparse(preset).scheme in _URL_SCHEMES:
        return _download(preset, file_hash)
    if os.path.isdir(preset):
        if not os.path.isfile(os.path.join(preset, CONFIG_FILE)):
            raise ValueError(
                f"A preset folder must hold {CONFIG_FILE} and {WEIGHTS_FILE}. "
                f"Received: preset={preset!r}"
            )
        return preset
    if os.path.isfile(preset) and preset.endswith(".keras"):
        return preset
    raise ValueError(
        "`preset` must be the name of a shipped preset, a preset folder, a "
        "`.keras` file or a URL. Known presets: "
        f"{', '.join(PRESETS)}. Received: preset={preset!r}"
    )


def _network_variables(model):
    """`{"generator/<path>": variable, ...}` for every network.

    The networks are the generator, the discriminator and, when the model
    keeps one, the EMA generator.
    """
    # Functional sub-models' variable paths do not name the model, so the
    # networks' paths can coincide: prefix them.
    names = ["generator", "discriminator"]
    if getattr(model, "ema_generator", None) is not None:
        names.append("ema_generator")
    return {
        f"{name}/{variable.path}": variable
        for name in names
        for variable in getattr(model, name).weights
    }


def read_metadata(folder):
    """The metadata of a preset folder (`{}` when it has none)."""
    path = os.path.join(folder, METADATA_FILE)
    return _read_json(path) if os.path.isfile(path) else {}


def load_preset_model(folder):
    """Builds the model of a preset folder and loads its weights.

    The config is deserialized in Keras's safe mode, so a folder cannot run
    code. Returns the (uncompiled) model.
    """
    config = _read_json(os.path.join(folder, CONFIG_FILE))
    expected = read_metadata(folder).get("weights_sha256")
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    if expected and files.file_hash(weights_path) != expected:
        raise ValueError(
            f"The preset's {WEIGHTS_FILE} does not match the sha256 in its "
            f"{METADATA_FILE}; the file is damaged. Expected: {expected}. "
            f"Received: folder={folder!r}"
        )
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    with np.load(weights_path) as stored:
        arrays = dict(stored)
    variables = _network_variables(model)
    if set(arrays) != set(variables):
        raise ValueError(
            "The preset's weights do not match its model's variables. "
            f"Missing: {sorted(set(variables) - set(arrays))[:3]}; unexpected:"
            f" {sorted(set(arrays) - set(variables))[:3]}. Received: "
            f"folder={folder!r}"
        )
    for key, variable in variables.items():
        value = arrays[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"The preset's weight {key} has shape {value.shape}; the "
                f"model expects {tuple(variable.shape)}. Received: "
                f"folder={folder!r}"
            )
        variable.assign(value.astype(variable.dtype))
    return model


def load(preset, file_hash=None):
    """The model a preset names, and its metadata (`{}` for a `.keras` file).

    See `DCGAN.from_preset` for what `preset` may be.
    """
    path = resolve(preset, file_hash=file_hash)
    if os.path.isdir(path):
        return load_preset_model(path), read_metadata(path)
    return checkpoints.load_model(path), {}


def from_preset(cls, preset, file_hash=None, compile=True):
    """`cls.from_preset`: the preset's model, compiled with its recipe's
    optimizers (fresh state) where `compile` and it is not compiled."""
    model, metadata = load(preset, file_hash=file_hash)
    if not isinstance(model, cls):
        raise ValueError(
            f"`preset` must hold a `{cls.__name__}`; it holds a "
            f"`{type(model).__name__}`. Received: preset={preset!r}"
        )
    if compile and not model.compiled:
        recipe = metadata.get("recipe", {})
        lr = recipe.get("learning_rate", CHAPTER_LEARNING_RATE)
        beta_1 = recipe.get("beta_1", 0.5)
        model.compile(chapter_adam(lr, beta_1), chapter_adam(lr, beta_1))
    return model


def export_preset(model, folder, metadata=None, kernel_dtype="float16"):
    """Writes `model`'s networks as a preset folder that `from_preset` loads.

    Only the networks are kept (no optimizer state); kernels are stored as
    `kernel_dtype` to keep the files small, every other variable (such as
    BatchNormalization statistics) as float32. The folder appears whole or
    not at all.

    Args:
        model: a `keras_dcgan.DCGAN`.
        folder: the preset folder to write; it must not exist yet.
        metadata: optional JSON-serialisable dict; `weights_sha256` is added.
        kernel_dtype: `"float16"` (default) or `"float32"`.

    Returns:
        The metadata written.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder):
        raise ValueError(
            f"`folder` must not exist yet. Received: folder={folder!r}"
        )
    if kernel_dtype not in ("float16", "float32"):
        raise ValueError(
            "`kernel_dtype` must be 'float16' or 'float32'. "
            f"Received: kernel_dtype={kernel_dtype!r}"
        )
    arrays = {}
    for key, variable in _network_variables(model).items():
        value = keras.ops.convert_to_numpy(variable).astype("float32")
        if value.ndim >= 2:
            value = value.astype(kernel_dtype)
        arrays[key] = value
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent)
    files.usual_permissions(staging, 0o777)
    try:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        weights = os.path.join(staging, WEIGHTS_FILE)
        with open(weights, "wb") as f:
            f.write(buffer.getvalue())
        metadata = dict(metadata or {}, weights_sha256=files.file_hash(weights))
        for name, value in ((CONFIG_FILE, config), (METADATA_FILE, metadata)):
            with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
                json.dump(value, f, indent=2, sort_keys=True)
                f.write("\n")
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metadata
