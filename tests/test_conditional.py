"""The class-conditional DCGAN: labels in, labels out, on every backend."""

import re

import keras
import numpy as np
import pytest
from helpers import LATENT_DIM, fake_images, run_python, tiny_dcgan

import keras_dcgan
from keras_dcgan import evaluation, recipes

CLASSES = 3
IMAGE_SHAPE = (16, 16, 1)


def conditional_dcgan(
    seed=0,
    conditional_batch_norm=False,
    auxiliary_classifier=False,
    label_input="projection",
    **kw,
):
    keras.utils.set_random_seed(seed)
    return keras_dcgan.DCGAN(
        keras_dcgan.build_generator(
            LATENT_DIM,
            IMAGE_SHAPE,
            filters=4,
            num_classes=CLASSES,
            conditional_batch_norm=conditional_batch_norm,
        ),
        keras_dcgan.build_discriminator(
            IMAGE_SHAPE,
            filters=4,
            num_classes=CLASSES,
            auxiliary_classifier=auxiliary_classifier,
            label_input=label_input,
        ),
        latent_dim=LATENT_DIM,
        seed=seed,
        num_classes=CLASSES,
        **kw,
    )


def labelled(n=16, seed=0):
    return fake_images(n, IMAGE_SHAPE, seed), np.arange(n) % CLASSES


@pytest.mark.parametrize("label_input", ["projection", "channels"])
def test_networks_take_labels_and_keep_their_output_shapes(label_input):
    generator = keras_dcgan.build_generator(
        LATENT_DIM, IMAGE_SHAPE, filters=4, num_classes=CLASSES
    )
    discriminator = keras_dcgan.build_discriminator(
        IMAGE_SHAPE, filters=4, num_classes=CLASSES, label_input=label_input
    )
    noise = np.zeros((5, 1, 1, LATENT_DIM), "float32")
    labels = np.array([0, 1, 2, 0, 1], "int32")
    images = keras.ops.convert_to_numpy(generator([noise, labels]))
    assert images.shape == (5,) + IMAGE_SHAPE
    logits = discriminator([images, labels])
    assert tuple(logits.shape) == (5, 1, 1, 1)
    # The label changes both networks' outputs.
    other = np.array([1, 2, 0, 1, 2], "int32")
    assert not np.allclose(
        images, keras.ops.convert_to_numpy(generator([noise, other]))
    )
    assert not np.allclose(
        keras.ops.convert_to_numpy(logits),
        keras.ops.convert_to_numpy(discriminator([images, other])),
    )


@pytest.mark.parametrize(
    "conditional_batch_norm, auxiliary_classifier, label_input",
    [
        (False, False, "projection"),
        (True, False, "projection"),
        (False, True, "projection"),
        (False, True, "channels"),
    ],
)
def test_fit_with_labels_trains_the_label_layers(
    conditional_batch_norm, auxiliary_classifier, label_input
):
    model = conditional_dcgan(
        conditional_batch_norm=conditional_batch_norm,
        auxiliary_classifier=auxiliary_classifier,
        label_input=label_input,
    )
    model.compile()
    label_layers = {
        "label_embedding": model.generator.get_layer("label_embedding")
    }
    if label_input == "projection":
        label_layers["label_projection"] = model.discriminator.get_layer(
            "label_projection"
        )
    else:
        # The label's channels enter the first block's kernel.
        label_layers["block_0"] = model.discriminator.get_layer("block_0")
    block = model.generator.get_layer("block_1")
    assert (block.num_classes == CLASSES) == conditional_batch_norm
    if conditional_batch_norm:
        label_layers["class_scale"] = block.class_scale
        label_layers["class_offset"] = block.class_offset
    if auxiliary_classifier:
        label_layers["class_logits"] = model.discriminator.get_layer(
            "class_logits"
        )
    before = {
        name: keras.ops.convert_to_numpy(layer.weights[0])
        for name, layer in label_layers.items()
    }
    images, labels = labelled()
    logs = model.fit(images, labels, batch_size=8, verbose=0).history
    assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
    for name, layer in label_layers.items():
        after = keras.ops.convert_to_numpy(layer.weights[0])
        assert not np.allclose(after, before[name]), name
    metrics = model.evaluate(images, labels, batch_size=8, return_dict=True)
    assert set(metrics) >= {"d_loss", "g_loss"}


