"""The failure table of docs/reliability.md: one test (or more) per row.

Rows already proven elsewhere are listed in the table with their test in
tests/test_datasets.py, tests/test_checkpoints.py or tests/test_cli.py.
"""

import errno
import http.server
import json
import os
import re
import struct
import subprocess
import sys
import threading
import warnings
import zipfile
import zlib
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import (
    fake_images,
    random_pixels,
    tiny_dcgan,
    tiny_recipe,
)
from PIL import Image

from keras_dcgan import callbacks, checkpoints, cli, runs, validation

ROOT = Path(__file__).resolve().parents[1]
BATCH = 4


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Every test sees the once-per-process warnings anew."""
    monkeypatch.setattr(validation, "_warned", set())


def short_recipe(epochs=2):
    return tiny_recipe(epochs=epochs)


def pixels(n=3 * BATCH):
    return random_pixels(n)


def run(directory, images=None, **kwargs):
    kwargs.setdefault("recipe", short_recipe())
    return runs.train_run(
        directory,
        pixels() if images is None else images,
        seed=0,
        verbose=0,
        gif=False,
        print_fn=lambda line: None,
        **kwargs,
    )


def one_line_error(capsys):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert re.match(r"keras-dcgan( \w+)?: error: ", err), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in captured.out + captured.err
    return err


# ---------------------------------------------------------------------------
# Data.


def _chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_claiming(width, height):
    """A tiny PNG whose header claims `width` x `height` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def write_bad_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("a text file with an image extension")
    whole = folder / "whole.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(whole)
    data = whole.read_bytes()
    whole.unlink()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    return 4


def load_folder(folder):
    from keras_dcgan import datasets

    return datasets.image_folder_dataset(
        folder, batch_size=4, image_size=8, shuffle=False
    )


def test_bad_image_files_are_skipped_with_one_warning(tmp_path):
    bad = write_bad_files(tmp_path)
    Image.new("RGB", (8, 8), (0, 0, 255)).save(tmp_path / "ok.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_folder(tmp_path)
    skipped = [
        w for w in caught if w.category is validation.SkippedImageWarning
    ]
    assert len(skipped) == 1
    assert f"Skipped {bad} " in str(skipped[0].message)
    assert [os.path.basename(p) for p in dataset.file_paths] == ["ok.png"]
    (batch,) = list(dataset.as_numpy_iterator())
    assert batch.shape == (1, 8, 8, 3) and np.isfinite(batch).all()


def test_image_far_above_the_pixel_limit_is_never_decoded(tmp_path):
    # Pillow's real limit: the header alone names the bomb.
    (tmp_path / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    with pytest.warns(
        validation.SkippedImageWarning, match="DecompressionBomb"
    ):
        dataset = load_folder(tmp_path)
    assert len(dataset.file_paths) == 1


def test_folder_of_only_bad_files_is_an_error(tmp_path):
    write_bad_files(tmp_path)
    with pytest.warns(validation.SkippedImageWarning):
        with pytest.raises(ValueError, match="No readable image found in"):
            load_folder(tmp_path)


def test_bad_images_can_fail_instead_of_being_skipped(tmp_path, capsys):
    write_bad_files(tmp_path / "images")
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "ok.png")
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "error", category=validation.SkippedImageWarning
        )
        with pytest.raises(validation.SkippedImageWarning, match="Skipped 4"):
            load_folder(tmp_path / "images")
    args = ["train", "--dataset", "folder", "--data", str(tmp_path / "images")]
    args += ["--bad-images", "fail", "--output-dir", str(tmp_path / "run")]
    assert cli.main(args) == 2
    err = one_line_error(capsys)
    assert "Skipped 4" in err and "--bad-images=fail" in err


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((16, 16, 3), "float32"), r"rank 4.*shape=\(16, 16, 3\)"),
        (np.zeros((0, 16, 16, 3), "float32"), r"non-empty.*shape=\(0, 16"),
        (np.zeros((2, 16, 16, 3), "int64"), "Received: images.dtype=int64"),
        (np.zeros((2, 16, 16, 3), bool), "Received: images.dtype=bool"),
        (np.zeros((2, 16, 16, 3), object), "Received: images.dtype=object"),
    ],
)
def test_wrong_rank_or_dtype_is_refused(images, match):
    with pytest.raises(ValueError, match=match):
        validation.check_images(images)


