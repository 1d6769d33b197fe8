"""Exporting a DCGAN's sampling generator: SavedModel, ONNX or LiteRT.

`export_generator(model, path, format)` writes the generator that
`model.generate()` samples with (`model.ema_generator` when the model keeps
one, else `model.generator`) as a file that runs without keras-dcgan or
Keras, through `keras.Model.export`. What is exported:

- inputs: `noise`, float32 `(batch, latent_dim)`, standard normal noise
  (flat: the `(1, 1, latent_dim)` shape the generator takes is made inside
  the file); with a class-conditional model also `labels`, int32
  `(batch,)`, class indices in `[0, num_classes)`;
- output: `images`, float32 `(batch, height, width, channels)` in [-1, 1];
- inference mode (BatchNormalization's moving statistics), and a dynamic
  batch size in every format.

Which backend exports which format (`SUPPORTED`): TensorFlow all three;
JAX `saved_model` (through jax2tf); PyTorch `onnx`. TensorFlow is always
installed with keras-dcgan and the files do not depend on the backend that
wrote them, so `--backend tensorflow` exports any format. `describe(path,
format)` reads an exported file's signature back with its own runtime.
"""

import contextlib
import importlib.util
import os

import keras
import numpy as np

FORMATS = ("saved_model", "onnx", "litert")
KERAS_FORMATS = {
    "saved_model": "tf_saved_model",
    "onnx": "onnx",
    "litert": "litert",
}
SUPPORTED = {
    "saved_model": ("tensorflow", "jax"),
    "onnx": ("tensorflow", "torch"),
    "litert": ("tensorflow",),
}
# Why the other pairs are refused, in a few words.
_REFUSALS = {
    ("saved_model", "torch"): "Keras exports a SavedModel from PyTorch "
    "only through torch_xla",
    ("onnx", "jax"): "jax2onnx does not convert keras-dcgan's JAX convolutions",
    ("litert", "jax"): "Keras has no LiteRT exporter for JAX",
    ("litert", "torch"): "Keras needs litert-torch for it, which fixes the "
    "batch size",
}
# The modules each export needs beyond the backend, and the runtime that
# `describe` reads the file with.
EXPORTERS = {
    ("onnx", "tensorflow"): ("tf2onnx", "onnx"),
    ("onnx", "torch"): ("onnx",),
}
RUNTIMES = {
    "saved_model": ("tensorflow",),
    "onnx": ("onnx",),
    "litert": ("ai_edge_litert",),
}
INSTALL = 'pip install "keras-dcgan[export]"'
SUFFIXES = {"onnx": ".onnx", "litert": ".tflite"}
NAMES = {"saved_model": "a SavedModel", "onnx": "ONNX", "litert": "LiteRT"}


def check_format(format, backend=None):
    """Checks that the backend can export `format`; raises ValueError.

    Args:
        format: one of `FORMATS`.
        backend: a Keras backend name. Defaults to the active backend.
    """
    backend = backend or keras.backend.backend()
    if format not in FORMATS:
        raise ValueError(
            f"`format` must be one of {', '.join(FORMATS)}. "
            f"Received: format={format!r}"
        )
    if backend not in SUPPORTED[format]:
        exporters = " or ".join(SUPPORTED[format])
        reason = _REFUSALS.get((format, backend), "Keras cannot")
        raise ValueError(
            f"format={format} is exported on the {exporters} backend: "
            f"{reason}. TensorFlow is always installed with keras-dcgan: "
            "export with --backend tensorflow (or KERAS_BACKEND=tensorflow). "
            f"Received: backend={backend}"
        )
    _require(EXPORTERS.get((format, backend), ()), format)


def check_runtime(format):
    """Checks that the runtime `describe` reads `format` with is installed;
    raises ImportError."""
    _require(RUNTIMES[format], format)


def _require(modules, format):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"format={format} needs {', '.join(missing)}, which is not "
            f"installed: {INSTALL}"
        )


def check_path(path, format):
    """Checks the output path's suffix; raises ValueError."""
    path = os.fspath(path)
    suffix = SUFFIXES.get(format)
    if suffix and not path.endswith(suffix):
        raise ValueError(
            f"With format={format}, the output path must end with "
            f"{suffix!r}. Received: path={path}"
        )
    if not suffix and os.path.isfile(path):
        raise ValueError(
            "With format=saved_model, the output path is a folder, and a "
            f"file is in the way. Received: path={path}"
        )


