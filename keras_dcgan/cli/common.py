"""What the subcommands share: the user-error type, argument types, the
`--backend` and `--verbose` options, and the one model loader.

Only the standard library is imported at the top: the start-up code imports
this package before Keras.
"""

import argparse
import os

PROG = "keras-dcgan"
BACKENDS = ("tensorflow", "jax", "torch")


class UsageError(Exception):
    """A user mistake: reported as one line on stderr, with exit code 2."""

    def __init__(self, message):
        super().__init__(f"{PROG}: error: {message}")


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose mistakes raise `UsageError`."""

    def error(self, message):
        raise UsageError(message)


def positive(cast, kind):
    """An argparse type: `cast(text)`, which must be greater than 0."""

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a positive {kind}. Received: {text!r}"
            ) from None
        if not value > 0:
            raise argparse.ArgumentTypeError(
                f"must be a positive {kind}. Received: {value}"
            )
        return value

    return parse


positive_int = positive(int, "integer")
positive_float = positive(float, "number")


def add_common_options(parser):
    """Adds `--backend` and `--verbose` to a subcommand's parser."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (sets KERAS_BACKEND before Keras is imported).",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's C++ start-up log lines (hidden by default, "
        "or set TF_CPP_MIN_LOG_LEVEL yourself)",
    )


def add_model_source(parser):
    """Adds the required choice of `--model PATH` or `--preset NAME`."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model", metavar="PATH", help=".keras file or run folder"
    )
    source.add_argument(
        "--preset",
        metavar="NAME",
        help="a shipped trained model (see `keras-dcgan presets`), a preset "
        "folder or a URL",
    )


def load_source(args):
    """The `DCGAN` that `add_model_source`'s `--preset` or `--model` names."""
    if args.preset:
        from keras_dcgan.dcgan import DCGAN

        return DCGAN.from_preset(args.preset, compile=False)
    return load_model(args.model)


def load_model(path, flag="--model", generator_ok=False):
    """Loads a saved `keras_dcgan.DCGAN` from a `.keras` file or run folder.

    Args:
        path: a `.keras` file, or a run folder (its final `model.keras`, or
            else its last checkpoint).
        flag: the option that named `path`, for error messages.
        generator_ok: also accept a saved generator alone, a model whose
            output is a batch of images.

    Returns:
        The loaded model.
    """
    from keras_dcgan import checkpoints, runs
    from keras_dcgan.dcgan import DCGAN

    if os.path.isdir(path):
        final = os.path.join(path, runs.MODEL_FILE)
        record = checkpoints.read_checkpoint(path)
        if os.path.isfile(final):
            path = final
        elif record:
            path = os.path.join(path, record["model"])
    if not os.path.isfile(path):
        raise UsageError(
            f"{flag} must be a .keras file or a run folder. "
            f"Received: {flag}={path}"
        )
    try:
        model = checkpoints.load_model(path)
    except ValueError as error:  # Any unreadable file is a user mistake.
        raise UsageError(
            f"{flag} must be a .keras file saved from a keras_dcgan.DCGAN; "
            f"it could not be loaded: {error}"
        ) from None
    if isinstance(model, DCGAN):
        return model
    if generator_ok and len(getattr(model, "output_shape", ()) or ()) == 4:
        return model
    what = "DCGAN or a generator of images" if generator_ok else "DCGAN"
    raise UsageError(
        f"{flag} must be a keras_dcgan.{what}; the file holds a "
        f"{type(model).__name__}. Received: {flag}={path}"
    )
