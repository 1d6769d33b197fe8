import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import (
    IMAGE_SHAPE,
    LATENT_DIM,
    random_pixels,
    state_of,
    tiny_recipe,
)

from keras_dcgan import callbacks, checkpoints, datasets, runs

EPOCHS = 3
BATCH = 4


def short_recipe(**overrides):
    return tiny_recipe(**{"epochs": EPOCHS, **overrides})


def pixels(n=6 * BATCH):
    return random_pixels(n)


def ordered_state(model):
    """Every variable of the model and its optimizers, in order.

    Optimizer names depend on how many were made in the process, so the
    variables are matched by position rather than by path.
    """
    variables = (
        model.generator.variables
        + model.discriminator.variables
        + model.d_optimizer.variables
        + model.g_optimizer.variables
        + [model.seed_generator.state]
    )
    return [(v.path, keras.ops.convert_to_numpy(v)) for v in variables]


def run(directory, **kwargs):
    kwargs.setdefault("recipe", short_recipe())
    kwargs.setdefault("print_fn", lambda line: None)
    return runs.train_run(directory, pixels(), seed=0, verbose=0, **kwargs)


def test_epoch_order_depends_only_on_seed_and_epoch():
    images = pixels(10)
    a = datasets.EpochShuffledImages(images, 4, seed=1)
    b = datasets.EpochShuffledImages(images, 4, seed=1)
    for epoch in (0, 1, 2):
        a.set_epoch(epoch)
    b.set_epoch(2)
    np.testing.assert_array_equal(a.order(), b.order())
    b.set_epoch(1)
    assert not np.array_equal(a.order(), b.order())
    assert sorted(a.order()) == list(range(10))
    assert len(a) == 3 and a[2].shape == (2,) + IMAGE_SHAPE
    batch = a[0]
    assert batch.dtype == np.float32
    np.testing.assert_allclose(
        batch, images[a.order()[:4]] / 127.5 - 1.0, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"Received: images.shape=\(0,"):
        datasets.EpochShuffledImages(images[:0], 4)


def test_set_epoch_callback_sets_the_data_order():
    images = pixels(10)
    data = datasets.EpochShuffledImages(images, 4, seed=1)
    expected = datasets.EpochShuffledImages(images, 4, seed=1)
    expected.set_epoch(3)
    callbacks.SetEpoch(data).on_epoch_begin(3)
    np.testing.assert_array_equal(data.order(), expected.order())


def test_run_writes_checkpoint_and_outputs(tmp_path):
    result = run(tmp_path)
    record = checkpoints.read_checkpoint(tmp_path)
    assert record["epoch"] == record["epochs"] == EPOCHS
    assert record["step"] == EPOCHS * 6
    assert record["config"]["learning_rate"] == 0.005
    assert len(record["history"]["d_loss"]) == EPOCHS
    # The last `keep=3` model files are kept, and no temporary file remains.
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [
        "epoch_0001.keras",
        "epoch_0002.keras",
        "epoch_0003.keras",
    ]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert len(result["grids"]) == EPOCHS and result["gif"]
    with open(result["csv"]) as f:
        assert len(f.read().splitlines()) == EPOCHS + 1
    model, _ = checkpoints.load_checkpoint(tmp_path)
    assert int(model.d_optimizer.iterations) == EPOCHS * 6
    noise = np.load(tmp_path / "grid_noise.npy")
    assert noise.shape == (21, LATENT_DIM)


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    result = run(tmp_path, recipe=short_recipe(epochs=1))
    model = result["model"]
    before = state_of(model)

    def crash(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK partial")
        raise OSError("disk full")

    model.save = crash
    with pytest.raises(OSError, match="disk full"):
        checkpoints.write_checkpoint(model, tmp_path, 2, {})
    record = checkpoints.read_checkpoint(tmp_path)
    assert record["epoch"] == 1
    assert os.listdir(tmp_path / "checkpoints") == ["epoch_0001.keras"]
    loaded, _ = checkpoints.load_checkpoint(tmp_path)
    for name, value in state_of(loaded).items():
        np.testing.assert_array_equal(value, before[name])


def test_keep_resume_line_and_dtype_policy(tmp_path):
    printed = []
    folder = tmp_path / "new" / "run"  # Created by the run.
    run(
        folder,
        recipe=short_recipe(epochs=2),
        keep=1,
        mixed_precision="mixed_bfloat16",
        tensorboard=False,
    )
    assert os.listdir(folder / "checkpoints") == ["epoch_0002.keras"]
    assert "logs" not in os.listdir(folder)
    # The global policy is the caller's again once the run returns.
    assert keras.config.dtype_policy().name == "float32"
    result = run(
        folder,
        recipe=short_recipe(epochs=3),
        resume=True,
        keep=2,
        mixed_precision="mixed_bfloat16",
        tensorboard=False,
        print_fn=printed.append,
    )
    assert printed[0] == "Resuming at epoch 3 of 3."
    assert result["model"].generator.dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    assert sorted(os.listdir(folder / "checkpoints")) == [
        "epoch_0002.keras",
        "epoch_0003.keras",
    ]
    with pytest.raises(ValueError, match="Received: keep=0"):
        run(tmp_path / "other", keep=0)


def test_run_writes_tensorboard_logs(tmp_path):
    run(tmp_path, recipe=short_recipe(epochs=1))
    logs = tmp_path / "logs"
    events = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(logs)
        for name in names
        if name.startswith("events.out.tfevents.")
    ]
    assert len(events) >= 2  # Scalars (train/) and the grid.