def test_nan_or_infinity_in_the_input_is_refused(tmp_path):
    images = fake_images(8)
    images[5, 1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"1 found, the first at index"):
        validation.check_images(images)
    images[5, 1, 2, 0] = np.inf
    with pytest.raises(ValueError, match=r"\(5, 1, 2, 0\) \(image 5\)"):
        validation.check_images(images)
    # Also a batch `(x, y)` as fit() receives it, and before any write.
    with pytest.raises(ValueError, match="NaN or infinite"):
        validation.check_images((keras.ops.convert_to_tensor(images), None))
    with pytest.raises(ValueError, match="NaN or infinite"):
        run(tmp_path / "run", images=images)
    assert not (tmp_path / "run").exists()


def test_unscaled_float_pixels_warn_clearly_once():
    unscaled = pixels().astype("float32")
    with pytest.warns(validation.PixelRangeWarning, match=r"\[0, 255\]") as rec:
        validation.check_images(unscaled)
        validation.check_images(unscaled)
    assert len(rec) == 1
    assert "Received: images in [0, 255]" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validation.check_images(pixels())  # uint8: scaled by the data path.
        validation.check_images(fake_images(8))  # Already in [-1, 1].


def test_uint8_pixels_passed_to_fit_warn_once():
    # Needs the hook in `DCGAN._real_images` (see docs/reliability.md).
    model = tiny_dcgan()
    model.compile()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(pixels(), batch_size=BATCH, epochs=2, verbose=0)
    found = [w for w in caught if w.category is validation.PixelRangeWarning]
    assert len(found) == 1, [str(w.message) for w in caught]
    assert "images / 127.5 - 1" in str(found[0].message)


# ---------------------------------------------------------------------------
# Downloads (the other rows are in tests/test_datasets.py).


class _HalfZip(http.server.BaseHTTPRequestHandler):
    """Promises a zip of 1 MiB, sends a few bytes, then hangs up."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        self.wfile.write(b"PK\x03\x04 half a zip")

    def log_message(self, *args):
        pass


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    from keras_dcgan.datasets import pokemon

    server = http.server.HTTPServer(("127.0.0.1", 0), _HalfZip)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/pokemon.zip"
        monkeypatch.setattr(pokemon, "POKEMON_URL", url)
        with pytest.raises(OSError, match=r"load_pokemon\(path="):
            pokemon.load_pokemon(cache_dir=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert os.listdir(tmp_path / "datasets") == []

    # The next call downloads again (and here reports the offline way).
    missing = (tmp_path / "offline" / "pokemon.zip").as_uri()
    monkeypatch.setattr(pokemon, "POKEMON_URL", missing)
    with pytest.raises(OSError, match=r"load_pokemon\(path="):
        pokemon.load_pokemon(cache_dir=tmp_path)
    assert os.listdir(tmp_path / "datasets") == []


# ---------------------------------------------------------------------------
# Training: NaN, health, disk.


class NaNAt(runs.EpochShuffledImages):
    """The run's data, with NaN in the second batch of the second epoch."""

    def __getitem__(self, index):
        batch = super().__getitem__(index)
        if self.epoch == 1 and index == 1:
            batch = np.full_like(batch, np.nan)
        return batch


