"""`keras_dcgan.export` and `keras-dcgan export`: each format the active
backend exports is loaded back by its own runtime in a fresh process."""

import json

import keras
import numpy as np
import pytest
from helpers import run_python, tiny_dcgan
from test_cli import run_command
from test_conditional import CLASSES, conditional_dcgan

from keras_dcgan import cli, export

BACKEND = keras.backend.backend()
EXPORTED = [f for f in export.FORMATS if BACKEND in export.SUPPORTED[f]]
REFUSED = [f for f in export.FORMATS if f not in EXPORTED]
OUTPUTS = {"saved_model": "sm", "onnx": "g.onnx", "litert": "g.tflite"}

# Each runtime's three lines, as docs/deploy.md gives them: `load(path)`
# returns a function of NumPy inputs that returns the images.
RUNTIMES = {
    "saved_model": """
import tensorflow as tf
def load(path):
    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda **x: serve(
        **{k: tf.constant(v) for k, v in x.items()})["images"].numpy()
""",
    "onnx": """
import onnxruntime as ort
def load(path):
    session = ort.InferenceSession(path)
    return lambda **x: session.run(["images"], x)[0]
""",
    "litert": """
from ai_edge_litert.interpreter import Interpreter
def load(path):
    runner = Interpreter(model_path=path).get_signature_runner()
    return lambda **x: runner(**x)["images"]
""",
}
RUN = """
import json, sys
import numpy as np
cases = json.loads(sys.argv[1])
for path, inputs, outputs in cases:
    generate = load(path)
    with np.load(inputs) as feeds:
        np.save(outputs, generate(**dict(feeds)))
"""
RUNTIME_MODULES = {
    "saved_model": "tensorflow",
    "onnx": "onnxruntime",
    "litert": "ai_edge_litert",
}


def with_bold_average(model):
    """`model`, its moving average unlike its generator, with images that
    span [-1, 1] (the initial weights give images near 0)."""
    for variable in model.ema_generator.weights:
        if variable.path.endswith("kernel"):
            variable.assign(variable * 30.0)
    return model


def needs(format):
    pytest.importorskip(RUNTIME_MODULES[format])
    for module in export.EXPORTERS.get((format, BACKEND), ()):
        pytest.importorskip(module)


@pytest.fixture(scope="module")
def models():
    return {
        "plain": with_bold_average(tiny_dcgan(ema_decay=0.99)),
        # Conditional BatchNormalization: labels reach every block.
        "conditional": with_bold_average(
            conditional_dcgan(conditional_batch_norm=True, ema_decay=0.99)
        ),
    }


@pytest.mark.parametrize("format", EXPORTED)
def test_export_runs_in_its_runtime_like_generate(format, models, tmp_path):
    """Unconditional and conditional models, at two batch sizes, in one
    fresh process with the format's runtime and without Keras."""
    needs(format)
    rng = np.random.default_rng(0)
    cases, expected = [], []
    for kind, model in models.items():
        path = str(tmp_path / f"{kind}_{OUTPUTS[format]}")
        assert model.export_generator(path, format=format) == path
        signature = export.describe(path, format)
        names = ["noise"] + (["labels"] if model.num_classes else [])
        assert [name for name, _, _ in signature["inputs"]] == sorted(names)
        shape = (None,) + model.image_shape
        assert signature["outputs"] == [("images", shape, "float32")]
        assert signature["size"] > 0
        for batch in (1, 5):  # The batch size is dynamic.
            feeds = {"noise": rng.standard_normal((batch, 8), "float32")}
            if model.num_classes:
                labels = rng.integers(0, CLASSES, batch).astype("int32")
                feeds["labels"] = labels
            images = model.generate_from_noise(**feeds)
            trained = model.generate_from_noise(**feeds, use_ema=False)
            assert np.abs(images).max() > 0.5
            assert np.abs(images - trained).max() > 0.1  # The EMA's images.
            inputs = str(tmp_path / f"{kind}_{batch}_in.npz")
            np.savez(inputs, **feeds)
            outputs = str(tmp_path / f"{kind}_{batch}_out.npy")
            cases.append((path, inputs, outputs))
            expected.append(images)
    run_python(RUNTIMES[format] + RUN, args=[json.dumps(cases)])
    for (_, _, outputs), images in zip(cases, expected):
        received = np.load(outputs)
        assert received.dtype == np.float32
        np.testing.assert_allclose(received, images, atol=1e-3)