def test_resume_checks_hyper_parameters(tmp_path):
    run(tmp_path, recipe=short_recipe(epochs=1))
    with pytest.raises(ValueError, match="already holds a run"):
        run(tmp_path, recipe=short_recipe(epochs=1))
    with pytest.raises(
        ValueError,
        match=r"other hyper-parameters.*learning_rate=0.001 \(run: 0.005\)",
    ):
        run(tmp_path, recipe=short_recipe(learning_rate=1e-3), resume=True)
    with pytest.raises(ValueError, match=r"filters=8 \(run: 4\)"):
        run(tmp_path, recipe=short_recipe(filters=8), resume=True, force=True)
    result = run(
        tmp_path,
        recipe=short_recipe(epochs=2, learning_rate=1e-3),
        resume=True,
        force=True,
    )
    assert result["epoch"] == 2
    assert np.isclose(float(result["model"].g_optimizer.learning_rate), 1e-3)
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume"):
        run(tmp_path / "empty", resume=True)


# Trains in a subprocess, sleeping after each batch from epoch 2 on and
# reporting its position, so that the test can kill it mid-epoch.
WORKER = """
import json, os, sys, time
import keras, numpy as np
from test_checkpoints import run, short_recipe

directory = sys.argv[1]

class Report(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch >= 1:
            with open(os.path.join(directory, "position.tmp"), "w") as f:
                json.dump([self.epoch, batch], f)
            os.replace(os.path.join(directory, "position.tmp"),
                       os.path.join(directory, "position.json"))
            time.sleep(0.2)

run(directory, callbacks=[Report()])
"""


def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path):
    killed = tmp_path / "killed"
    killed.mkdir()
    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_BACKEND=keras.backend.backend(),
        PYTHONPATH=os.pathsep.join(
            filter(None, [tests, os.environ.get("PYTHONPATH")])
        ),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    position = killed / "position.json"
    deadline = time.monotonic() + 300  # a loaded machine imports slowly
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode())
            assert time.monotonic() < deadline, "the worker made no progress"
            record = checkpoints.read_checkpoint(killed)
            if record and position.exists():
                epoch, batch = json.loads(position.read_text())
                # Epoch 2 (0-based 1) is half done; its checkpoint is not.
                if record["epoch"] == 1 and epoch == 1 and batch >= 2:
                    break
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert checkpoints.read_checkpoint(killed)["epoch"] == 1

    resumed = run(killed, resume=True)
    straight = run(tmp_path / "straight")
    assert resumed["epoch"] == straight["epoch"] == EPOCHS
    # Same backend, same CPU kernels, same batches in the same order and
    # the exact saved state: the weights are bit-identical.
    expected = ordered_state(straight["model"])
    got = ordered_state(resumed["model"])
    assert len(got) == len(expected) > 0
    for (name, value), (_, want) in zip(got, expected):
        np.testing.assert_array_equal(value, want, err_msg=name)
    # The history of the cut epoch was replaced, not duplicated.
    with open(resumed["csv"]) as f, open(straight["csv"]) as g:
        assert f.read() == g.read()
    assert len(resumed["grids"]) == EPOCHS
