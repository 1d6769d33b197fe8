import keras
import numpy as np
import pytest
from helpers import (
    IMAGE_SHAPE,
    LATENT_DIM,
    dtype_policy,
    fake_images,
    tiny_dcgan,
    weights_of,
)

import keras_dcgan

METRICS = ("d_loss", "g_loss", "real_prob", "fake_prob")


def variables_by_path(network, trainable):
    variables = (
        network.trainable_weights
        if trainable
        else [v for v in network.weights if not v.trainable]
    )
    return {v.path: keras.ops.convert_to_numpy(v) for v in variables}


def changed(before, after):
    return [k for k in before if not np.array_equal(before[k], after[k])]


def test_fit_updates_both_players_and_batch_norm_statistics():
    model = tiny_dcgan()
    model.compile()
    before = {
        (net.name, trainable): variables_by_path(net, trainable)
        for net in (model.generator, model.discriminator)
        for trainable in (True, False)
    }
    history = model.fit(fake_images(8), batch_size=4, epochs=2, verbose=0)
    for (name, trainable), values in before.items():
        after = variables_by_path(getattr(model, name), trainable)
        # Every kernel, gamma, beta, moving mean and variance has moved.
        assert changed(values, after) == list(values), (name, trainable)
    assert sorted(history.history) == sorted(METRICS)
    for name in METRICS:
        assert len(history.history[name]) == 2
        assert np.all(np.isfinite(history.history[name]))
    for name in ("real_prob", "fake_prob"):
        assert all(0 < p < 1 for p in history.history[name])


@pytest.mark.parametrize("frozen", ["discriminator", "generator"])
def test_each_update_touches_only_its_own_player(frozen):
    # With one player's learning rate at zero, its weights must not move:
    # the other player's update leaves it untouched.
    model = tiny_dcgan()
    zero = keras.optimizers.Adam(learning_rate=0.0, beta_1=0.5)
    if frozen == "discriminator":
        model.compile(d_optimizer=zero)
    else:
        model.compile(g_optimizer=zero)
    network = getattr(model, frozen)
    other = (
        model.generator if frozen == "discriminator" else model.discriminator
    )
    before = variables_by_path(network, True)
    other_before = variables_by_path(other, True)
    model.fit(fake_images(4), batch_size=4, epochs=1, verbose=0)
    assert changed(before, variables_by_path(network, True)) == []
    assert changed(other_before, variables_by_path(other, True)) == list(
        other_before
    )


def test_first_step_losses_match_the_chapter_formulas():
    model = tiny_dcgan()
    noise = np.random.default_rng(1).standard_normal((4, 1, 1, LATENT_DIM))
    noise = noise.astype("float32")
    model._noise = lambda batch_size: keras.ops.convert_to_tensor(noise)
    real = fake_images(4)

    def logits(images):
        out = model.discriminator(images, training=True)
        return keras.ops.convert_to_numpy(out).reshape(-1).astype("float64")

    def softplus(x):
        return np.logaddexp(0.0, x)

    # The discriminator's loss is computed before either update.
    fake = model.generator(noise, training=True)
    expected_d = np.mean(softplus(-logits(real)) + softplus(logits(fake))) / 2
    expected_real = np.mean(1 / (1 + np.exp(-logits(real))))
    model.compile()
    logs = model.fit(real, batch_size=4, epochs=1, verbose=0).history
    np.testing.assert_allclose(logs["d_loss"][0], expected_d, rtol=1e-4)
    np.testing.assert_allclose(logs["real_prob"][0], expected_real, rtol=1e-4)


class ChapterStepDCGAN(keras_dcgan.DCGAN):
    """The chapter's step, whose `update_G` runs the generator again."""

    def _gan_train_step(self, data):
        real, _ = self._real_batch(data)
        noise = self._noise(keras.ops.shape(real)[0])
        fake = keras.ops.stop_gradient(self.generator(noise, training=True))

        def discriminator_objective():
            real_outputs = self._discriminate(real, None)
            fake_outputs = self._discriminate(fake, None)
            loss, per_example = self._discriminator_loss(
                real_outputs, fake_outputs
            )
            return loss, (per_example, real_outputs[0], fake_outputs[0])

        def generator_objective():
            images = self.generator(noise, training=True)
            return self._generator_loss(self._discriminate(images, None))

        _, (d_loss, real_logits, fake_logits) = self._minimize(
            self.d_optimizer,
            self.discriminator.trainable_variables,
            discriminator_objective,
        )
        _, g_loss = self._minimize(
            self.g_optimizer,
            self.generator.trainable_variables,
            generator_objective,
        )
        return self._update_metrics(d_loss, g_loss, real_logits, fake_logits)


