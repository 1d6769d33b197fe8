import json

import keras
import numpy as np
import pytest
from helpers import train_command

from keras_dcgan import DCGAN, checkpoints, cli, recipes


def test_recipes_carry_their_sources_numbers():
    d2l = recipes.get_recipe("d2l")
    assert (d2l.learning_rate, d2l.epochs, d2l.batch_size) == (0.005, 40, 256)
    assert (d2l.latent_dim, d2l.init_stddev, d2l.beta_1) == (100, 0.02, 0.5)
    assert d2l.first_block_batch_norm
    assert recipes.get_recipe("d2l-pytorch").epochs == 20
    assert recipes.get_recipe("d2l-pytorch").learning_rate == 0.005
    paper = recipes.get_recipe("dcgan-paper")
    assert (paper.learning_rate, paper.batch_size) == (2e-4, 128)
    assert not paper.first_block_batch_norm
    assert (paper.gamma_mean, paper.gamma_stddev) == (1.0, 0.02)
    for recipe in recipes.RECIPES.values():
        assert recipe.source


def test_overrides_and_errors():
    recipe = recipes.get_recipe("d2l", epochs=3, learning_rate=1e-3)
    assert (recipe.epochs, recipe.learning_rate) == (3, 1e-3)
    assert recipes.get_recipe("d2l").epochs == 40
    with pytest.raises(ValueError, match="Received: name='wgan'"):
        recipes.get_recipe("wgan")
    with pytest.raises(ValueError, match="Received: lr=0.1"):
        recipes.get_recipe("d2l", lr=0.1)
    with pytest.raises(ValueError, match="Received: epochs=0"):
        recipes.get_recipe("d2l", epochs=0)
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        recipes.get_recipe("d2l", learning_rate=-1)


def tiny(name):
    return recipes.get_recipe(name, image_size=16, filters=4, latent_dim=8)


def test_build_makes_the_recipes_model():
    model = tiny("d2l").build(channels=1, seed=0)
    assert isinstance(model, DCGAN)
    assert model.image_shape == (16, 16, 1)
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert np.isclose(float(optimizer.learning_rate), 0.005)
        assert optimizer.beta_1 == 0.5
    block_0 = model.discriminator.get_layer("block_0")
    assert block_0.use_batch_norm
    gammas = [
        keras.ops.convert_to_numpy(v)
        for v in model.generator.weights
        if "gamma" in v.path
    ]
    assert gammas and all(np.all(g == 1.0) for g in gammas)


def test_dcgan_paper_networks():
    model = tiny("dcgan-paper").build(seed=0)
    assert np.isclose(float(model.d_optimizer.learning_rate), 2e-4)
    assert not model.discriminator.get_layer("block_0").use_batch_norm
    assert model.discriminator.get_layer("block_1").use_batch_norm
    gammas = np.concatenate(
        [
            keras.ops.convert_to_numpy(v).ravel()
            for v in model.generator.weights + model.discriminator.weights
            if "gamma" in v.path
        ]
    )
    assert abs(gammas.mean() - 1.0) < 0.01
    assert 0.01 < gammas.std() < 0.03


def test_build_is_seeded():
    a = tiny("d2l").build(seed=3).generator.get_weights()
    b = tiny("d2l").build(seed=3).generator.get_weights()
    c = tiny("d2l").build(seed=4).generator.get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_cli_train_takes_a_recipe(tmp_path):
    train_command(tmp_path, "--recipe", "dcgan-paper")
    with open(tmp_path / "checkpoint.json") as f:
        config = json.load(f)["config"]
    assert config["recipe"] == "dcgan-paper" and "preset" not in config
    assert config["learning_rate"] == 2e-4


def test_cli_refuses_to_resume_a_run_that_names_its_recipe_preset(
    tmp_path, capsys
):
    # Run folders of an earlier version recorded the recipe as "preset".
    record = {
        "format": checkpoints.CHECKPOINT_FORMAT,
        "epoch": 1,
        "config": {"preset": "d2l", "dataset": "fake", "dry_run": True},
    }
    with open(tmp_path / checkpoints.CHECKPOINT_FILE, "w") as f:
        json.dump(record, f)
    args = ["train", "--resume", "--output-dir", str(tmp_path), "--quiet"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "written by an earlier version of keras-dcgan" in err
    assert "expected 'recipe'. Received: preset='d2l' in " in err
    assert not (tmp_path / "checkpoints").exists()
