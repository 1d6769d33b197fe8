"""Checkpoints: saving, loading and resuming a DCGAN's full training state.

A run folder's checkpoint is `checkpoint.json` (the commit point) and the
`.keras` files under `checkpoints/` that it names:

```
run/
  checkpoint.json                what the latest checkpoint is
  checkpoints/epoch_0003.keras   networks, optimizers, noise generator state
```

The model file goes to a temporary name, is flushed to disk and renamed to
a new per-epoch name; then `checkpoint.json` is replaced the same way,
which is the moment the new checkpoint counts; only then are model files
beyond the last `keep` epochs removed. A process killed at any point leaves
either the old or the new checkpoint complete.

The `.keras` file restores both networks, both optimizers and the noise
generator exactly; `keras_dcgan.runs.train_run` resumes from it. Every
`.keras` file of the package is read by `load_model()`.
"""

import json
import math
import os
import re
import zipfile

import keras
import numpy as np

from keras_dcgan.files import atomic_replace, write_bytes_atomic

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_FORMAT = 1
CHECKPOINTS_DIR = "checkpoints"
GRID_NOISE_FILE = "grid_noise.npy"


def save_model_atomic(model, path):
    """Saves `model` to the `.keras` file `path` without a partial file."""
    return atomic_replace(path, model.save, suffix=".tmp.keras")


def read_checkpoint(directory):
    """Reads the run folder's `checkpoint.json`.

    Args:
        directory: the run folder.

    Returns:
        The checkpoint record (a dict with `epoch`, `step`, `config`,
        `model`, `grid_noise` and `history`), or `None` when the folder
        holds no checkpoint.
    """
    path = os.path.join(os.fspath(directory), CHECKPOINT_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        record = json.load(f)
    if record.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"`{path}` is not a keras-dcgan checkpoint record of format "
            f"{CHECKPOINT_FORMAT}. Received: format={record.get('format')!r}"
        )
    return record


def _checkpoint_epoch(name):
    match = re.fullmatch(r"epoch_(\d+)\.keras", name)
    return int(match.group(1)) if match else None


def write_checkpoint(
    model, directory, epoch, config, history=None, epochs=None, keep=1
):
    """Saves the full training state after `epoch` completed epochs.

    The model file is written under a new name, then `checkpoint.json` is
    atomically replaced to point at it, then model files other than those
    of the last `keep` epochs are removed, so a crash at any moment leaves
    a complete checkpoint.

    Args:
        model: the `DCGAN` being trained.
        directory: the run folder.
        epoch: int. Number of completed epochs.
        config: dict. The run's hyper-parameters (JSON-serialisable).
        history: dict `{metric: [value per epoch]}`. Defaults to `{}`.
        epochs: int or None. The number of epochs the run aims at.
        keep: int. How many epoch checkpoints to keep: the model files of
            epochs `epoch - keep + 1` to `epoch`. Defaults to `1`.

    Returns:
        The path of the checkpoint's model file.
    """
    directory = os.fspath(directory)
    name = os.path.join(CHECKPOINTS_DIR, f"epoch_{epoch:04d}.keras")
    model_path = save_model_atomic(model, os.path.join(directory, name))
    record = {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "epochs": int(epochs or epoch),
        "step": int(keras.ops.convert_to_numpy(model.d_optimizer.iterations)),
        "model": name,
        "grid_noise": GRID_NOISE_FILE,
        "backend": keras.backend.backend(),
        "config": config,
        "history": history or {},
    }
    data = json.dumps(record, indent=1, sort_keys=True).encode()
    write_bytes_atomic(os.path.join(directory, CHECKPOINT_FILE), data)
    folder = os.path.dirname(model_path)
    for other in os.listdir(folder):
        number = _checkpoint_epoch(other)
        if other.endswith(".keras") and (
            number is None or not epoch - keep < number <= epoch
        ):
            os.remove(os.path.join(folder, other))
    return model_path


def load_checkpoint(directory):
    """Loads the model and record of a run folder's latest checkpoint.

    Args:
        directory: the run folder.

    Returns:
        A tuple `(model, record)`.

    Raises:
        FileNotFoundError: if the folder holds no checkpoint.
    """
    record = read_checkpoint(directory)
    if record is None:
        raise FileNotFoundError(
            "`directory` must be a run folder holding a checkpoint "
            f"({CHECKPOINT_FILE}). Received: directory={directory!r}"
        )
    model = load_model(os.path.join(directory, record["model"]))
    return model, record


def load_model(path, safe_mode=True, compile=True):
    """Loads a `.keras` file, refusing code and naming bad files.

    `safe_mode=True` (the default, as in Keras) refuses files whose
    configuration would run code, such as a `Lambda` layer's bytecode. A
    file that is truncated, not a Keras archive, or whose configuration or
    weights were altered raises a `ValueError` that names the file.

    Args:
        path: the `.keras` file.
        safe_mode: bool. Defaults to `True`; pass `False` only for files
            you trust.
        compile: bool. Whether to compile the model as it was saved.
            Defaults to `True`.

    Returns:
        The model.

    Raises:
        FileNotFoundError: if `path` is not a file.
        ValueError: if the file cannot be loaded safely.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`path` must be an existing .keras file. Received: path={path!r}"
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            "`path` must be a .keras model file; this one is truncated or "
            f"not a Keras archive. Received: path={path!r}"
        )
    try:
        return keras.saving.load_model(
            path, compile=compile, safe_mode=safe_mode
        )
    except Exception as error:  # Anything unreadable is reported the same.
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        raise ValueError(
            "`path` must be an intact .keras model file that loads with "
            f"safe_mode={safe_mode}; it is truncated, corrupt or was "
            f"modified ({type(error).__name__}: {reason}). "
            f"Received: path={path!r}"
        ) from error


def checkpoint_bytes(model):
    """Estimates the size of one checkpoint of `model`, in bytes.

    Counts every variable of the model and of its optimizers (Adam keeps
    two moments per weight) plus a 1 MiB allowance for the archive.
    """
    variables = list(model.variables)
    seen = {id(v) for v in variables}
    for name in ("d_optimizer", "g_optimizer", "optimizer"):
        optimizer = getattr(model, name, None)
        for v in getattr(optimizer, "variables", ()):
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    total = 0
    for v in variables:
        size = math.prod(int(d) for d in v.shape)
        total += (
            size * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize
        )
    return total + (1 << 20)
