import json
import os
import re
import subprocess
import sys

import keras
import pytest
from helpers import tiny_dcgan
from PIL import Image

from keras_dcgan import checkpoints, cli

TINY = ["--image-size", "16", "--filters", "4", "--latent-dim", "8"]


def run_command(args, backend=None, cwd=None):
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_BACKEND=backend or keras.backend.backend(),
    )
    return subprocess.run(
        [sys.executable, "-m", "keras_dcgan", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 2-epoch dry run of the command on fake data, in a subprocess."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = run_command(
        ["train", "--dataset", "fake", "--dry-run", "--epochs", "2"]
        + TINY
        + ["--output-dir", str(run_dir), "--seed", "1"]
    )
    assert result.returncode == 0, result.stderr
    return run_dir, result.stdout


def size_of(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_train_dry_run_writes_model_grids_curves_and_csv(trained_run):
    run_dir, stdout = trained_run
    assert re.search(
        r"^loss_D \d+\.\d{3}, loss_G \d+\.\d{3}, \d+\.\d examples/sec on "
        r"CPU \(.+\)$",
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


def test_sample_writes_a_grid_and_single_images(trained_run, tmp_path):
    run_dir, _ = trained_run
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
    trained_run, tmp_path, capsys
):
    run_dir, _ = trained_run
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(run_dir), str(copy)], check=True)
    args = ["train", "--resume", "--output-dir", str(copy), "--quiet"]
    assert cli.main(args + ["--learning-rate", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "learning_rate=0.1 (run: 0.005)" in err and "--force" in err
    assert cli.main(args + ["--epochs", "3"]) == 0
    record = checkpoints.read_checkpoint(copy)
    assert record["epoch"] == 3 and record["step"] == 6
    assert record["config"]["seed"] == 1


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
        (["train", "--image-size", "24"] + TINY[2:], "Received: image_shape"),
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
    assert "device: CPU (" in result.stdout


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
    assert json.dumps(cli.DATASETS)  # the documented dataset names


def test_train_mixed_precision_bf16(tmp_path):
    run_dir = tmp_path / "run"
    result = run_command(
        ["train", "--dataset", "fake", "--dry-run", "--mixed-precision", "bf16"]
        + TINY
        + ["--output-dir", str(run_dir)]
    )
    assert result.returncode == 0, result.stderr
    record = checkpoints.read_checkpoint(run_dir)
    assert record["config"]["mixed_precision"] == "mixed_bfloat16"
    model = keras.saving.load_model(run_dir / "model.keras")
    block = model.generator.get_layer("block_1")
    assert block.dtype_policy.name == "mixed_bfloat16"