def test_auxiliary_classifier_adds_the_cross_entropy_of_the_class():
    images, labels = labelled()
    plain = conditional_dcgan(seed=4)
    model = conditional_dcgan(seed=4, auxiliary_classifier=True)
    logits, class_logits = model.discriminator([images, labels])
    assert tuple(logits.shape) == (16, 1, 1, 1)
    assert tuple(class_logits.shape) == (16, CLASSES)
    # Same seed: the same networks but for the classifier's head, and the
    # same fake batch, so the losses differ by the cross-entropy terms:
    # d_loss by the mean of the real and fake ones, g_loss by the fake one.
    losses = {}
    for name, gan in (("plain", plain), ("classifier", model)):
        gan.compile()
        losses[name] = gan.evaluate(
            images, labels, batch_size=16, verbose=0, return_dict=True
        )
    d_extra = losses["classifier"]["d_loss"] - losses["plain"]["d_loss"]
    g_extra = losses["classifier"]["g_loss"] - losses["plain"]["g_loss"]
    class_logits = keras.ops.convert_to_numpy(
        model.discriminator([images, labels], training=False)[1]
    )
    log_probs = class_logits - np.log(
        np.exp(class_logits).sum(axis=-1, keepdims=True)
    )
    real_extra = -log_probs[np.arange(16), labels].mean()
    np.testing.assert_allclose(2 * d_extra - g_extra, real_extra, rtol=1e-4)
    assert g_extra > 0


def test_a_tf_data_pipeline_of_pairs_trains():
    import tensorflow as tf

    images, labels = labelled()
    model = conditional_dcgan()
    model.compile()
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    assert model.fit(data, verbose=0).history["d_loss"]


def test_unconditional_model_ignores_labels():
    model = tiny_dcgan(image_shape=IMAGE_SHAPE)
    model.compile()
    images, labels = labelled()
    model.fit(images, labels, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="only apply to a conditional"):
        model.generate(3, labels=[0, 1, 2])


def test_conditional_model_needs_labels_to_train():
    model = conditional_dcgan()
    model.compile()
    with pytest.raises(ValueError, match=r"`\(images, labels\)` batches"):
        model.fit(fake_images(8, IMAGE_SHAPE), batch_size=8, verbose=0)


def test_generate_draws_the_asked_classes():
    model = conditional_dcgan()
    noise = keras_dcgan.noise.fixed_noise(4, LATENT_DIM, seed=3)
    labels = np.array([2, 0, 1, 2])
    expected = keras.ops.convert_to_numpy(
        model.generator([noise.reshape(4, 1, 1, LATENT_DIM), labels])
    )
    np.testing.assert_allclose(
        model.generate(4, seed=3, labels=labels), expected, atol=1e-5
    )
    # Without labels: uniform classes, the same for the same seed.
    np.testing.assert_array_equal(
        model.generate(6, seed=1), model.generate(6, seed=1)
    )
    assert model.generate(7).shape == (7,) + IMAGE_SHAPE


def test_class_agreement_counts_each_asked_class():
    # A classifier that names class 1 whatever it sees.
    classifier = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Flatten(),
            keras.layers.Dense(
                CLASSES,
                kernel_initializer="zeros",
                bias_initializer=keras.initializers.Constant([0.0, 5.0, 0.0]),
            ),
        ]
    )
    model = conditional_dcgan()
    agreement = evaluation.class_agreement(model, classifier, per_class=4)
    assert agreement["per_class"] == [0, 1, 0]
    assert agreement["mean"] == pytest.approx(1 / 3)
    # The variety within each class of the images it asked for.
    labels = np.arange(12) % CLASSES
    images = model.generate(12, seed=0, labels=labels)
    spread = [images[labels == k].std(axis=0).mean() for k in range(CLASSES)]
    assert agreement["pixel_std"] == pytest.approx(np.mean(spread), rel=1e-5)
    with pytest.raises(ValueError, match="Received: num_classes=None"):
        evaluation.class_agreement(tiny_dcgan(), classifier)