def test_one_generator_pass_per_step_equals_the_chapters_two():
    models = []
    for model_class in (keras_dcgan.DCGAN, ChapterStepDCGAN):
        keras.utils.set_random_seed(0)
        model = model_class(
            keras_dcgan.build_generator(LATENT_DIM, IMAGE_SHAPE, filters=4),
            keras_dcgan.build_discriminator(IMAGE_SHAPE, filters=4),
            latent_dim=LATENT_DIM,
            seed=0,
        )
        model.compile()
        model.fit(fake_images(8), batch_size=4, shuffle=False, verbose=0)
        models.append(model)
    ours, chapters = models
    for network in ("generator", "discriminator"):
        want = variables_by_path(getattr(chapters, network), trainable=True)
        got = variables_by_path(getattr(ours, network), trainable=True)
        for path in want:
            np.testing.assert_allclose(
                got[path], want[path], rtol=1e-4, atol=1e-6, err_msg=path
            )
    # The chapter's second pass updates the generator's BatchNorm moving
    # statistics a second time; ours does so once per step.
    want = variables_by_path(chapters.generator, trainable=False)
    got = variables_by_path(ours.generator, trainable=False)
    assert changed(want, got)


def test_accepts_tf_data_numpy_pydataset_and_labels():
    images = fake_images(10)
    labels = np.arange(10)

    class Sequence(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            batch = slice(4 * index, 4 * index + 4)
            return images[batch], labels[batch]

    model = tiny_dcgan()
    model.compile()
    sources = {"PyDataset": Sequence()}
    try:
        import tensorflow as tf
    except ImportError:  # tf.data needs TensorFlow; the rest does not.
        tf = None
    if tf is not None:
        slices = tf.data.Dataset.from_tensor_slices
        sources["tf.data x"] = slices(images).batch(4)
        sources["tf.data (x,)"] = slices((images,)).batch(4)
        sources["tf.data (x, y)"] = slices((images, labels)).batch(4)
    for name, source in sources.items():
        history = model.fit(source, epochs=1, verbose=0)
        assert np.isfinite(history.history["d_loss"][0]), name
    # NumPy arrays, with labels, and a last partial batch of 2.
    history = model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["g_loss"][0])


def test_metrics_reset_each_epoch():
    model = tiny_dcgan()
    model.compile()
    model.fit(fake_images(6), batch_size=4, epochs=3, verbose=0)
    # Per-example means over the last epoch only: 6 examples, not 18.
    for tracker in model.metrics:
        assert float(tracker.count) == 6, tracker.name


def test_evaluate_reports_losses_without_updating():
    model = tiny_dcgan()
    model.compile()
    before = weights_of(model)
    logs = model.evaluate(
        fake_images(6), batch_size=4, verbose=0, return_dict=True
    )
    assert sorted(logs) == sorted(METRICS)
    assert all(np.isfinite(v) for v in logs.values())
    for a, b in zip(before, weights_of(model)):
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b)
    history = model.fit(
        fake_images(4),
        batch_size=4,
        validation_data=(fake_images(4, seed=1),),
        epochs=1,
        verbose=0,
    )
    assert "val_d_loss" in history.history


def test_generate_and_call_give_images_in_range():
    model = tiny_dcgan()
    model.compile()
    images = model.generate(5, seed=3)
    assert images.shape == (5,) + IMAGE_SHAPE
    assert images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images, model.generate(5, seed=3))
    assert not np.array_equal(images, model.generate(5, seed=4))
    noise = np.random.default_rng(3).standard_normal(
        (5, LATENT_DIM), dtype=np.float32
    )
    direct = keras.ops.convert_to_numpy(model(noise))
    np.testing.assert_allclose(direct, images, atol=1e-5)


