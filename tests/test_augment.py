import json

import keras
import numpy as np
import pytest
from helpers import (
    IMAGE_SHAPE,
    NEXT_BACKEND,
    TINY,
    dtype_policy,
    fake_images,
    gradients,
    run_command,
    run_python,
    state_of,
    tiny_dcgan,
    tiny_recipe,
)

from keras_dcgan import augment, cli

BATCH = 4


def numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


@pytest.mark.parametrize("policy", ["color", "translation", "cutout"])
def test_probability_zero_is_the_identity(policy):
    images = fake_images(8)
    layer = augment.DiffAugment(policy, probability=0.0, seed=1)
    np.testing.assert_array_equal(numpy(layer(images)), images)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout"])
def test_each_operation_changes_every_image_at_probability_one(policy):
    images = fake_images(8)
    out = numpy(augment.DiffAugment(policy, seed=1)(images))
    assert out.shape == images.shape
    changed = np.abs(out - images).reshape(8, -1).max(axis=1)
    assert np.all(changed > 1e-3)


def test_translation_shifts_whole_pixels_and_fills_zeros():
    images = np.ones((16, 16, 16, 1), "float32")
    out = numpy(augment.DiffAugment("translation", seed=0)(images))
    assert set(np.unique(out)) <= {0.0, 1.0}
    # A shift of at most 2 pixels (1/8 of 16) on each side.
    assert np.all(out[:, 2:-2, 2:-2] == 1.0)
    assert (out == 0).any()


