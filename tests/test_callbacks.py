import glob
import os
import re

import keras
import numpy as np
import pytest
from helpers import fake_images, tiny_dcgan
from PIL import Image

from keras_dcgan import callbacks
from keras_dcgan.images import make_grid

BATCH = 4


def fit(model, epochs, cbs):
    model.fit(
        fake_images(2 * BATCH),
        batch_size=BATCH,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=cbs,
    )


@pytest.fixture
def model():
    model = tiny_dcgan()
    model.compile()
    return model


def test_image_grid_writes_a_png_per_epoch_and_a_gif(model, tmp_path):
    grid = callbacks.ImageGrid(tmp_path, rows=2, cols=3, gif="run.gif")
    fit(model, 3, [grid])
    paths = sorted(glob.glob(str(tmp_path / "epoch_*.png")))
    assert [os.path.basename(p) for p in paths] == [
        "epoch_001.png",
        "epoch_002.png",
        "epoch_003.png",
    ]
    # 16x16 images with 2 pixels of padding: 2 rows x 3 columns.
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size == (3 * 18 + 2, 2 * 18 + 2)
    with Image.open(tmp_path / "run.gif") as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 3
        assert gif.size == (56, 38)
    assert not glob.glob(str(tmp_path / ".*.tmp"))


def test_image_grid_shows_the_trained_generator_on_fixed_noise(model, tmp_path):
    grid = callbacks.ImageGrid(tmp_path, filename="g{epoch}.png", seed=7)
    fit(model, 2, [grid])
    assert grid.noise.shape == (21, model.latent_dim)
    expected_noise = np.random.default_rng(7).standard_normal(
        (21, model.latent_dim), dtype=np.float32
    )
    np.testing.assert_array_equal(grid.noise, expected_noise)
    # The last grid shows the weights after the last step (on JAX too,
    # where the state is attached to the model only on demand).
    generated = model.generator(
        expected_noise.reshape(21, 1, 1, -1), training=False
    )
    expected = make_grid(keras.ops.convert_to_numpy(generated), 3, 7)
    saved = np.asarray(Image.open(tmp_path / "g2.png"))
    np.testing.assert_array_equal(saved, expected)
    first = np.asarray(Image.open(tmp_path / "g1.png"))
    assert np.any(first != saved)


def test_image_grid_takes_given_noise_and_checks_it(model, tmp_path):
    noise = np.ones((6, model.latent_dim), "float32")
    grid = callbacks.ImageGrid(tmp_path, rows=2, cols=3, noise=noise)
    fit(model, 1, [grid])
    np.testing.assert_array_equal(grid.noise, noise)
    with pytest.raises(ValueError, match=r"Received: noise.shape=\(5, 8\)"):
        callbacks.ImageGrid(tmp_path, rows=2, cols=3, noise=noise[:5])
    with pytest.raises(ValueError, match="Received: filename='x{step}.png'"):
        callbacks.ImageGrid(tmp_path, filename="x{step}.png")


def test_image_grid_tensorboard_summaries(model, tmp_path):
    tf = pytest.importorskip("tensorflow")
    grid = callbacks.ImageGrid(tmp_path, tensorboard_dir=tmp_path / "tb")
    fit(model, 1, [grid])
    events = glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*"))
    assert len(events) == 1
    records = []
    for event in tf.compat.v1.train.summary_iterator(events[0]):
        for value in event.summary.value:
            records.append((event.step, value))
    assert [(step, v.tag) for step, v in records] == [(1, "generated_images")]
    value = records[0][1]
    assert value.metadata.plugin_data.plugin_name == "images"
    width, height, png = tf.make_ndarray(value.tensor)
    assert (int(width), int(height)) == (7 * 18 + 2, 3 * 18 + 2)
    np.testing.assert_array_equal(
        tf.io.decode_png(png).numpy(), np.asarray(Image.open(grid.written[0]))
    )


def test_loss_curves_rewrites_a_png_each_epoch(model, tmp_path):
    path = tmp_path / "curves.png"
    curves = callbacks.LossCurves(path, history={"d_loss": [0.7]})
    sizes = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            sizes.append(Image.open(path).size)

    fit(model, 2, [curves, Watch()])
    assert len(sizes) == 2
    assert curves.history["d_loss"][0] == 0.7
    assert len(curves.history["d_loss"]) == 3
    assert len(curves.history["g_loss"]) == 3  # padded for the old epoch
    assert np.isnan(curves.history["g_loss"][0])
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (500, 520)  # two panels, 5 x 5.2 in at 100 dpi


def test_summary_line_format():
    line = callbacks.summary_line(0.0304, 6.8849, 6447.84, "CPU")
    assert line == "loss_D 0.030, loss_G 6.885, 6447.8 examples/sec on CPU"


def test_training_summary_prints_the_chapters_line(model):
    printed = []
    summary = callbacks.TrainingSummary(
        examples_per_epoch=2 * BATCH, print_fn=printed.append
    )
    fit(model, 2, [summary])
    assert len(printed) == 1
    match = re.fullmatch(
        r"loss_D (\d+\.\d{3}), loss_G (\d+\.\d{3}), "
        r"(\d+\.\d) examples/sec on (.+)",
        printed[0],
    )
    assert match, printed[0]
    assert match.group(4) == callbacks.device_name()
    assert float(match.group(3)) > 0
    d_loss = model.d_loss_tracker.result()
    assert match.group(1) == f"{float(d_loss):.3f}"


def _on_gpu():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.devices()[0].platform != "cpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def test_device_name_names_the_device():
    # A CPU as "CPU (<model>)", a GPU by its model name alone.
    name = callbacks.device_name()
    assert name
    assert name.startswith("CPU (") != _on_gpu()
