import json
import os
import re
import subprocess

import keras
import numpy as np
import pytest
from helpers import (
    TINY,
    fake_images,
    run_command,
    tiny_dcgan,
    train_command,
)
from PIL import Image

from keras_dcgan import checkpoints, cli
from keras_dcgan.cli import startup


def size_of(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_train_dry_run_writes_model_grids_curves_and_csv(dry_run):
    run_dir, stdout = dry_run
    assert re.search(
        r"^loss_D \d+\.\d{3}, loss_G \d+\.\d{3}, \d+\.\d examples/sec on "
        r"\S.*$",
        stdout,
        re.M,
    ), stdout
    for name in ("model.keras", "curves.png", "history.csv", "grids"):
        assert str(run_dir / name) in stdout
    # 3 x 7 grids of 16x16 images with 2 pixels of padding.
    for epoch in (1, 2):
        assert size_of(run_dir / "grids" / f"epoch_00{epoch}.png") == (
            128,
            56,
        )
    with Image.open(run_dir / "grids" / "training.gif") as gif:
        assert gif.n_frames == 2
    size_of(run_dir / "curves.png")
    with open(run_dir / "history.csv") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("epoch,d_loss,fake_prob,g_loss,real_prob")
    assert len(lines) == 3
    record = checkpoints.read_checkpoint(run_dir)
    assert record["epoch"] == 2
    # --dry-run: 2 batches of 8 fake images per epoch.
    assert record["step"] == 4
    assert record["config"]["batch_size"] == 8
    assert record["config"]["dataset"] == "fake"
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.image_shape == (16, 16, 3)


def test_train_writes_tensorboard_logs(dry_run):
    from tensorboard.backend.event_processing import event_accumulator

    run_dir, stdout = dry_run
    assert f"tensorboard --logdir {run_dir / 'logs'}" in stdout
    tags = {}  # TensorBoard plugin -> tags
    for root, _, files in os.walk(run_dir / "logs"):
        if not any(f.startswith("events.out.tfevents") for f in files):
            continue
        events = event_accumulator.EventAccumulator(root)
        events.Reload()
        found = events.Tags()
        for tag in found.get("scalars", []):
            tags.setdefault("scalars", set()).add(tag)
        for tag in found.get("images", []):
            tags.setdefault("images", set()).add(tag)
        for tag in found.get("tensors", []):
            plugin = events.SummaryMetadata(tag).plugin_data.plugin_name
            tags.setdefault(plugin, set()).add(tag)
            assert len(events.Tensors(tag)) == 2, tag  # One per epoch.
    assert any("d_loss" in tag for tag in tags.get("scalars", ())), tags
    assert any("g_loss" in tag for tag in tags.get("scalars", ())), tags
    assert "generated_images" in tags.get("images", ()), tags


def test_sample_writes_a_grid_and_single_images(dry_run, tmp_path):
    run_dir, _ = dry_run
    out = tmp_path / "samples.png"
    code = cli.main(
        ["sample", "--model", str(run_dir / "model.keras")]
        + ["--num-images", "6", "--output", str(out), "--seed", "0"]
        + ["--output-dir", str(tmp_path / "single")]
    )
    assert code == 0
    assert size_of(out) == (6 * 18 + 2, 18 + 2)
    singles = sorted(os.listdir(tmp_path / "single"))
    assert len(singles) == 6
    assert size_of(tmp_path / "single" / singles[0]) == (16, 16)
    # The run folder works as --model too; --interpolate makes a strip.
    strip = tmp_path / "walk.png"
    code = cli.main(
        ["sample", "--model", str(run_dir), "--interpolate"]
        + ["--num-images", "5", "--output", str(strip)]
    )
    assert code == 0
    assert size_of(strip) == (5 * 18 + 2, 18 + 2)


def test_resume_continues_and_refuses_other_hyper_parameters(
    dry_run, tmp_path, capsys
):
    run_dir, _ = dry_run
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
    args = ["train", "--resume", "--output-dir", str(copy), "--quiet"]
    assert cli.main(args + ["--learning-rate", "0.1"]) == 2
    err = capsys.readouterr().err
    # Without --recipe, the DCGAN paper's (lr 2e-4).
    assert "learning_rate=0.1 (run: 0.0002)" in err and "--force" in err
    capsys.readouterr()
    # --epochs is the total; --keep 1 leaves the last checkpoint only.
    assert cli.main(args + ["--epochs", "3", "--keep", "1"]) == 0
    assert "Resuming at epoch 3 of 3." in capsys.readouterr().out
    record = checkpoints.read_checkpoint(copy)
    assert record["epoch"] == 3 and record["step"] == 6
    assert record["config"]["seed"] == 1
    assert sorted(os.listdir(copy / "checkpoints")) == ["epoch_0003.keras"]


def write_non_dcgan(path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.save(path)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "mnist"], "invalid choice: 'mnist'"),
        (
            ["train", "--dataset", "folder", "--data", "/no/such/dir"],
            "--data must be an existing file or folder. "
            "Received: --data=/no/such/dir",
        ),
        (["train", "--dataset", "folder"], "needs --data PATH"),
        (
            ["train", "--epochs", "0"],
            "argument --epochs: must be a positive integer. Received: 0",
        ),
        (
            ["train", "--dataset", "fake", "--image-size", "24"] + TINY[2:],
            "Received: image_shape",
        ),
        (
            ["sample", "--model", "/no/such/model.keras"],
            "--model must be a .keras file or a run folder",
        ),
        (
            ["sample", "--model", "{not_dcgan}"],
            "must be a keras_dcgan.DCGAN; the file holds a Sequential",
        ),
        (["sample", "--model", "{garbage}"], "it could not be loaded"),
        (["train", "--resume", "--output-dir", "{tmp}"], "--resume needs"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args, message, tmp_path, capsys):
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip file")
    files = {
        "{not_dcgan}": str(write_non_dcgan(tmp_path / "dense.keras")),
        "{garbage}": str(garbage),
        "{tmp}": str(tmp_path),
    }
    args = [files.get(a, a) for a in args]
    if args[0] == "train" and "--output-dir" not in args:
        args += ["--output-dir", str(tmp_path / "run")]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert message in err
    assert err.startswith("keras-dcgan")
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "run").exists()