def test_command_exports_and_prints_the_signature(models, tmp_path):
    format = EXPORTED[0]
    needs(format)
    model_path = str(tmp_path / "model.keras")
    models["conditional"].save(model_path)
    output = str(tmp_path / OUTPUTS[format])
    result = run_command(
        ["export", "--model", model_path, "--format", format]
        + ["--output", output]
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "Wrote the generator's moving average (ema_generator) as "
    )
    assert lines[0].endswith(" MB)") and output in lines[0]
    assert lines[1:] == [
        "  input  labels   int32    (batch,)               class indices "
        "in [0, 3)",
        "  input  noise    float32  (batch, 8)             standard normal",
        "  output images   float32  (batch, 16, 16, 1)     in [-1, 1]",
    ]


@pytest.mark.parametrize("format", REFUSED or [None])
def test_command_refuses_a_format_this_backend_cannot_export(
    format, capsys, tmp_path
):
    """One line, exit 2, before any model is loaded."""
    if format is None:
        pytest.skip(f"{BACKEND} exports every format")
    output = str(tmp_path / OUTPUTS[format])
    status = cli.main(
        ["export", "--model", "absent.keras", "--format", format]
        + ["--output", output]
    )
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"keras-dcgan: error: format={format} is exported")
    assert err.endswith(f"Received: backend={BACKEND}")
    assert "--backend tensorflow" in err


def test_refusals_name_the_backends_that_export():
    for format in export.FORMATS:
        for backend in ("tensorflow", "jax", "torch"):
            if backend in export.SUPPORTED[format]:
                continue
            with pytest.raises(ValueError, match="tensorflow") as error:
                export.check_format(format, backend)
            assert f"Received: backend={backend}" in str(error.value)
    with pytest.raises(ValueError, match="Received: format='tflite'"):
        export.check_format("tflite")


def test_missing_runtime_names_the_extra(monkeypatch, capsys, tmp_path):
    hidden = ("onnx", "ai_edge_litert")
    find_spec = export.importlib.util.find_spec
    monkeypatch.setattr(
        export.importlib.util,
        "find_spec",
        lambda name, *a: None if name in hidden else find_spec(name, *a),
    )
    for format, module in (("onnx", "onnx"), ("litert", "ai_edge_litert")):
        with pytest.raises(ImportError) as error:
            export.check_runtime(format)
        assert str(error.value) == (
            f"format={format} needs {module}, which is not installed: "
            'pip install "keras-dcgan[export]"'
        )
    # The command: one line, exit 2 (JAX exports neither format).
    for format in [f for f in EXPORTED if f != "saved_model"][-1:]:
        status = cli.main(
            ["export", "--model", "absent.keras", "--format", format]
            + ["--output", str(tmp_path / OUTPUTS[format])]
        )
        assert status == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert err.startswith(f"keras-dcgan: error: format={format} needs ")
        assert err.endswith('pip install "keras-dcgan[export]"')


def test_output_path_must_fit_the_format(models, tmp_path):
    with pytest.raises(ValueError, match=r"must end with '\.tflite'"):
        export.check_path(str(tmp_path / "g.onnx"), "litert")
    with pytest.raises(ValueError, match=r"must end with '\.onnx'"):
        export.check_path(str(tmp_path / "g"), "onnx")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="a file is in the way"):
        export.check_path(str(tmp_path / "file"), "saved_model")
