"""Best-checkpoint selection: `train_run(select_best="kid")` and the CLI."""

import csv
import json
import os
import re
import shutil

import keras
import numpy as np
import pytest
from helpers import (
    IMAGE_SHAPE,
    LATENT_DIM,
    random_pixels,
    tiny_dcgan,
    tiny_recipe,
    weights_of,
)

from keras_dcgan import checkpoints, cli, run_report, runs
from keras_dcgan.evaluation import callback as best_checkpoint
from keras_dcgan.evaluation.callback import BestKIDCheckpoint

BATCH = 4
TINY = ["--image-size", "16", "--filters", "4", "--latent-dim", "8"]


def pixels(n=4 * BATCH):
    return random_pixels(n)


def run(directory, epochs=3, **kwargs):
    kwargs.setdefault("select_best", "kid")
    return runs.train_run(
        directory,
        pixels(),
        tiny_recipe(epochs=epochs),
        seed=0,
        verbose=0,
        print_fn=lambda line: None,
        tensorboard=False,
        gif=False,
        **kwargs,
    )


def scripted_kid(monkeypatch, scores):
    """Makes every evaluation return the next of `scores` (KID, std)."""
    scores = iter(scores)
    monkeypatch.setattr(
        BestKIDCheckpoint, "compute_kid", lambda _: next(scores)
    )


def read_json(path):
    with open(path) as f:
        return json.load(f)


def csv_column(path, name):
    with open(path) as f:
        return [float(row[name]) for row in csv.DictReader(f)]


def same_weights(path_a, path_b):
    a = weights_of(checkpoints.load_model(path_a))
    b = weights_of(checkpoints.load_model(path_b))
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_worse_epoch_does_not_replace_the_best(tmp_path, monkeypatch):
    scripted_kid(monkeypatch, [(0.5, 0.01), (0.2, 0.02), (0.9, 0.03)])
    result = run(tmp_path, keep=3)
    record = read_json(tmp_path / "best.json")
    assert (record["epoch"], record["kid"], record["kid_std"]) == (2, 0.2, 0.02)
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]
    assert [h["kid"] for h in record["history"]] == [0.5, 0.2, 0.9]
    assert record["model"] == "best.keras"
    assert record["extractor"] == "random-weight CNN, seed 0"
    assert record["num_real"] == len(pixels())
    checkpoints_dir = tmp_path / "checkpoints"
    # best.keras is epoch 2's model, the whole DCGAN.
    assert same_weights(
        tmp_path / "best.keras", checkpoints_dir / "epoch_0002.keras"
    )
    assert not same_weights(
        tmp_path / "best.keras", checkpoints_dir / "epoch_0003.keras"
    )
    # The weights are not restored: model.keras is the last epoch's.
    assert same_weights(
        tmp_path / "model.keras", checkpoints_dir / "epoch_0003.keras"
    )
    assert csv_column(result["csv"], "kid") == [0.5, 0.2, 0.9]
    assert result["best"] == {
        "path": os.path.join(str(tmp_path), "best.keras"),
        "epoch": 2,
        "kid": 0.2,
        "kid_std": 0.02,
        "extractor": "random-weight CNN, seed 0",
    }


def test_resume_keeps_the_previous_best(tmp_path, monkeypatch):
    scripted_kid(monkeypatch, [(0.2, 0.01), (0.5, 0.01)])
    run(tmp_path, epochs=2)
    best_bytes = (tmp_path / "best.keras").read_bytes()
    scripted_kid(monkeypatch, [(0.4, 0.01)])
    result = run(tmp_path, epochs=3, resume=True)
    record = read_json(tmp_path / "best.json")
    assert record["epoch"] == 1
    assert [h["kid"] for h in record["history"]] == [0.2, 0.5, 0.4]
    assert (tmp_path / "best.keras").read_bytes() == best_bytes
    assert result["best"]["epoch"] == 1
    assert csv_column(result["csv"], "kid") == [0.2, 0.5, 0.4]


class Interrupt(Exception):
    pass


class InterruptInEpoch(keras.callbacks.Callback):
    """Stops the process in epoch `epoch` (0-based), in its second batch
    or, with `at_end=True`, after its evaluation but before its
    checkpoint."""

    def __init__(self, epoch, at_end=False):
        super().__init__()
        self.stop_epoch = epoch
        self.at_end = at_end

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.stop_epoch and batch == 1 and not self.at_end:
            raise Interrupt

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.stop_epoch and self.at_end:
            raise Interrupt


