"""`keras-dcgan export`: write the sampling generator as SavedModel, ONNX
or LiteRT (see `keras_dcgan.export`)."""

from keras_dcgan.cli.common import (
    UsageError,
    add_common_options,
    add_model_source,
    load_source,
)


def add_parser(subparsers):
    """Adds `export` to the command's subparsers."""
    from keras_dcgan.export import FORMATS

    export = subparsers.add_parser(
        "export",
        help="write the generator as a SavedModel, ONNX or LiteRT file",
        description="Write the generator that `sample` draws with (the "
        "moving average, where the model keeps one) for inference outside "
        "Keras: inputs `noise` float32 (batch, latent_dim) and, for a "
        "class-conditional model, `labels` int32 (batch,); output `images` "
        "float32 (batch, height, width, channels) in [-1, 1].",
    )
    add_model_source(export)
    export.add_argument(
        "--format",
        choices=FORMATS,
        required=True,
        help="saved_model (TensorFlow, JAX), onnx (TensorFlow, PyTorch), "
        "litert (TensorFlow)",
    )
    export.add_argument(
        "--output",
        metavar="PATH",
        required=True,
        help="a folder for saved_model, a .onnx or .tflite file",
    )
    add_common_options(export)
    export.set_defaults(run=run)
    return export


def run(args):
    """Runs `export` with parsed arguments; returns the exit status."""
    from keras_dcgan import export

    try:
        export.check_format(args.format)
        export.check_runtime(args.format)
    except ImportError as error:
        raise UsageError(str(error)) from None
    export.check_path(args.output, args.format)
    model = load_source(args)
    model.export_generator(args.output, format=args.format)
    signature = export.describe(args.output, args.format)
    which = "generator"
    if model.ema_generator is not None:
        which = "generator's moving average (ema_generator)"
    print(
        f"Wrote the {which} as {export.NAMES[args.format]} to "
        f"{args.output} ({_megabytes(signature['size'])})"
    )
    for kind, tensors in (
        ("input", signature["inputs"]),
        ("output", signature["outputs"]),
    ):
        for name, shape, dtype in tensors:
            note = _NOTES.get(name, "").format(model=model)
            print(f"  {kind:6} {name:8} {dtype:8} {_shape(shape):22} {note}")
    return 0


_NOTES = {
    "noise": "standard normal",
    "labels": "class indices in [0, {model.num_classes})",
    "images": "in [-1, 1]",
}


def _shape(shape):
    dims = ["batch" if dim is None else str(dim) for dim in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _megabytes(size):
    return f"{size / 1e6:.2f} MB"