def sampler(model):
    """The sampling generator as a `keras.Model` of flat noise (and labels).

    Its inputs are `noise` `(batch, latent_dim)` float32 and, for a
    class-conditional model, `labels` `(batch,)` int32; its output is
    `{"images": ...}`, float32 in [-1, 1]. It shares the generator's
    weights and runs it in inference mode.
    """
    network = model.sampling_generator()
    noise = keras.Input((model.latent_dim,), name="noise")
    inputs = keras.layers.Reshape(model.noise_shape, name="noise_shape")(noise)
    if model.num_classes is not None:
        labels = keras.Input((), dtype="int32", name="labels")
        images = network([inputs, labels], training=False)
        noise = [noise, labels]
    else:
        images = network(inputs, training=False)
    return keras.Model(noise, {"images": images}, name="sampler")


def input_signature(model):
    """The exported inputs as `keras.InputSpec`s, with a dynamic batch."""
    specs = [
        keras.InputSpec(
            shape=(None, model.latent_dim), dtype="float32", name="noise"
        )
    ]
    if model.num_classes is not None:
        specs.append(
            keras.InputSpec(shape=(None,), dtype="int32", name="labels")
        )
        return [specs]  # One argument, a list of two tensors.
    return specs


def export_generator(model, path, format="saved_model"):
    """Exports `model`'s sampling generator for inference (see the module).

    Args:
        model: a `keras_dcgan.DCGAN`.
        path: the output: a folder for `"saved_model"`, a `.onnx` file for
            `"onnx"`, a `.tflite` file for `"litert"`.
        format: `"saved_model"`, `"onnx"` or `"litert"`. Defaults to
            `"saved_model"`.

    Returns:
        `path`, as a string.
    """
    path = os.fspath(path)
    check_format(format)
    check_path(path, format)
    network = sampler(model)
    with _quiet():
        network.export(
            path,
            format=KERAS_FORMATS[format],
            input_signature=input_signature(model),
            verbose=False,
        )
    if format == "onnx":
        _name_onnx_output(path, "images")
    return path


@contextlib.contextmanager
def _quiet():
    """Keeps the converters' Python warnings and log lines off the screen."""
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in ("tf2onnx", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _name_onnx_output(path, name):
    """Renames the ONNX graph's one output (tf2onnx and torch number it)."""
    import onnx

    graph_model = onnx.load(path)
    graph = graph_model.graph
    old = graph.output[0].name
    if old == name:
        return
    for node in graph.node:
        for i, output in enumerate(node.output):
            if output == old:
                node.output[i] = name
        for i, input_ in enumerate(node.input):
            if input_ == old:
                node.input[i] = name
    graph.output[0].name = name
    onnx.save(graph_model, path)


def describe(path, format):
    """An exported file's signature, read back with its own runtime.

    Args:
        path: the exported file or folder.
        format: `"saved_model"`, `"onnx"` or `"litert"`.

    Returns:
        A dict: `inputs` and `outputs`, lists of `(name, shape, dtype)`
        with `None` for a dynamic dimension, and `size`, the bytes on disk.
    """
    check_runtime(format)
    if format == "saved_model":
        import tensorflow as tf

        with _quiet():  # JAX's files warn of gradients they do not keep.
            loaded = tf.saved_model.load(path)
        function = loaded.signatures["serving_default"]
        _, inputs = function.structured_input_signature
        outputs = function.structured_outputs
        inputs, outputs = (
            [
                (name, tuple(spec.shape.as_list()), spec.dtype.name)
                for name, spec in sorted(specs.items())
            ]
            for specs in (inputs, outputs)
        )
    elif format == "onnx":
        import onnx

        graph = onnx.load(path).graph
        inputs, outputs = (
            [
                (
                    value.name,
                    tuple(
                        dim.dim_value if dim.HasField("dim_value") else None
                        for dim in value.type.tensor_type.shape.dim
                    ),
                    np.dtype(
                        onnx.helper.tensor_dtype_to_np_dtype(
                            value.type.tensor_type.elem_type
                        )
                    ).name,
                )
                for value in sorted(values, key=lambda value: value.name)
            ]
            for values in (graph.input, graph.output)
        )
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=path)
        runner = interpreter.get_signature_runner()
        inputs, outputs = (
            [
                (
                    name,
                    tuple(None if d < 0 else int(d) for d in detail[key]),
                    np.dtype(detail["dtype"]).name,
                )
                for name, detail in sorted(details.items())
                for key in ["shape_signature"]
            ]
            for details in (
                runner.get_input_details(),
                runner.get_output_details(),
            )
        )
    return {"inputs": inputs, "outputs": outputs, "size": _size(path)}


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(path)
        for name in names
    )