def test_an_epoch_counts_once_its_checkpoint_is_written(tmp_path, monkeypatch):
    scripted_kid(monkeypatch, [(0.5, 0.01), (0.1, 0.01)])
    with pytest.raises(Interrupt):
        run(tmp_path, callbacks=[InterruptInEpoch(1, at_end=True)])
    assert checkpoints.read_checkpoint(tmp_path)["epoch"] == 1
    record = read_json(tmp_path / "best.json")
    assert [h["epoch"] for h in record["history"]] == [1]
    assert same_weights(
        tmp_path / "best.keras", tmp_path / "checkpoints" / "epoch_0001.keras"
    )
    # The resumed run trains epoch 2 again, and its evaluation counts.
    scripted_kid(monkeypatch, [(0.1, 0.01), (0.3, 0.01)])
    run(tmp_path, resume=True)
    record = read_json(tmp_path / "best.json")
    assert [h["kid"] for h in record["history"]] == [0.5, 0.1, 0.3]
    assert record["epoch"] == 2


def test_interrupted_run_resumes_to_the_uninterrupted_record(tmp_path):
    killed, lost = tmp_path / "killed", tmp_path / "lost"
    with pytest.raises(Interrupt):
        run(killed, select_every=1, callbacks=[InterruptInEpoch(1)])
    assert checkpoints.read_checkpoint(killed)["epoch"] == 1
    # Epoch 1 was evaluated, and recorded once its checkpoint was written.
    assert [h["epoch"] for h in read_json(killed / "best.json")["history"]] == [
        1
    ]
    # As if stopped between epoch 1's checkpoint and its record.
    shutil.copytree(killed, lost)
    os.remove(lost / "best.json")
    os.remove(lost / "best.keras")

    straight = run(tmp_path / "straight")
    expected = read_json(tmp_path / "straight" / "best.json")
    assert [h["epoch"] for h in expected["history"]] == [1, 2, 3]
    kids = [h["kid"] for h in expected["history"]]
    assert all(np.isfinite(kids)) and expected["kid"] == min(kids)
    for folder in (killed, lost):
        resumed = run(folder, resume=True)
        assert read_json(folder / "best.json") == expected
        assert resumed["best"] == {
            **straight["best"],
            "path": os.path.join(str(folder), "best.keras"),
        }
        assert same_weights(
            folder / "best.keras", tmp_path / "straight" / "best.keras"
        )
        assert csv_column(resumed["csv"], "kid") == kids


