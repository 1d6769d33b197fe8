"""The EMA generator: updated by training steps only, used for sampling."""

import keras
import numpy as np
import pytest
from helpers import LATENT_DIM, dtype_policy, fake_images, tiny_dcgan

import keras_dcgan
from keras_dcgan import recipes

DECAY = 0.9


def weights(network):
    return [keras.ops.convert_to_numpy(v) for v in network.weights]


def trained(ema_decay=DECAY, steps=2, batch=4):
    model = tiny_dcgan(ema_decay=ema_decay)
    model.compile()
    model.fit(
        fake_images(steps * batch), batch_size=batch, shuffle=False, verbose=0
    )
    return model


def test_off_in_the_model_on_in_the_recipes():
    # The bare model keeps what it is given; the recipes average, as measured
    # in docs/quality.md.
    assert tiny_dcgan().ema_generator is None
    for name in recipes.RECIPES:
        assert recipes.get_recipe(name).ema_decay == 0.999
    recipe = recipes.get_recipe("d2l", image_size=16, filters=4)
    assert recipe.build().ema_generator is not None
    assert recipe.replace(ema_decay=None).build().ema_generator is None


def test_recipe_builds_the_average():
    model = recipes.get_recipe("d2l", image_size=16, ema_decay=0.999).build()
    assert model.ema_decay == 0.999
    assert not model.ema_generator.trainable_weights
    assert len(model.ema_generator.weights) == len(model.generator.weights)


def test_starts_as_a_copy_of_the_generator():
    model = tiny_dcgan(ema_decay=DECAY)
    for average, current in zip(
        weights(model.ema_generator), weights(model.generator)
    ):
        np.testing.assert_array_equal(average, current)
    # Its own variables: a training step must not move it with the generator.
    assert not {id(v) for v in model.ema_generator.weights} & {
        id(v) for v in model.generator.weights
    }


def test_first_update_follows_the_warm_up_formula():
    model = tiny_dcgan(ema_decay=0.999)
    model.compile()
    before = weights(model.generator)
    model.fit(fake_images(4), batch_size=4, verbose=0)
    # Update t=0: d = min(0.999, (1 + 0) / (10 + 0)) = 0.1; BatchNorm
    # statistics are the average's own, left for generate() to recompute.
    for average, old, new, variable in zip(
        weights(model.ema_generator),
        before,
        weights(model.generator),
        model.generator.weights,
    ):
        expected = 0.1 * old + 0.9 * new if variable.trainable else old
        np.testing.assert_allclose(average, expected, atol=1e-6)
    assert int(keras.ops.convert_to_numpy(model.ema_updates)) == 1


def test_updated_by_training_steps_only():
    model = trained(steps=3)
    assert int(keras.ops.convert_to_numpy(model.ema_updates)) == 3
    after_fit = weights(model.ema_generator)
    assert any(
        not np.allclose(a, g)
        for a, g in zip(after_fit, weights(model.generator))
    )
    model.evaluate(fake_images(8), batch_size=4, verbose=0)
    model.predict(np.zeros((4, LATENT_DIM), "float32"), verbose=0)
    model.generate(4, seed=0)  # recomputes the statistics, nothing else
    for value, expected, variable in zip(
        weights(model.ema_generator), after_fit, model.ema_generator.weights
    ):
        if "moving" not in variable.path:
            np.testing.assert_array_equal(value, expected)
    assert int(keras.ops.convert_to_numpy(model.ema_updates)) == 3


def test_generate_uses_the_average_unless_asked_not_to():
    model = trained()
    model.recompute_ema_statistics()
    noise = keras_dcgan.noise.fixed_noise(6, LATENT_DIM, seed=1)
    shaped = noise.reshape((-1, 1, 1, LATENT_DIM))
    by_average = keras.ops.convert_to_numpy(model.ema_generator(shaped))
    by_generator = keras.ops.convert_to_numpy(model.generator(shaped))
    assert not np.allclose(by_average, by_generator, atol=1e-4)
    np.testing.assert_allclose(model.generate(6, seed=1), by_average, atol=1e-5)
    np.testing.assert_allclose(
        model.generate(6, seed=1, use_ema=False), by_generator, atol=1e-5
    )


def block_0_activations(network, noise):
    """What the first block's BatchNormalization sees, in NumPy."""
    block = network.get_layer("block_0")
    shaped = noise.reshape((-1, 1, 1, LATENT_DIM))
    return keras.ops.convert_to_numpy(block.conv(shaped))


