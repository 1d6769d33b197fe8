import hashlib
import os
import re
import zipfile

import keras
import numpy as np
import pytest
from helpers import preset_images, run_command, run_python

from keras_dcgan import DCGAN, cli, files, pretrained, recipes


@pytest.fixture
def trained(tmp_path):
    model = recipes.get_recipe(
        "dcgan-paper", image_size=8, filters=4, latent_dim=4
    ).build(channels=1, seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1))
    model.fit(images.astype("float32"), batch_size=4, epochs=1, verbose=0)
    return model


def test_preset_folder_round_trip(trained, tmp_path):
    folder = tmp_path / "preset"
    metadata = pretrained.export_preset(
        trained,
        folder,
        {"recipe": {"learning_rate": 1e-3, "beta_1": 0.4}},
        kernel_dtype="float32",
    )
    assert sorted(os.listdir(folder)) == sorted(
        [
            pretrained.CONFIG_FILE,
            pretrained.METADATA_FILE,
            pretrained.WEIGHTS_FILE,
        ]
    )
    assert metadata["weights_sha256"] == files.file_hash(
        folder / pretrained.WEIGHTS_FILE
    )
    loaded = DCGAN.from_preset(folder)
    np.testing.assert_array_equal(
        loaded.generate(4, seed=1), trained.generate(4, seed=1)
    )
    for network in ("generator", "discriminator"):
        for a, b in zip(
            getattr(loaded, network).weights, getattr(trained, network).weights
        ):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
            )
    # Compiled with the recipe's optimizers, ready to fine-tune.
    assert loaded.compiled
    assert np.isclose(float(loaded.g_optimizer.learning_rate), 1e-3)
    assert np.isclose(loaded.d_optimizer.beta_1, 0.4)
    images = np.zeros((4, 8, 8, 1), "float32")
    loaded.fit(images, batch_size=4, epochs=1, verbose=0)


def test_float16_kernels_change_images_within_noise(trained, tmp_path):
    pretrained.export_preset(trained, tmp_path / "half")
    with np.load(tmp_path / "half" / pretrained.WEIGHTS_FILE) as stored:
        dtypes = {key: stored[key].dtype for key in stored}
    assert "float16" in {str(d) for d in dtypes.values()}
    assert all(str(d) == "float32" for k, d in dtypes.items() if "moving" in k)
    loaded = DCGAN.from_preset(tmp_path / "half")
    difference = loaded.generate(8, seed=2) - trained.generate(8, seed=2)
    assert np.abs(difference).max() < 1e-2


def test_export_refuses_an_existing_folder(trained, tmp_path):
    with pytest.raises(ValueError, match="must not exist yet"):
        pretrained.export_preset(trained, tmp_path)


def test_damaged_weights_are_refused(trained, tmp_path):
    folder = tmp_path / "preset"
    pretrained.export_preset(trained, folder)
    with open(folder / pretrained.WEIGHTS_FILE, "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="damaged"):
        DCGAN.from_preset(folder)


def test_keras_file(trained, tmp_path):
    path = tmp_path / "model.keras"
    trained.save(path)
    loaded = DCGAN.from_preset(path)
    np.testing.assert_array_equal(
        loaded.generate(3, seed=0), trained.generate(3, seed=0)
    )


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="Received: preset='dcgan_mars_64'"
    ) as e:
        DCGAN.from_preset("dcgan_mars_64")
    for name in DCGAN.presets:
        assert name in str(e.value)


def sha256_of(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home / pretrained.CACHE_SUBDIR


def test_url_download_is_verified_and_cached(trained, tmp_path, keras_home):
    source = tmp_path / "served" / "tiny.keras"
    source.parent.mkdir()
    trained.save(source)
    url = source.as_uri()
    loaded = DCGAN.from_preset(url, file_hash=sha256_of(source))
    np.testing.assert_array_equal(
        loaded.generate(2, seed=0), trained.generate(2, seed=0)
    )
    assert os.listdir(keras_home) == ["tiny.keras"]
    # Downloaded once: the cached copy serves the next call.
    digest = sha256_of(source)
    source.unlink()
    DCGAN.from_preset(url, file_hash=digest)


def test_url_with_wrong_sha256_keeps_nothing(trained, tmp_path, keras_home):
    source = tmp_path / "tiny.keras"
    trained.save(source)
    with pytest.raises(ValueError, match="does not have the expected sha256"):
        DCGAN.from_preset(source.as_uri(), file_hash="0" * 64)
    assert not keras_home.exists() or os.listdir(keras_home) == []
    with pytest.raises(ValueError, match="needs the file's sha256"):
        DCGAN.from_preset(source.as_uri())


def test_url_of_a_zipped_preset_folder(trained, tmp_path, keras_home):
    folder = tmp_path / "preset"
    pretrained.export_preset(trained, folder)
    archive = tmp_path / "tiny_preset.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in os.listdir(folder):
            z.write(folder / name, f"tiny_preset/{name}")
    loaded = DCGAN.from_preset(archive.as_uri(), file_hash=sha256_of(archive))
    np.testing.assert_array_equal(
        loaded.generate(2, seed=0),
        DCGAN.from_preset(folder).generate(2, seed=0),
    )
    assert (keras_home / "tiny_preset" / pretrained.CONFIG_FILE).is_file()


SHIPPED = sorted(DCGAN.presets)
METADATA_KEYS = {
    "description",
    "recipe",
    "data",
    "epochs",
    "image_shape",
    "latent_dim",
    "training",
    "quality",
    "weights_sha256",
}


def test_the_wheel_ships_small_presets():
    assert {
        "dcgan_pokemon_64",
        "dcgan_fashion_mnist_32",
        "dcgan_fashion_mnist_32_conditional",
    } <= set(SHIPPED)
    size = sum(
        os.path.getsize(os.path.join(pretrained.resolve(name), f))
        for name in SHIPPED
        for f in os.listdir(pretrained.resolve(name))
    )
    assert size <= 25 * 2**20


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset(name):
    metadata = DCGAN.presets[name]
    assert METADATA_KEYS <= set(metadata)
    model = DCGAN.from_preset(name)
    assert model.compiled
    assert model.image_shape == tuple(metadata["image_shape"])
    assert model.latent_dim == metadata["latent_dim"]
    images = model.generate(4, seed=0)
    assert images.shape == (4,) + tuple(metadata["image_shape"])
    assert images.dtype == np.float32
    assert -1.0 <= images.min() and images.max() <= 1.0
    # A trained generator: the images differ from each other.
    assert images.std(axis=0).mean() > 0.05


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="runs the other backends in subprocesses; once per suite is enough",
)
def test_same_noise_same_images_on_every_backend(tmp_path):
    code = (
        "import sys\nimport numpy as np\nfrom helpers import preset_images\n"
        "np.savez(sys.argv[1], **preset_images(sys.argv[2:]))"
    )
    outputs = {"tensorflow": preset_images(SHIPPED)}
    for backend in ("jax", "torch"):
        path = tmp_path / f"{backend}.npz"
        run_python(code, backend=backend, args=[str(path), *SHIPPED])
        outputs[backend] = dict(np.load(path))
    # float32 convolutions in different libraries: agreement to 1e-3 of the
    # [-1, 1] range.
    for name in SHIPPED:
        for backend in ("jax", "torch"):
            np.testing.assert_allclose(
                outputs[backend][name],
                outputs["tensorflow"][name],
                atol=1e-3,
                err_msg=f"{name} on {backend}",
            )


