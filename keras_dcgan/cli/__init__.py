"""The `keras-dcgan` command: train, sample, export, demo, evaluate, presets,
report, info.

```
keras-dcgan train                          # the Pokemon data, downloaded once
keras-dcgan train --data pokemon.zip --epochs 40
keras-dcgan train --dataset fake --dry-run --output-dir /tmp/run
keras-dcgan train --resume --output-dir runs/20250101-120000
keras-dcgan presets                        # the shipped trained models
keras-dcgan sample --preset dcgan_pokemon_64 --num-images 64 --output a.png
keras-dcgan sample --model runs/20250101-120000 --output a.png
keras-dcgan export --preset dcgan_pokemon_64 --format onnx --output g.onnx
keras-dcgan demo --preset dcgan_pokemon_64  # a web page on 127.0.0.1
keras-dcgan evaluate --model runs/20250101-120000 --dataset pokemon
keras-dcgan report runs/20250101-120000
keras-dcgan info --backend jax
```

Each subcommand is a module here with `add_parser(subparsers)` and
`run(args)`; `common` holds the user-error type and the model loader.

`--backend` must take effect before Keras is imported. Importing the
package imports Keras with `KERAS_BACKEND` as it was; when `--backend`
names another backend, the command runs again in a fresh Python process
with `KERAS_BACKEND` set. On JAX the command opts in to XLA:CPU's faster
convolutions (`keras_dcgan.ops.jax.prefer_fast_cpu_convolutions`)
before JAX starts, as a library import never does. `startup` keeps
TensorFlow's C++ start-up lines off the screen. This module imports only
the standard library at the top, because `startup` is imported before
Keras.
"""

import argparse
import importlib.util
import os
import subprocess
import sys

from keras_dcgan.cli.common import BACKENDS, PROG, Parser, UsageError

__all__ = ["UsageError", "build_parser", "main"]


def build_parser():
    """The command's `argparse` parser."""
    from keras_dcgan.cli import (
        demo,
        evaluate,
        export,
        info,
        presets,
        report,
        sample,
        train,
    )

    parser = Parser(
        prog=PROG,
        description="Train, sample and evaluate the DCGAN of Dive into Deep "
        "Learning.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    subcommands = (train, sample, export, demo, evaluate, presets, report, info)
    for module in subcommands:
        module.add_parser(commands)
    return parser


def _backend_argument(argv):
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--backend")
    known, _ = parser.parse_known_args(argv)
    return known.backend


def _rerun_with_backend(backend, argv, replace_process):
    """Runs the command again in Python with `KERAS_BACKEND=backend`."""
    if importlib.util.find_spec(backend) is None:
        raise UsageError(
            f"the {backend} backend is not installed (`pip install "
            f"{backend}`). Received: --backend={backend}"
        )
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, "-m", "keras_dcgan", *argv]
    if replace_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, command, env)
    return subprocess.call(command, env=env)


def main(argv=None):
    """Runs the `keras-dcgan` command.

    Args:
        argv: list of arguments without the program name. Defaults to
            `sys.argv[1:]`.

    Returns:
        The exit status: 0 on success, 2 for a user mistake, 1 for a full
        disk or a diverged (NaN) run; errors are one line on stderr.
    """
    import keras

    replace_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        backend = _backend_argument(argv)
        if backend in BACKENDS and backend != keras.backend.backend():
            return _rerun_with_backend(backend, argv, replace_process)
        if keras.backend.backend() == "jax":
            from keras_dcgan.ops.jax import prefer_fast_cpu_convolutions

            prefer_fast_cpu_convolutions()
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help
            return exit_.code or 0
        args.argv = argv
        return args.run(args)
    except UsageError as error:
        print(" ".join(str(error).split()), file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as error:
        # Wrong input caught by the library, worded the Keras way.
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader left (`keras-dcgan presets | head -3`): stop quietly,
        # with nothing more for the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (OSError, FloatingPointError) as error:
        # A full disk or a diverged run: one line, the checkpoint is kept.
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