def test_select_every_logs_nan_between_evaluations(tmp_path):
    result = run(tmp_path, select_every=2)
    record = read_json(tmp_path / "best.json")
    # Every second epoch, and after the last.
    assert [h["epoch"] for h in record["history"]] == [2, 3]
    kid = csv_column(result["csv"], "kid")
    assert np.isnan(kid[0])
    assert kid[1:] == [h["kid"] for h in record["history"]]
    assert record["every"] == 2
    assert checkpoints.read_checkpoint(tmp_path)["config"]["select_every"] == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"select_best": "fid"},
            "`select_best` must be None or one of ('kid',). "
            "Received: select_best='fid'",
        ),
        (
            {"select_best": "kid", "select_every": 0},
            "Received: select_every=0",
        ),
        (
            {"select_best": "kid", "select_extractor": "inception"},
            "one of ('evaluator', 'random'). "
            "Received: select_extractor='inception'",
        ),
    ],
)
def test_bad_selection_values_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run(tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


def test_the_evaluator_only_for_images_it_takes():
    extractor, name = best_checkpoint.selection_extractor(
        (32, 32, 1), "evaluator"
    )
    assert name == "Fashion-MNIST evaluator"
    assert tuple(extractor.input_shape[1:]) == (32, 32, 1)
    extractor, name = best_checkpoint.selection_extractor(
        (16, 16, 3), "evaluator"
    )
    assert name == "random-weight CNN, seed 0"
    assert tuple(extractor.input_shape[1:]) == (16, 16, 3)


def test_real_subset_is_fixed_by_the_seed(tmp_path):
    images = pixels(12)
    make = best_checkpoint.run_best_checkpoint
    a = make(tmp_path, images, seed=1, num_images=5)
    b = make(tmp_path, images, seed=1, num_images=5)
    c = make(tmp_path, images, seed=2, num_images=5)
    assert a.real_features.shape == (5, 480)
    np.testing.assert_array_equal(a.real_features, b.real_features)
    assert not np.array_equal(a.real_features, c.real_features)
    assert (a.restore_best, a.filepath) == (
        False,
        os.path.join(str(tmp_path), "best.keras"),
    )


def test_callback_generates_with_the_dcgan_generate(tmp_path):
    model = tiny_dcgan()
    extractor = best_checkpoint.selection_extractor(IMAGE_SHAPE)[0]
    real = np.random.default_rng(0).standard_normal((6, 480))
    best = BestKIDCheckpoint(extractor, real, num_samples=6, seed=3)
    calls = []
    generate = model.generate

    def spy(num_images, seed=None):
        calls.append((num_images, seed))
        return generate(num_images, seed=seed)

    model.generate = spy
    best.set_model(model)
    best.set_params({"epochs": 1})
    logs = {}
    best.on_epoch_end(0, logs)
    assert calls == [(6, 3)]
    assert np.isfinite(logs["kid"]) and best.best_epoch == 1


def test_a_diverged_model_scores_nan_and_is_not_kept(tmp_path):
    generator = keras.Sequential(
        [keras.Input((LATENT_DIM,)), keras.layers.Dense(16 * 16 * 3)]
        + [keras.layers.Reshape(IMAGE_SHAPE)]
    )
    generator.set_weights([np.full(w.shape, np.nan) for w in generator.weights])
    extractor = best_checkpoint.selection_extractor(IMAGE_SHAPE)[0]
    real = np.random.default_rng(0).standard_normal((6, 480))
    path = tmp_path / "best.keras"
    best = BestKIDCheckpoint(extractor, real, num_samples=6, filepath=path)
    best.set_model(generator)
    best.set_params({"epochs": 1})
    logs = {}
    best.on_epoch_end(0, logs)
    assert np.isnan(logs["kid"])
    assert best.best_epoch is None and not path.exists()


def test_report_line_of_the_best_epoch():
    record = {
        "epoch": 7,
        "kid": 0.0123,
        "kid_std": 0.0011,
        "extractor": "Fashion-MNIST evaluator",
    }
    assert run_report.best_line(record) == (
        "Best: epoch 7, KID 0.0123 ± 0.0011 (Fashion-MNIST evaluator)"
    )


def test_cli_select_best_writes_a_loadable_best_model(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--dataset", "fake", "--dry-run", "--epochs", "2"]
    args += TINY + ["--quiet", "--output-dir", str(run_dir)]
    assert cli.main(args + ["--select-best", "kid"]) == 0
    out = capsys.readouterr().out
    record = read_json(run_dir / "best.json")
    assert record["extractor"] == "random-weight CNN, seed 0"
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    line = (
        f"  best:       {run_dir / 'best.keras'} (epoch {record['epoch']}, "
        f"KID {record['kid']:.4f})"
    )
    assert line in out.splitlines()
    page = (run_dir / "report.html").read_text()
    assert run_report.best_line(record) in page
    assert 'href="best.keras"' in page
    # `sample` draws from best.keras.
    grid = tmp_path / "grid.png"
    sample = ["sample", "--model", str(run_dir / "best.keras")]
    assert cli.main(sample + ["--output", str(grid)]) == 0
    assert grid.is_file()
    # A resume keeps selecting without the flag (the run's setting).
    resume = ["train", "--resume", "--epochs", "3", "--quiet"]
    assert cli.main(resume + ["--output-dir", str(run_dir)]) == 0
    record = read_json(run_dir / "best.json")
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--select-best", "fid"],
            "argument --select-best: invalid choice: 'fid'",
        ),
        (
            ["--select-best", "kid", "--select-every", "0"],
            "argument --select-every: must be a positive integer. Received: 0",
        ),
        (
            ["--select-every", "2"],
            "--select-every only applies to --select-best.",
        ),
    ],
)
def test_cli_selection_mistakes_exit_2(flags, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", "--dataset", "fake", "--dry-run", *TINY]
    assert cli.main(args + ["--output-dir", str(run_dir), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not run_dir.exists()