@pytest.mark.parametrize(
    "labels, received",
    [
        ([0, 1], r"shape \(2,\)"),
        ([0, 1, 3], r"values in \[0, 3\]"),
        ([-1, 0, 1], r"values in \[-1, 1\]"),
        ([0.0, 1.0, 2.0], "dtype float64"),
    ],
)
def test_wrong_labels_give_a_keras_worded_error(labels, received):
    model = conditional_dcgan()
    with pytest.raises(ValueError, match=r"3 integers in \[0, 3\)") as error:
        model.generate(3, labels=labels)
    assert "Received:" in str(error.value)
    assert re.search(received, str(error.value))


def test_networks_must_match_num_classes():
    with pytest.raises(ValueError, match="must take 2 input"):
        keras_dcgan.DCGAN(
            keras_dcgan.build_generator(LATENT_DIM, IMAGE_SHAPE, filters=4),
            keras_dcgan.build_discriminator(IMAGE_SHAPE, filters=4),
            latent_dim=LATENT_DIM,
            num_classes=CLASSES,
        )
    with pytest.raises(ValueError, match="needs `num_classes`"):
        keras_dcgan.build_generator(conditional_batch_norm=True)
    with pytest.raises(ValueError, match="needs `num_classes`"):
        keras_dcgan.build_discriminator(auxiliary_classifier=True)
    with pytest.raises(ValueError, match="Received: label_input='one-hot'"):
        keras_dcgan.build_discriminator(num_classes=3, label_input="one-hot")
    generator = keras_dcgan.build_generator(
        LATENT_DIM, IMAGE_SHAPE, filters=4, num_classes=CLASSES
    )
    four_classes = keras_dcgan.build_discriminator(
        IMAGE_SHAPE, filters=4, num_classes=4, auxiliary_classifier=True
    )
    with pytest.raises(ValueError, match="num_classes=3 values per image"):
        keras_dcgan.DCGAN(
            generator, four_classes, LATENT_DIM, num_classes=CLASSES
        )
    plain = keras_dcgan.build_discriminator(IMAGE_SHAPE, filters=4)
    two_outputs = keras.Model(plain.inputs, plain.outputs * 2)
    with pytest.raises(ValueError, match="must have one output"):
        keras_dcgan.DCGAN(
            keras_dcgan.build_generator(LATENT_DIM, IMAGE_SHAPE, filters=4),
            two_outputs,
            LATENT_DIM,
        )
    with pytest.raises(ValueError, match="num_classes"):
        conditional_dcgan().__class__(
            keras_dcgan.build_generator(
                LATENT_DIM, IMAGE_SHAPE, filters=4, num_classes=0
            ),
            None,
        )


def test_image_grid_gives_each_row_a_class(tmp_path):
    model = conditional_dcgan(ema_decay=0.9)
    model.compile()
    grid = keras_dcgan.callbacks.ImageGrid(tmp_path, rows=4, cols=2)
    images, labels = labelled()
    model.fit(images, labels, batch_size=8, verbose=0, callbacks=[grid])
    rows = np.array([0, 0, 1, 1, 2, 2, 0, 0])
    np.testing.assert_allclose(
        grid.generate(),
        model.generate_from_noise(grid.noise, labels=rows),
        atol=1e-6,
    )
    assert (tmp_path / "epoch_001.png").exists()