@pytest.mark.parametrize("flag", ["jit_compile", "run_eagerly"])
def test_trains_with_and_without_compilation(flag, backend):
    if flag == "jit_compile" and backend == "torch":
        pytest.skip("jit_compile=True on torch means torch.compile: slow")
    model = tiny_dcgan()
    model.compile(**{flag: True})
    history = model.fit(fake_images(4), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])
    model = tiny_dcgan()
    model.compile(jit_compile=False)
    history = model.fit(fake_images(4), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["d_loss"][0])


def test_mixed_bfloat16_training():
    with dtype_policy("mixed_bfloat16"):
        model = tiny_dcgan()
    model.compile()
    history = model.fit(fake_images(4), batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["g_loss"]))
    images = model.generate(2, seed=0)
    assert images.dtype == np.float32


def test_mixed_float16_wraps_each_optimizer_in_loss_scaling():
    with dtype_policy("mixed_float16"):
        model = tiny_dcgan()
    model.compile()
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


@pytest.mark.parametrize(
    "images, received",
    [
        (fake_images(4, (8, 8, 3)), r"\(4, 8, 8, 3\)"),
        (fake_images(4, (16, 16, 1)), r"\(4, 16, 16, 1\)"),
        (fake_images(4, (16, 16)), r"\(4, 16, 16\)"),
    ],
)
def test_wrong_image_shape_fails_at_first_step(images, received, tmp_path):
    model = tiny_dcgan()
    model.compile()
    before = [keras.ops.convert_to_numpy(v) for v in model.weights]
    with pytest.raises(ValueError, match=r"\(batch, 16, 16, 3\)") as info:
        model.fit(images, batch_size=4, epochs=1, verbose=0)
    assert info.match("Received: images.shape=" + received)
    # The mistake costs nothing: the weights are intact and still save.
    for value, expected in zip(model.weights, before):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(value), expected
        )
    model.save(tmp_path / "model.keras")


def test_wrong_image_shape_without_static_shape_fails_the_same():
    # A tf.data pipeline that does not know its images' shape: every
    # backend reports the mismatch in the same words.
    tf = pytest.importorskip("tensorflow")
    images = fake_images(4, (8, 8, 3))
    dataset = tf.data.Dataset.from_generator(
        lambda: iter([images]),
        output_signature=tf.TensorSpec((None, None, None, None), tf.float32),
    )
    model = tiny_dcgan()
    model.compile()
    with pytest.raises(ValueError, match=r"\(batch, 16, 16, 3\)") as info:
        model.fit(dataset, epochs=1, verbose=0)
    assert info.match(r"Received: images.shape=\(4, 8, 8, 3\)")


def test_invalid_constructor_and_compile_arguments():
    generator = keras_dcgan.build_generator(LATENT_DIM, IMAGE_SHAPE, filters=4)
    discriminator = keras_dcgan.build_discriminator(IMAGE_SHAPE, filters=4)
    with pytest.raises(ValueError, match="Received: latent_dim=0"):
        keras_dcgan.DCGAN(generator, discriminator, latent_dim=0)
    with pytest.raises(ValueError, match="Received: latent_dim=100"):
        keras_dcgan.DCGAN(generator, discriminator, latent_dim=100)
    with pytest.raises(ValueError, match="`generator` must be a built"):
        keras_dcgan.DCGAN("generator", discriminator, latent_dim=LATENT_DIM)
    model = keras_dcgan.DCGAN(generator, discriminator, latent_dim=LATENT_DIM)
    with pytest.raises(ValueError, match="Received: optimizer='adam'"):
        model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="Received: num_images=0"):
        model.generate(0)


def test_default_optimizers_are_the_chapters():
    model = tiny_dcgan()
    model.compile()
    for optimizer in (model.d_optimizer, model.g_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert optimizer.beta_1 == 0.5
        np.testing.assert_allclose(float(optimizer.learning_rate), 0.005)
        assert optimizer.built
    assert model.d_optimizer is not model.g_optimizer
    assert len(model.optimizer.variables) == len(
        model.d_optimizer.variables
    ) + len(model.g_optimizer.variables)