def finite_state(model):
    return all(
        np.isfinite(keras.ops.convert_to_numpy(v)).all()
        for v in model.weights
        if "float" in str(v.dtype)
    )


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_checkpoint(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(runs, "EpochShuffledImages", NaNAt)
    with pytest.raises(callbacks.NonFiniteLossError) as info:
        run(tmp_path)
    message = str(info.value)
    assert "epoch 2, step 2 (global step 5)" in message
    assert "d_loss=nan" in message
    assert "last good checkpoint (epoch 1)" in message
    assert "on_nan='continue'" in message
    assert checkpoints.read_checkpoint(tmp_path)["epoch"] == 1
    assert os.listdir(tmp_path / "checkpoints") == ["epoch_0001.keras"]
    assert not (tmp_path / runs.MODEL_FILE).exists()
    model, _ = checkpoints.load_checkpoint(tmp_path)
    assert finite_state(model)


def test_nan_loss_can_continue_without_checkpointing_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "EpochShuffledImages", NaNAt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(tmp_path, on_nan="continue")
    messages = [
        str(w.message)
        for w in caught
        if w.category is callbacks.TrainingHealthWarning
    ]
    assert any("epoch 2, step 2" in m for m in messages), messages
    assert any("Not writing the checkpoint of epoch 2" in m for m in messages)
    assert result["epoch"] == 1
    model, _ = checkpoints.load_checkpoint(tmp_path)
    assert finite_state(model)
    with pytest.raises(ValueError, match="Received: on_nan='ignore'"):
        callbacks.StopOnNonFinite("ignore")


def test_discriminator_win_is_detected_from_measured_probabilities():
    model = tiny_dcgan()
    # The generator cannot learn; the discriminator learns fast.
    model.compile(
        d_optimizer=keras.optimizers.Adam(0.01),
        g_optimizer=keras.optimizers.SGD(0.0),
    )
    health = callbacks.TrainingHealth(win_threshold=0.95, patience=2)
    with pytest.warns(callbacks.TrainingHealthWarning) as rec:
        model.fit(
            fake_images(32),
            batch_size=8,
            epochs=6,
            verbose=0,
            callbacks=[health],
        )
    wins = [str(w.message) for w in rec if "wins" in str(w.message)]
    assert len(wins) == 1
    assert re.search(r"mean D\(x\)=0\.9\d+, mean D\(G\(z\)\)=0\.0\d+", wins[0])
    assert health.last["real_prob"] > 0.95
    assert health.last["fake_prob"] < 0.05


def test_default_threshold_catches_the_chapters_collapse_on_sprites():
    # Epoch means (D(x), D(G(z))) of real runs: the chapter's recipe on
    # Pokemon sprites through its collapse in epoch 6, and runs on sprites
    # and Fashion-MNIST that kept learning.
    model = tiny_dcgan()

    def win_warnings(epochs):
        health = callbacks.TrainingHealth()
        health.set_model(model)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for epoch, (real, fake) in enumerate(epochs):
                logs = {"real_prob": real, "fake_prob": fake}
                health.on_epoch_end(epoch, logs)
        return [str(w.message) for w in caught if "wins" in str(w.message)]

    collapsed = [(0.766, 0.263), (0.987, 0.031), (0.945, 0.067), (0.973, 0.038)]
    messages = win_warnings(collapsed)
    assert len(messages) == 1
    assert "epoch 3, 2 epochs in a row" in messages[0]
    assert win_warnings([(0.86, 0.15), (0.898, 0.101), (0.756, 0.243)]) == []


def test_generator_collapse_is_detected_from_sample_diversity():
    model = tiny_dcgan()
    model.compile(g_optimizer=keras.optimizers.SGD(0.0))
    healthy = callbacks.TrainingHealth(patience=1)
    healthy.set_model(model)
    assert healthy.measure()["diversity"] > 0.3  # Measured: about 0.7.
    # A generator that ignores its noise: every sample is the same image.
    first = model.generator.trainable_variables[0]
    first.assign(np.zeros(first.shape, "float32"))
    health = callbacks.TrainingHealth(patience=2)
    with pytest.warns(
        callbacks.TrainingHealthWarning, match="collapsed"
    ) as rec:
        model.fit(
            fake_images(16),
            batch_size=8,
            epochs=3,
            verbose=0,
            callbacks=[health],
        )
    collapsed = [str(w.message) for w in rec if "collapsed" in str(w.message)]
    assert len(collapsed) == 1
    assert "epoch 2, 2 epochs in a row" in collapsed[0]
    assert health.last["diversity"] < 1e-3
    assert callbacks.sample_diversity(fake_images(64)) > 0.9


def test_healthy_training_gives_no_health_warning():
    model = tiny_dcgan()
    model.compile()
    health = callbacks.TrainingHealth(patience=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", callbacks.TrainingHealthWarning)
        model.fit(
            fake_images(32),
            batch_size=8,
            epochs=2,
            verbose=0,
            callbacks=[health],
        )
    assert health.last["diversity"] > 0.3
    assert not health.warned


def test_unwritable_output_folder_is_refused_before_training(tmp_path, capsys):
    # Tests run as root, where chmod does not stop writes: the run folder's
    # parent is a regular file, which no user can create a folder in.
    validation.check_writable(tmp_path / "new" / "run")
    assert os.listdir(tmp_path) == []  # The probe leaves no trace.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="a folder this process can write"):
        run(blocker / "run")
    args = ["train", "--dataset", "fake", "--dry-run", "--image-size", "16"]
    assert cli.main(args + ["--output-dir", str(blocker / "run")]) == 2
    err = one_line_error(capsys)
    assert f"Received: directory='{blocker / 'run'}'" in err


def test_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    class Usage:
        free = 2**20

    monkeypatch.setattr(validation.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(ValueError, match=r"1\.0 MiB free, but the run needs"):
        run(tmp_path)
    assert checkpoints.read_checkpoint(tmp_path) is None
    assert not (tmp_path / "checkpoints").exists()


def test_disk_full_while_checkpointing_is_a_clear_error(tmp_path):
    class FillDisk(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:

                def full(path, *args, **kwargs):
                    with open(path, "wb") as f:
                        f.write(b"PK partial")
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

                self.model.save = full

    with pytest.raises(OSError) as info:
        run(tmp_path, callbacks=[FillDisk()])
    assert info.value.errno == errno.ENOSPC
    assert (
        "Could not write the checkpoint of epoch 2 in "
        f"{tmp_path} (No space left on device); the checkpoint of epoch 1 "
        "is intact" in str(info.value)
    )
    assert os.listdir(tmp_path / "checkpoints") == ["epoch_0001.keras"]
    model, record = checkpoints.load_checkpoint(tmp_path)
    assert record["epoch"] == 1 and finite_state(model)


def test_cli_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "Could not write the checkpoint")

    monkeypatch.setattr(runs, "train_run", full)
    args = ["train", "--dataset", "fake", "--dry-run", "--image-size", "16"]
    assert cli.main(args + ["--output-dir", str(tmp_path / "run")]) == 1
    assert "Could not write the checkpoint" in one_line_error(capsys)


# ---------------------------------------------------------------------------
# Model files.


def saved_dcgan(path):
    model = tiny_dcgan()
    model.compile()
    model.save(path)
    return path


def rewrite_member(path, name, change):
    """Rewrites one member of the `.keras` zip `path`."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)


def test_lambda_model_file_is_refused_in_safe_mode(tmp_path, capsys):
    path = tmp_path / "lambda.keras"
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)]
    )
    model.save(path)
    with pytest.raises(ValueError, match=r"safe_mode=True.*lambda") as info:
        checkpoints.load_model(path)
    assert f"Received: path='{path}'" in str(info.value)
    assert cli.main(["sample", "--model", str(path)]) == 2
    assert "safe_mode" in one_line_error(capsys)


def test_tampered_config_cannot_run_code(tmp_path):
    path = saved_dcgan(tmp_path / "model.keras")
    marker = tmp_path / "pwned"

    def tamper(data):
        config = json.loads(data)
        config["config"]["generator"] = {
            "module": "os",
            "class_name": "system",
            "config": f"touch {marker}",
            "registered_name": "system",
        }
        return json.dumps(config).encode()

    rewrite_member(path, "config.json", tamper)
    with pytest.raises(ValueError, match="truncated, corrupt or was modified"):
        checkpoints.load_model(path)
    assert not marker.exists()


def test_truncated_or_altered_model_file_gives_a_clear_error(tmp_path):
    path = saved_dcgan(tmp_path / "model.keras")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or not a Keras archive"):
        checkpoints.load_model(truncated)
    rewrite_member(path, "model.weights.h5", lambda data: data[:200])
    with pytest.raises(ValueError, match=rf"modified .*path='{path}'"):
        checkpoints.load_model(path)
    with pytest.raises(FileNotFoundError, match="Received: path="):
        checkpoints.load_model(tmp_path / "missing.keras")


def test_tampered_checkpoint_is_refused_on_resume(tmp_path):
    run(tmp_path, recipe=short_recipe(epochs=1))
    record = checkpoints.read_checkpoint(tmp_path)
    model_file = tmp_path / record["model"]
    model_file.write_bytes(model_file.read_bytes()[:1000])
    with pytest.raises(ValueError, match="epoch_0001.keras"):
        run(tmp_path, recipe=short_recipe(epochs=2), resume=True)
    # An object array (which needs pickle) in place of the grid noise.
    saved_dcgan(model_file)
    np.save(tmp_path / "grid_noise.npy", np.array([{}], object), True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        run(tmp_path, recipe=short_recipe(epochs=2), resume=True)


PICKLE = re.compile(
    r"\bimport pickle\b|\bpickle\.|\bcloudpickle\b|\bdill\b|\bjoblib\b"
    r"|allow_pickle\s*=\s*True|\btorch\.load\(|\bmarshal\.|safe_mode\s*="
    r"\s*False"
)


def test_no_pickle_anywhere():
    sources = [
        path
        for folder in ("keras_dcgan", "benchmarks", "examples")
        for path in (ROOT / folder).rglob("*.py")
    ]
    assert len(sources) > 10
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PICKLE.search(line)
    ]
    assert found == []


# ---------------------------------------------------------------------------
# CLI: every invalid flag or value is one line and exit code 2.


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "the following arguments are required: command"),
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--nope"], "unrecognized arguments: --nope"),
        (["train", "--epochs"], "argument --epochs: expected one argument"),
        (["train", "--batch-size", "abc"], "Received: 'abc'"),
        (["train", "--learning-rate", "-1"], "positive number. Received: -1"),
        (["train", "--learning-rate", "nan"], "positive number. Received: nan"),
        (["train", "--seed", "1.5"], "invalid int value: '1.5'"),
        (["train", "--recipe", "big"], "invalid choice: 'big'"),
        (["train", "--mixed-precision", "float8"], "invalid choice: 'float8'"),
        (["train", "--on-nan", "ignore"], "invalid choice: 'ignore'"),
        (["train", "--bad-images", "keep"], "invalid choice: 'keep'"),
        (["train", "--force"], "--force only applies to --resume"),
        (["train", "--backend", "cuda"], "invalid choice: 'cuda'"),
        (["sample"], "one of the arguments --model --preset is required"),
        (["sample", "--model", "x", "--cols", "0"], "Received: 0"),
        (["info", "--loud"], "unrecognized arguments: --loud"),
    ],
)
def test_invalid_flags_exit_2_with_one_line(args, message, capsys):
    assert cli.main(args) == 2
    assert message in one_line_error(capsys)


# ---------------------------------------------------------------------------
# Endurance (the full 2,000 steps: benchmarks/endurance.py).


@pytest.mark.slow
def test_endurance_memory_and_step_time_stay_flat():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "endurance", ROOT / "benchmarks" / "endurance.py"
    )
    endurance = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(endurance)
    result = endurance.run(600, 50, 100, 16, 32, print_fn=lambda line: None)
    assert result["steps"] == 600
    assert result["rss_growth_mib"] < 64, result
    assert result["late_ms"] < 1.5 * result["early_ms"], result


@pytest.mark.slow
def test_gpu_benchmark_script_runs_end_to_end_in_dry_mode(tmp_path):
    """`benchmarks/gpu.sh --dry-run`: every worker on the CPU, one table."""
    result = subprocess.run(
        [str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run", "--out", tmp_path],
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "failed" not in result.stdout, result.stdout
    assert (tmp_path / "gpu_throughput.png").stat().st_size > 0
    saved = json.loads((tmp_path / "gpu_throughput.json").read_text())
    assert set(saved["results"]) == {
        "jax-jit",
        "jax-jit-bf16",
        "torch-eager",
        "torch-eager-bf16",
        "pt-nchw",
        "pt-cl",
        "pt-bf16-cl",
    }
    assert all(
        r["train"]["8"] for runs in saved["results"].values() for r in runs
    )