def test_recipe_builds_a_conditional_model():
    model = recipes.get_recipe(
        "dcgan-paper", image_size=16, filters=4, num_classes=CLASSES
    ).build(channels=1, seed=0)
    assert model.num_classes == CLASSES
    assert len(model.generator.inputs) == len(model.discriminator.inputs) == 2
    assert model.generator.get_layer("block_0").num_classes is None

    def d2l_model(**fields):
        recipe = recipes.get_recipe(
            "d2l", image_size=16, filters=4, num_classes=CLASSES, **fields
        )
        return recipe.build(channels=1, seed=0)

    model = d2l_model(conditional_batch_norm=True)
    assert model.generator.get_layer("block_0").num_classes == CLASSES
    assert not model.auxiliary_classifier
    model = d2l_model(auxiliary_classifier=True)
    assert model.auxiliary_classifier
    assert len(model.discriminator.outputs) == 2
    model = d2l_model(label_input="channels")
    assert model.discriminator.get_layer("label_maps")


RESUME = """
import sys
import keras, numpy as np
from helpers import state_of
model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
model.fit(data["images"], data["labels"], batch_size=8, shuffle=False,
          verbose=0)
np.savez(sys.argv[3], **state_of(model))
"""


# With the auxiliary classifier: every variable of the plain conditional
# model, and the classifier's too.
@pytest.mark.parametrize("auxiliary_classifier", [True])
def test_save_and_resume_in_a_fresh_process_equal_straight_training(
    tmp_path, auxiliary_classifier
):
    from helpers import state_of

    images, labels = labelled(32)
    model = conditional_dcgan(
        seed=2, ema_decay=0.9, auxiliary_classifier=auxiliary_classifier
    )
    model.compile()
    model.save(tmp_path / "initial.keras")
    model.fit(images[:16], labels[:16], batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "half.keras")
    np.savez(tmp_path / "data.npz", images=images[16:], labels=labels[16:])
    run_python(
        RESUME,
        args=[
            str(tmp_path / "half.keras"),
            str(tmp_path / "data.npz"),
            str(tmp_path / "resumed.npz"),
        ],
    )
    resumed = dict(np.load(tmp_path / "resumed.npz"))
    straight = keras.saving.load_model(tmp_path / "initial.keras")
    straight.fit(images, labels, batch_size=8, shuffle=False, verbose=0)
    expected = state_of(straight)
    assert set(expected) == set(resumed)
    for name, value in expected.items():
        np.testing.assert_allclose(
            resumed[name], value, atol=1e-6, err_msg=name
        )


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """`train --conditional --auxiliary-classifier --label-input channels
    --ema-decay` on a folder of two classes of PNGs."""
    from helpers import train_command
    from PIL import Image

    root = tmp_path_factory.mktemp("classes")
    rng = np.random.default_rng(0)
    for name, level in (("circles", 40), ("squares", 220)):
        (root / "images" / name).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(rng.normal(level, 20, (16, 16, 3)), 0, 255)
            Image.fromarray(pixels.astype("uint8")).save(
                root / "images" / name / f"{i}.png"
            )
    run_dir = root / "run"
    train_command(
        run_dir,
        *["--data", str(root / "images"), "--conditional"],
        *["--auxiliary-classifier", "--label-input", "channels"],
        *["--ema-decay", "0.9"],
        dataset="folder",
    )
    return run_dir


def test_command_trains_a_conditional_model_with_an_average(conditional_run):
    model = keras.saving.load_model(conditional_run / "model.keras")
    assert model.num_classes == 2
    assert model.class_names == ["circles", "squares"]
    assert model.ema_decay == 0.9
    assert model.auxiliary_classifier
    assert model.discriminator.get_layer("label_maps")
    assert int(keras.ops.convert_to_numpy(model.ema_updates)) == 2


@pytest.mark.parametrize(
    "flags", [["--auxiliary-classifier"], ["--label-input", "channels"]]
)
def test_discriminator_flags_need_conditional(flags, tmp_path, capsys):
    from keras_dcgan import cli

    code = cli.main(
        ["train", "--dataset", "fake", "--dry-run", *flags]
        + ["--output-dir", str(tmp_path / "run")]
    )
    assert code == 2
    assert f"{flags[0]} only applies to --conditional" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "run").exists()