def test_help_exits_0(capsys):
    assert cli.main(["train", "--help"]) == 0
    assert "--dry-run" in capsys.readouterr().out


def test_backend_flag_switches_backend_before_keras_starts(tmp_path):
    other = {"tensorflow": "torch", "jax": "torch", "torch": "jax"}[
        keras.backend.backend()
    ]
    result = run_command(["info", "--backend", other])
    assert result.returncode == 0, result.stderr
    assert f"backend {other}\n" in result.stdout
    assert re.search(r"^device: \S", result.stdout, re.M), result.stdout
    assert re.search(r"^devices: \S", result.stdout, re.M), result.stdout


def test_sample_on_an_in_memory_saved_model(tmp_path):
    model = tiny_dcgan()
    model.compile()
    model.save(tmp_path / "m.keras")
    out = tmp_path / "grid.png"
    assert (
        cli.main(
            [
                "sample",
                "--model",
                str(tmp_path / "m.keras"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert size_of(out) == (7 * 18 + 2, 3 * 18 + 2)


def test_train_help_names_every_dataset(capsys):
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("pokemon", "fashion-mnist", "folder", "fake"):
        assert name in out
    assert "default: pokemon" in " ".join(out.split())


def test_train_mixed_precision_bf16(tmp_path):
    run_dir = tmp_path / "run"
    model = train_command(run_dir, "--mixed-precision", "bf16")
    assert not (run_dir / "logs").exists()  # --no-tensorboard
    record = checkpoints.read_checkpoint(run_dir)
    assert record["config"]["mixed_precision"] == "mixed_bfloat16"
    block = model.generator.get_layer("block_1")
    assert block.dtype_policy.name == "mixed_bfloat16"
    # The run leaves the process's dtype policy as it found it.
    assert keras.config.dtype_policy().name == "float32"


def test_start_up_is_quiet_and_verbose_is_not_an_error():
    pytest.importorskip("tensorflow")
    # Without the user's TF_CPP_MIN_LOG_LEVEL: the command sets it itself.
    result = run_command(
        ["info", "--backend", "tensorflow"],
        env_changes={"TF_CPP_MIN_LOG_LEVEL": None},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "backend tensorflow" in result.stdout


def test_start_up_acts_only_in_the_command():
    assert startup.is_command(["/usr/bin/keras-dcgan", "info"], [])
    assert startup.is_command(["-m"], ["python", "-m", "keras_dcgan", "info"])
    assert not startup.is_command(["train.py"], ["python", "train.py"])
    assert not startup.is_command(["-c"], ["python", "-c", "import keras"])


def test_default_dataset_without_network_fails_fast_naming_data(tmp_path):
    # An empty dataset cache and a proxy that refuses every connection.
    result = run_command(
        ["train", "--output-dir", str(tmp_path / "run")],
        env_changes={
            "KERAS_HOME": str(tmp_path / "keras"),
            "https_proxy": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "no_proxy": None,
            "NO_PROXY": None,
        },
    )
    assert result.returncode == 2, result.stderr
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("keras-dcgan: error: could not download the Pokemon")
    assert "--data PATH" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoint.json").exists()


# The evaluate command.


def real_folder(path, count=24, image_shape=(32, 32, 1), seed=3):
    folder = path / "shirts"
    folder.mkdir(parents=True)
    for i, image in enumerate(fake_images(count, image_shape, seed=seed)):
        pixels = np.rint((image + 1) * 127.5).astype("uint8")
        Image.fromarray(pixels.squeeze(-1)).save(folder / f"{i}.png")
    return path


def test_evaluate_a_tiny_saved_model(tmp_path):
    real = real_folder(tmp_path / "real")
    model = tiny_dcgan(image_shape=(32, 32, 1))
    model.save(tmp_path / "model.keras")
    report = tmp_path / "report.json"
    result = run_command(
        [
            "evaluate",
            f"--model={tmp_path / 'model.keras'}",
            "--dataset=folder",
            f"--data={real}",
            "--num-samples=10",
            "--extractor=evaluator",
            f"--json={report}",
        ]
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "10 generated vs 10 real; floor 10 real" in out and "FID" in out
    data = json.loads(report.read_text())
    assert data["num_fake"] == 10 and data["num_floor"] == 10
    assert data["extractor"] == "Fashion-MNIST evaluator CNN"
    kid = data["metrics"]["kid"]
    assert kid["std"] >= 0 and kid["real_floor_std"] >= 0
    assert (
        data["metrics"]["fid"]["value"] > data["metrics"]["fid"]["real_floor"]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--model", "{tmp}/missing.keras"],
            "--model must be a .keras file or a run folder",
        ),
        (["--model", "x.keras", "--num-samples", "2"], "at least 6"),
        (["--model", "{tmp}", "--classes", "1"], "--model must be"),
        (["--samples", "{tmp}/x.txt"], "--samples must be a folder of images"),
        (["--samples", "{tmp}"], "--samples holds no readable image"),
        (
            ["--samples", "a.npy", "--model", "m.keras"],
            "not allowed with argument",
        ),
    ],
)
def test_evaluate_user_mistakes(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert cli.main(["evaluate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-dcgan: error: ") and message in err
    assert len(err.splitlines()) == 1


def test_evaluate_samples_folder_against_itself_scores_zero(tmp_path, capsys):
    real = real_folder(tmp_path / "real", count=24)
    report = tmp_path / "report.json"
    code = cli.main(
        ["evaluate", "--samples", str(real), "--dataset", "folder"]
        + ["--data", str(real), "--num-samples", "24"]
        + ["--extractor", "evaluator", "--json", str(report)]
    )
    assert code == 0
    assert "floor 12 real images vs the other 12" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["samples"] == str(real) and data["num_fake"] == 24
    fid = data["metrics"]["fid"]
    assert abs(fid["value"]) < 1e-3 * fid["real_floor"], fid
    assert data["metrics"]["precision"]["value"] == 1.0


def test_evaluate_refuses_a_damaged_extractor_file(tmp_path, capsys):
    real = real_folder(tmp_path / "real", count=12)
    damaged = tmp_path / "extractor.keras"
    damaged.write_bytes(b"not a keras archive")
    code = cli.main(
        ["evaluate", "--samples", str(real), "--dataset", "folder"]
        + ["--data", str(real), "--extractor-weights", str(damaged)]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-dcgan: error: --extractor-weights: ")
    assert "truncated or not a Keras archive" in err


def test_evaluate_samples_npy_against_other_images(tmp_path):
    real = real_folder(tmp_path / "real", count=24)
    samples = fake_images(12, (32, 32, 1), seed=9)
    np.save(tmp_path / "samples.npy", samples)
    report = tmp_path / "report.json"
    code = cli.main(
        ["evaluate", "--samples", str(tmp_path / "samples.npy")]
        + ["--dataset", "folder", "--data", str(real)]
        + ["--extractor", "evaluator", "--json", str(report)]
    )
    assert code == 0
    data = json.loads(report.read_text())
    assert data["num_fake"] == 12
    assert data["metrics"]["fid"]["value"] > 1e-3


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX only")
def test_on_jax_the_command_opts_in_and_fit_says_once_how(monkeypatch):
    import warnings

    from helpers import run_python

    from keras_dcgan.ops import jax as jax_ops

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    # A library user who has not opted in is told once; the command opts in.
    code = """
import os, warnings
from helpers import fake_images, tiny_dcgan
from keras_dcgan import cli
model = tiny_dcgan()
model.compile()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(2):
        model.fit(fake_images(4), batch_size=4, verbose=0)
print(sum("prefer_fast_cpu_convolutions()" in str(w.message) for w in caught))
cli.main(["presets"])
print(os.environ["XLA_FLAGS"])
"""
    lines = run_python(code).split()
    assert lines[0] == "1" and lines[-1] == jax_ops.FAST_CPU_CONVOLUTIONS
    # Nothing is said to a user who has.
    monkeypatch.setenv("XLA_FLAGS", jax_ops.FAST_CPU_CONVOLUTIONS)
    monkeypatch.setattr(jax_ops, "_suggested", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jax_ops.suggest_fast_cpu_convolutions()
    assert not caught
