import json

import keras
import numpy as np
import pytest
from helpers import (
    NEXT_BACKEND,
    fake_images,
    run_python,
    state_of,
    tiny_dcgan,
)

BATCH = 4

# Loads a model in a fresh process, reports what was restored, trains on
# `data` and saves its weights. Arguments: model file, data file, output.
WORKER = (
    """
import json, sys
import keras, numpy as np
import keras_dcgan
from helpers import state_of

model_path, data_path, out_path = sys.argv[1:]
model = keras.saving.load_model(model_path)
np.savez(out_path + ".loaded.npz", **state_of(model))
model.fit(np.load(data_path), batch_size=%d, shuffle=False, verbose=0)
np.savez(out_path, **state_of(model))
print(json.dumps({"backend": keras.backend.backend(),
                  "type": type(model).__name__,
                  "d_iterations": int(model.d_optimizer.iterations)}))
"""
    % BATCH
)


def continue_in_fresh_process(model_path, data, tmp_path, backend=None):
    data_path = tmp_path / "data.npy"
    np.save(data_path, data)
    out = tmp_path / f"{backend or 'same'}.npz"
    report = run_python(
        WORKER + "\n",
        backend=backend,
        args=[str(model_path), str(data_path), str(out)],
    )
    loaded = dict(np.load(str(out) + ".loaded.npz"))
    return json.loads(report.splitlines()[-1]), loaded, dict(np.load(out))


@pytest.fixture(params=[None, 0.9], ids=["plain", "ema"])
def trained_twice(tmp_path, request):
    """A model file after 2 steps, and the data for 2 more."""
    data = fake_images(4 * BATCH, seed=5)
    model = tiny_dcgan(seed=3, ema_decay=request.param)
    model.compile()
    model.save(tmp_path / "initial.keras")
    model.fit(data[: 2 * BATCH], batch_size=BATCH, shuffle=False, verbose=0)
    model.save(tmp_path / "two_steps.keras")
    return model, data


def test_resume_in_fresh_process_equals_straight_training(
    trained_twice, tmp_path
):
    model, data = trained_twice
    report, loaded, resumed = continue_in_fresh_process(
        tmp_path / "two_steps.keras", data[2 * BATCH :], tmp_path
    )
    assert report["type"] == "DCGAN" and report["d_iterations"] == 4
    # Both networks, both optimizers and the noise generator are restored.
    expected = state_of(model)
    assert set(expected) <= set(loaded)
    for name, value in expected.items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)

    straight = keras.saving.load_model(tmp_path / "initial.keras")
    straight.fit(data, batch_size=BATCH, shuffle=False, verbose=0)
    straight_state = state_of(straight)
    assert set(straight_state) == set(resumed)
    for name, value in straight_state.items():
        np.testing.assert_allclose(
            resumed[name], value, atol=1e-6, err_msg=name
        )


def test_file_trains_on_another_backend(trained_twice, tmp_path):
    other = NEXT_BACKEND[keras.backend.backend()]
    model, data = trained_twice
    report, loaded, after = continue_in_fresh_process(
        tmp_path / "two_steps.keras", data[2 * BATCH :], tmp_path, other
    )
    assert report["backend"] == other and report["d_iterations"] == 4
    for name, value in state_of(model).items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)
    kernels = [name for name in after if name.endswith("kernel")]
    # 3 per network at 16x16: generator, discriminator, any EMA generator.
    assert len(kernels) == 6 + 3 * (model.ema_generator is not None)
    for name in kernels:
        assert np.all(np.isfinite(after[name]))
        assert not np.array_equal(after[name], loaded[name]), name


def test_reloaded_model_keeps_its_compile_configuration(tmp_path):
    model = tiny_dcgan()
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5),
    )
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.compiled
    np.testing.assert_allclose(float(loaded.d_optimizer.learning_rate), 1e-3)
    np.testing.assert_allclose(float(loaded.g_optimizer.learning_rate), 2e-3)
    assert loaded.latent_dim == model.latent_dim
    noise = np.zeros((2, model.latent_dim), "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(noise)),
        keras.ops.convert_to_numpy(model(noise)),
        atol=1e-6,
    )