def test_sample_label_draws_one_class(conditional_run, tmp_path):
    from PIL import Image

    from keras_dcgan import cli

    model = keras.saving.load_model(conditional_run / "model.keras")
    for label in ("squares", "1", "SQUARES"):
        code = cli.main(
            ["sample", "--model", str(conditional_run / "model.keras")]
            + ["--label", label, "--num-images", "3", "--seed", "4"]
            + ["--output-dir", str(tmp_path / label)]
        )
        assert code == 0
        written = np.stack(
            [
                np.asarray(Image.open(tmp_path / label / f"sample_{i:04d}.png"))
                for i in range(3)
            ]
        )
        expected = model.generate(3, seed=4, labels=[1, 1, 1])
        expected = np.rint((expected + 1.0) * 127.5)
        assert np.abs(written.astype(float) - expected).max() <= 1


@pytest.mark.parametrize(
    "label, message",
    [
        ("triangles", r"class name \(circles, squares\)"),
        ("2", r"class index in \[0, 2\)"),
    ],
)
def test_sample_label_mistakes_exit_2(conditional_run, label, message, capsys):
    from keras_dcgan import cli

    code = cli.main(
        ["sample", "--model", str(conditional_run / "model.keras")]
        + ["--label", label]
    )
    assert code == 2
    assert re.search(message, capsys.readouterr().err)


def test_sample_label_needs_a_conditional_model(tmp_path, capsys):
    from keras_dcgan import cli

    model = tiny_dcgan()
    model.save(tmp_path / "plain.keras")
    code = cli.main(
        ["sample", "--model", str(tmp_path / "plain.keras"), "--label", "0"]
    )
    assert code == 2
    assert "--label needs a class-conditional model" in capsys.readouterr().err


def test_train_run_resumes_a_conditional_run_exactly(tmp_path):
    from helpers import weights_of

    from keras_dcgan import runs

    recipe = recipes.get_recipe(
        "d2l",
        image_size=16,
        filters=4,
        latent_dim=LATENT_DIM,
        batch_size=8,
        epochs=2,
        num_classes=CLASSES,
        ema_decay=0.9,
    )
    images, labels = labelled(24)
    quiet = dict(verbose=0, print_fn=lambda *a: None, tensorboard=False)
    straight = runs.train_run(
        tmp_path / "straight", images, recipe, labels=labels, **quiet
    )
    runs.train_run(
        tmp_path / "cut",
        images,
        recipe.replace(epochs=1),
        labels=labels,
        **quiet,
    )
    resumed = runs.train_run(
        tmp_path / "cut",
        images,
        recipe,
        labels=labels,
        resume=True,
        **quiet,
    )
    for value, expected in zip(
        weights_of(resumed["model"]), weights_of(straight["model"])
    ):
        np.testing.assert_allclose(value, expected, atol=1e-6)
    with pytest.raises(ValueError, match="needs `labels`"):
        runs.train_run(tmp_path / "unlabelled", images, recipe, **quiet)
    with pytest.raises(ValueError, match=r"24 integers in \[0, 3\)"):
        runs.train_run(
            tmp_path / "wrong", images, recipe, labels=labels + 1, **quiet
        )


def test_average_statistics_are_measured_on_uniformly_drawn_labels():
    model = conditional_dcgan(ema_decay=0.9)
    model.compile()
    images, labels = labelled()
    model.fit(images, labels, batch_size=8, verbose=0)
    model.recompute_ema_statistics(num_images=12, batch_size=12)
    average = model.ema_generator
    noise = keras_dcgan.noise.fixed_noise(12, LATENT_DIM, seed=0)
    drawn = np.random.default_rng([0, 2]).integers(0, CLASSES, 12)
    code = average.get_layer("label_embedding")(drawn.astype("int32"))
    inputs = keras.ops.concatenate(
        [noise, keras.ops.convert_to_numpy(code)], axis=-1
    )
    block = average.get_layer("block_0")
    activations = keras.ops.convert_to_numpy(
        block.conv(keras.ops.reshape(inputs, (12, 1, 1, -1)))
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block.batch_norm.moving_mean),
        activations.mean(axis=(0, 1, 2)),
        rtol=1e-4,
        atol=1e-6,
    )