def test_cli_presets_lists_the_shipped_ones():
    result = run_command(["presets"])
    assert result.returncode == 0, result.stderr
    for name in SHIPPED:
        assert re.search(rf"^{name}$", result.stdout, re.MULTILINE)
        assert DCGAN.presets[name]["description"] in result.stdout


def test_cli_presets_into_a_closed_pipe_stops_quietly():
    # As in `keras-dcgan presets | head -1`, when head has left.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = run_command(["presets"], stdout=write_end)
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""


def test_cli_sample_from_a_preset_folder(trained, tmp_path):
    from PIL import Image

    pretrained.export_preset(trained, tmp_path / "preset")
    grid = tmp_path / "grid.png"
    result = run_command(
        ["sample", "--preset", str(tmp_path / "preset")]
        + ["--num-images", "6", "--cols", "3", "--output", str(grid)]
    )
    assert result.returncode == 0, result.stderr
    assert "Wrote 6 images as a 2x3 grid" in result.stdout
    assert Image.open(grid).size[0] > Image.open(grid).size[1]
    result = run_command(["sample", "--preset", "dcgan_mars_64"])
    assert result.returncode == 2
    assert "Received: preset='dcgan_mars_64'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", SHIPPED)
def test_cli_sample_from_a_shipped_preset(name, tmp_path):
    from PIL import Image

    grid = tmp_path / "grid.png"
    code = cli.main(
        [
            "sample",
            "--preset",
            name,
            "--num-images",
            "64",
            "--output",
            str(grid),
        ]
    )
    assert code == 0
    side = DCGAN.presets[name]["image_shape"][0]
    width, height = Image.open(grid).size
    assert width >= 7 * side and height >= 10 * side


def test_conditional_preset_draws_the_asked_class(tmp_path):
    from PIL import Image

    from keras_dcgan import evaluation

    name = "dcgan_fashion_mnist_32_conditional"
    grid = tmp_path / "sneakers.png"
    code = cli.main(
        ["sample", "--preset", name, "--label", "sneaker"]
        + ["--num-images", "7", "--output", str(grid)]
    )
    assert code == 0
    assert Image.open(grid).size[0] >= 7 * 32
    # The package's evaluator names the asked class (the card says 93.2%
    # over 1,000 images of each class).
    classifier, _ = evaluation.load_fashion_mnist_evaluator()
    agreement = evaluation.class_agreement(
        DCGAN.from_preset(name), classifier, per_class=20
    )
    assert agreement["mean"] > 0.85
    assert agreement["pixel_std"] > 0.2  # Varied within each class.


def test_cli_sample_walks_and_truncates(trained, tmp_path, capsys):
    from PIL import Image

    pretrained.export_preset(trained, tmp_path / "preset")
    preset = ["sample", "--preset", str(tmp_path / "preset")]
    strip, gif = tmp_path / "walk.png", tmp_path / "walk.gif"
    code = cli.main(
        preset
        + ["--interpolate", "--num-images", "5", "--output", str(strip)]
        + ["--gif", str(gif)]
    )
    assert code == 0
    animation = Image.open(gif)
    assert animation.n_frames == 8  # 5 steps there, 3 back
    assert Image.open(strip).size[0] > 4 * Image.open(strip).size[1]
    code = cli.main(preset + ["--truncation", "0.5", "--output", str(strip)])
    assert code == 0
    capsys.readouterr()
    assert cli.main(preset + ["--gif", str(gif)]) == 2
    assert "--gif only applies to --interpolate" in capsys.readouterr().err