def test_average_statistics_are_those_of_its_own_activations():
    model = trained()
    batch_norm = model.ema_generator.get_layer("block_0").batch_norm
    model.recompute_ema_statistics(num_images=32, batch_size=16)
    noise = keras_dcgan.noise.fixed_noise(32, LATENT_DIM, seed=0)
    batches = block_0_activations(model.ema_generator, noise).reshape(
        (2, -1, batch_norm.moving_mean.shape[0])
    )
    # The mean over the two batches of each batch's statistics.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(batch_norm.moving_mean),
        batches.mean(axis=1).mean(axis=0),
        rtol=1e-4,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(batch_norm.moving_variance),
        batches.var(axis=1).mean(axis=0),
        rtol=1e-4,
        atol=1e-6,
    )
    # Frozen again, at the momentum it had.
    assert (
        not batch_norm.trainable
        and not model.ema_generator.weights[0].trainable
    )
    assert batch_norm.momentum == 0.9


def test_statistics_depend_on_the_average_alone_and_refresh_after_training():
    model = trained()
    first = model.generate(4, seed=3)
    statistics = weights(model.ema_generator)
    np.testing.assert_array_equal(model.generate(4, seed=3), first)
    model.recompute_ema_statistics()
    for value, expected in zip(weights(model.ema_generator), statistics):
        np.testing.assert_array_equal(value, expected)
    model.fit(fake_images(4), batch_size=4, verbose=0)
    moved = model.generate(4, seed=3)
    assert not np.allclose(moved, first, atol=1e-5)
    model.recompute_ema_statistics()
    np.testing.assert_allclose(model.generate(4, seed=3), moved, atol=1e-6)


def test_recomputing_statistics_needs_an_average():
    with pytest.raises(ValueError, match="ema_decay=None"):
        tiny_dcgan().recompute_ema_statistics()


def test_image_grid_draws_with_the_average(tmp_path):
    model = tiny_dcgan(ema_decay=DECAY)
    model.compile()
    grid = keras_dcgan.callbacks.ImageGrid(tmp_path, rows=1, cols=3)
    model.fit(fake_images(8), batch_size=4, verbose=0, callbacks=[grid])
    np.testing.assert_allclose(
        grid.generate(), model.generate_from_noise(grid.noise), atol=1e-6
    )
    assert not np.allclose(
        grid.generate(),
        model.generate_from_noise(grid.noise, use_ema=False),
        atol=1e-4,
    )


def test_mixed_bfloat16_keeps_a_float32_average():
    with dtype_policy("mixed_bfloat16"):
        model = trained()
    assert {v.dtype for v in model.ema_generator.weights} == {"float32"}
    assert np.all(np.isfinite(model.generate(4, seed=0)))


def test_exported_preset_carries_the_average(tmp_path):
    model = trained()
    keras_dcgan.pretrained.export_preset(
        model, tmp_path / "preset", kernel_dtype="float32"
    )
    loaded = keras_dcgan.DCGAN.from_preset(str(tmp_path / "preset"))
    for value, expected in zip(
        weights(loaded.ema_generator), weights(model.ema_generator)
    ):
        np.testing.assert_array_equal(value, expected)
    np.testing.assert_allclose(
        loaded.generate(4, seed=0), model.generate(4, seed=0), atol=1e-6
    )


@pytest.mark.parametrize("decay", [0, 1, 1.5, -0.1, True, "0.9"])
def test_rejects_decays_outside_zero_to_one(decay):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        tiny_dcgan(ema_decay=decay)
    with pytest.raises(ValueError, match="ema_decay"):
        recipes.get_recipe("d2l", ema_decay=decay)


def test_generate_from_noise_checks_the_noise_shape():
    model = tiny_dcgan(ema_decay=DECAY)
    with pytest.raises(ValueError, match=r"\(num_images, 8\).*\(3, 5\)"):
        model.generate_from_noise(np.zeros((3, 5)))


def test_command_averages_by_default_and_no_ema_turns_it_off(tmp_path):
    import json

    from helpers import train_command as train

    assert train(tmp_path / "default").ema_decay == 0.999
    assert train(tmp_path / "plain", "--no-ema").ema_generator is None
    # A run folder from before the average existed resumes without one.
    record_path = tmp_path / "plain" / "checkpoint.json"
    record = json.loads(record_path.read_text())
    for name in (
        "ema_decay",
        "num_classes",
        "conditional_batch_norm",
        "auxiliary_classifier",
        "augment",
        "mirror",
        "upsampling",
    ):
        del record["config"][name]
    record_path.write_text(json.dumps(record))
    resumed = train(tmp_path / "plain", "--resume", "--epochs", "2")
    assert resumed.ema_generator is None