def test_cutout_zeroes_at_most_a_half_side_square():
    images = np.ones((16, 16, 16, 3), "float32")
    out = numpy(augment.DiffAugment("cutout", seed=0)(images))
    zeros = (out == 0).all(axis=-1).sum(axis=(1, 2))
    assert np.all(zeros <= 8 * 8) and np.all(zeros > 0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_keeps_shape_and_dtype(dtype):
    images = keras.ops.cast(fake_images(4), dtype)
    out = augment.DiffAugment(seed=0)(images)
    assert tuple(out.shape) == (4,) + IMAGE_SHAPE
    assert keras.backend.standardize_dtype(out.dtype) == dtype


def test_mixed_precision_policy_keeps_the_images_dtype():
    with dtype_policy("mixed_bfloat16"):
        layer = augment.AdaptiveAugment(seed=0)
    out = layer(fake_images(4))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_trains_under_mixed_bfloat16():
    with dtype_policy("mixed_bfloat16"):
        model = ada_model(seed=1)
        model.compile()
        history = model.fit(
            fake_images(2 * BATCH), batch_size=BATCH, verbose=0
        ).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert model.augment.p.dtype == "float32"


def test_gradient_with_respect_to_the_images_is_finite_and_nonzero():
    _, (image_gradient,) = gradients(
        augment.DiffAugment(seed=0), fake_images(4)
    )
    assert np.all(np.isfinite(image_gradient))
    assert np.abs(image_gradient).sum() > 0


def test_same_seed_same_augmentation_and_draws_move_on():
    images = fake_images(4)
    first = augment.DiffAugment(seed=3)
    second = augment.DiffAugment(seed=3)
    a, b = numpy(first(images)), numpy(second(images))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(numpy(first(images)), a)


def test_config_round_trip_and_errors():
    layer = augment.AdaptiveAugment("color,cutout", target=0.5, seed=2)
    restored = augment.AdaptiveAugment.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert restored.policy == ("color", "cutout")
    with pytest.raises(ValueError, match="Unknown augmentation 'flip'"):
        augment.DiffAugment("color,flip")
    with pytest.raises(ValueError, match=r"`probability` must be .*\[0, 1\]"):
        augment.DiffAugment(probability=1.5)
    with pytest.raises(ValueError, match="`augment` must be one of"):
        augment.get("strong")


def test_adaptive_probability_follows_the_overfitting_signal():
    layer = augment.AdaptiveAugment(interval=2, speed=40, seed=0)
    confident = np.full((4, 1), 3.0, "float32")  # r_t = 1 > 0.6
    for _ in range(4):
        layer.update(confident)
    # Two adjustments of 8 images / 40.
    np.testing.assert_allclose(numpy(layer.p), 0.4, rtol=1e-6)
    np.testing.assert_allclose(numpy(layer.r_t), 1.0)
    unsure = np.array([[1.0], [-1.0], [-2.0], [0.5]], "float32")  # r_t = 0
    for _ in range(2):
        layer.update(unsure)
    np.testing.assert_allclose(numpy(layer.p), 0.2, rtol=1e-6)
    for _ in range(6):
        layer.update(unsure)
    assert float(numpy(layer.p)) == 0.0
    np.testing.assert_allclose(numpy(layer.r_t), 0.0)


def ada_model(seed=0, speed=40, mirror=True):
    return tiny_dcgan(
        seed=seed,
        augment=augment.AdaptiveAugment(interval=1, speed=speed, seed=seed),
        mirror=mirror,
    )


def test_adaptive_p_rises_when_the_discriminator_overfits_a_tiny_set():
    model = ada_model()
    model.compile()
    history = model.fit(
        fake_images(BATCH), batch_size=BATCH, epochs=15, verbose=0
    ).history
    assert {"aug_p", "r_t"} <= set(history)
    assert max(history["r_t"]) > 0.6
    assert max(history["aug_p"]) > 0
    assert float(numpy(model.augment.p)) == history["aug_p"][-1]


def test_generate_and_evaluate_are_not_augmented():
    plain, augmented = tiny_dcgan(seed=4), ada_model(seed=4)
    np.testing.assert_array_equal(
        plain.generate(3, seed=0), augmented.generate(3, seed=0)
    )


def test_augmentation_changes_training():
    data = fake_images(2 * BATCH, seed=1)
    results = []
    for aug in (None, "diffaugment"):
        model = tiny_dcgan(seed=2, augment=aug)
        model.compile()
        model.fit(data, batch_size=BATCH, shuffle=False, verbose=0)
        results.append(numpy(model.discriminator.weights[0]))
    assert not np.allclose(results[0], results[1])


WORKER = (
    """
import json, sys
import keras, numpy as np
from helpers import state_of

model_path, data_path, out_path = sys.argv[1:]
model = keras.saving.load_model(model_path)
model.fit(np.load(data_path), batch_size=%d, shuffle=False, verbose=0)
np.savez(out_path, **state_of(model))
print(json.dumps({"augment": type(model.augment).__name__,
                  "mirror": model.mirror}))
"""
    % BATCH
)


@pytest.mark.parametrize("other_backend", [False, True])
def test_saved_model_resumes_exactly_and_trains_on_other_backends(
    tmp_path, other_backend
):
    data = fake_images(4 * BATCH, seed=5)
    model = ada_model(seed=3)
    model.compile()
    model.fit(data[: 2 * BATCH], batch_size=BATCH, shuffle=False, verbose=0)
    model.save(tmp_path / "half.keras")
    model.fit(data[2 * BATCH :], batch_size=BATCH, shuffle=False, verbose=0)
    np.save(tmp_path / "data.npy", data[2 * BATCH :])
    if other_backend:
        report = run_python(
            WORKER,
            backend=NEXT_BACKEND[keras.backend.backend()],
            args=[
                str(tmp_path / "half.keras"),
                str(tmp_path / "data.npy"),
                str(tmp_path / "resumed.npz"),
            ],
        )
        restored = json.loads(report.splitlines()[-1])
        resumed = dict(np.load(tmp_path / "resumed.npz"))
    else:
        # The file alone carries the state: a fresh process would load the
        # same (tests/test_saving.py resumes a DCGAN in one).
        reloaded = keras.saving.load_model(tmp_path / "half.keras")
        reloaded.fit(
            data[2 * BATCH :], batch_size=BATCH, shuffle=False, verbose=0
        )
        restored = {
            "augment": type(reloaded.augment).__name__,
            "mirror": reloaded.mirror,
        }
        resumed = state_of(reloaded)
    assert restored == {"augment": "AdaptiveAugment", "mirror": True}
    straight = state_of(model)
    assert resumed.keys() == straight.keys()
    if other_backend:
        # Other kernels: the same training, not the same bits.
        for name in ("augment/steps", "mirror", "noise"):
            np.testing.assert_array_equal(resumed[name], straight[name])
        return
    for name, value in straight.items():
        np.testing.assert_allclose(
            resumed[name], value, atol=1e-6, err_msg=name
        )


def test_recipe_builds_the_named_augmentation():
    model = tiny_recipe(augment="ada", mirror=True).build(seed=0)
    assert isinstance(model.augment, augment.AdaptiveAugment)
    assert model.mirror
    assert tiny_recipe().build(seed=0).augment is None
    with pytest.raises(ValueError, match="`augment` must be one of"):
        tiny_recipe(augment="ADA")


def test_command_trains_with_ada_and_mirror_and_keeps_them_on_resume(
    tmp_path, capsys
):
    run_dir = tmp_path / "run"
    args = ["train", "--dataset", "fake", "--dry-run", *TINY]
    args += ["--augment", "ada", "--mirror", "--upsampling", "nearest"]
    result = run_command(args + ["--output-dir", str(run_dir)])
    assert result.returncode == 0, result.stderr
    config = json.loads((run_dir / "checkpoint.json").read_text())["config"]
    assert (config["augment"], config["mirror"]) == ("ada", True)
    assert config["upsampling"] == "nearest"
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.generator.get_layer("block_1").upsampling == "nearest"
    header = (run_dir / "history.csv").read_text().splitlines()[0]
    assert "aug_p" in header.split(",") and "r_t" in header.split(",")
    assert "Adaptive augmentation" in (run_dir / "report.html").read_text()
    code = cli.main(
        ["train", "--resume", "--output-dir", str(run_dir), "--epochs", "2"]
        + ["--augment", "none", "--force"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "different architecture" in err
    assert "augment='none' (run: 'ada')" in err
