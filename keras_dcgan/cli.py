"""The `keras-dcgan` command: train, sample and info.

```
keras-dcgan train --dataset pokemon --data pokemon.zip --preset d2l
keras-dcgan train --dataset fake --dry-run --output-dir /tmp/run
keras-dcgan train --resume --output-dir runs/20250101-120000
keras-dcgan sample --model runs/20250101-120000/model.keras --output a.png
keras-dcgan info --backend jax
```

`--backend` must take effect before Keras is imported. Importing this
module imports `keras_dcgan`, and so Keras, with `KERAS_BACKEND` as it was;
when `--backend` names another backend, the command runs again in a fresh
Python process with `KERAS_BACKEND` set. TensorFlow is imported only when a
dataset loader needs tf.data.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import warnings

import keras
import numpy as np

from keras_dcgan.evaluation import command as evaluate_command

BACKENDS = ("tensorflow", "jax", "torch")
DATASETS = ("pokemon", "fashion-mnist", "folder", "fake")
# --mixed-precision values and the dtype policies they name.
MIXED_PRECISION = {
    "bf16": "mixed_bfloat16",
    "mixed_bfloat16": "mixed_bfloat16",
    "fp16": "mixed_float16",
    "mixed_float16": "mixed_float16",
}
DRY_RUN_BATCHES = 2
DRY_RUN_BATCH_SIZE = 8
FAKE_EXAMPLES = 512
PROG = "keras-dcgan"


class UsageError(Exception):
    """A user mistake: reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message}")


def _positive(cast, kind):
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


_positive_int = _positive(int, "integer")
_positive_float = _positive(float, "number")


def _add_backend(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (sets KERAS_BACKEND before Keras is imported).",
    )


def build_parser():
    """The command's `argparse` parser."""
    from keras_dcgan import recipes

    parser = _Parser(
        prog=PROG,
        description="Train and sample the DCGAN of Dive into Deep Learning.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train a DCGAN",
        description="Train a DCGAN; everything goes to a run folder.",
    )
    train.add_argument("--dataset", choices=DATASETS, help="default: fake")
    train.add_argument(
        "--data", metavar="PATH", help="local zip or folder of the dataset"
    )
    train.add_argument(
        "--preset", choices=sorted(recipes.RECIPES), help="default: d2l"
    )
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--learning-rate", type=_positive_float)
    train.add_argument("--image-size", type=_positive_int)
    train.add_argument("--latent-dim", type=_positive_int)
    train.add_argument("--filters", type=_positive_int)
    train.add_argument(
        "--output-dir",
        metavar="DIR",
        help="run folder (default: a new runs/<timestamp>; with --resume, "
        "the newest folder in runs/)",
    )
    train.add_argument("--seed", type=int, help="default: 0")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run folder's last checkpoint",
    )
    train.add_argument(
        "--force",
        action="store_true",
        help="resume even with other hyper-parameters",
    )
    train.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA / torch.compile (default: Keras's choice)",
    )
    train.add_argument(
        "--mixed-precision",
        nargs="?",
        const="bf16",
        choices=tuple(MIXED_PRECISION),
        help="bf16 (mixed_bfloat16, the bare flag's) or fp16 (mixed_float16)",
    )
    train.add_argument(
        "--dry-run",
        action="store_true",
        help=f"{DRY_RUN_BATCHES} small batches, 1 epoch (for CI)",
    )
    train.add_argument(
        "--on-nan",
        choices=("stop", "continue"),
        default="stop",
        help="a NaN or infinite loss stops training (default) or goes on",
    )
    train.add_argument(
        "--bad-images",
        choices=("skip", "fail"),
        default="skip",
        help="unreadable image files are skipped with a warning (default) "
        "or stop the command",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_backend(train)

    sample = commands.add_parser(
        "sample",
        help="generate images from a trained model",
        description="Generate images from a saved DCGAN.",
    )
    sample.add_argument(
        "--model", required=True, metavar="PATH", help=".keras file or run"
    )
    sample.add_argument("--num-images", type=_positive_int, default=None)
    sample.add_argument(
        "--output", metavar="FILE.png", help="grid PNG (default samples.png)"
    )
    sample.add_argument(
        "--output-dir", metavar="DIR", help="also write individual PNGs here"
    )
    sample.add_argument("--cols", type=_positive_int, default=7)
    sample.add_argument("--seed", type=int)
    sample.add_argument(
        "--interpolate",
        action="store_true",
        help="a strip walking in a straight line between two latent points",
    )
    _add_backend(sample)

    evaluate_command.add_parser(commands)
    info = commands.add_parser("info", help="versions, backend, devices")
    _add_backend(info)
    return parser


def _backend_argument(argv):
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--backend")
    known, _ = parser.parse_known_args(argv)
    return known.backend


def _rerun_with_backend(backend, argv, replace_process):
    """Runs the command again in Python with `KERAS_BACKEND=backend`."""
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    if importlib.util.find_spec(module[backend]) is None:
        raise UsageError(
            f"{PROG}: error: the {backend} backend is not installed "
            f"(`pip install {module[backend]}`). Received: --backend={backend}"
        )
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, "-m", "keras_dcgan", *argv]
    if replace_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, command, env)
    return subprocess.call(command, env=env)


def _run_dir(output_dir, resume):
    if output_dir:
        return output_dir
    if resume:
        from keras_dcgan import checkpoints
    from keras_dcgan import runs as runs_lib

        runs = [
            os.path.join("runs", name)
            for name in (os.listdir("runs") if os.path.isdir("runs") else [])
        ]
        runs = [r for r in runs if checkpoints.read_checkpoint(r)]
        if not runs:
            raise UsageError(
                f"{PROG}: error: --resume found no run with a checkpoint in "
                "runs/; pass the run folder with --output-dir."
            )
        return max(runs, key=os.path.getmtime)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join("runs", stamp)
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join("runs", f"{stamp}-{suffix}")
    return path


def _to_pixels(dataset, limit=None):
    """A `tf.data` dataset of float batches in [-1, 1] as `uint8` pixels."""
    batches, count = [], 0
    for batch in dataset.as_numpy_iterator():
        if isinstance(batch, tuple):
            batch = batch[0]
        batches.append(np.rint((batch + 1.0) * 127.5).astype(np.uint8))
        count += len(batch)
        if limit and count >= limit:
            break
    if not batches:
        raise UsageError(f"{PROG}: error: the dataset holds no images.")
    pixels = np.concatenate(batches)
    return pixels[:limit] if limit else pixels


def _load_images(dataset, data, image_size, seed, limit):
    if dataset in ("folder",) and not data:
        raise UsageError(
            f"{PROG}: error: --dataset folder needs --data PATH, the image "
            "folder."
        )
    if data is not None and not os.path.exists(data):
        raise UsageError(
            f"{PROG}: error: --data must be an existing file or folder. "
            f"Received: --data={data}"
        )
    if dataset == "fake":
        from keras_dcgan.images import to_uint8

        rng = np.random.default_rng(seed)
        shape = (limit or FAKE_EXAMPLES, image_size, image_size, 3)
        return to_uint8(rng.uniform(-1.0, 1.0, shape).astype("float32"))
    from keras_dcgan import datasets

    args = dict(batch_size=256, image_size=image_size, shuffle=False)
    if dataset == "pokemon":
        loaded = datasets.load_pokemon(path=data, **args)
    elif dataset == "folder":
        loaded = datasets.image_folder_dataset(data, **args)
    else:
        loaded = datasets.load_fashion_mnist(path=data, **args)
    return _to_pixels(loaded, limit)


def _train(args):
    from keras_dcgan import checkpoints, recipes, validation
    from keras_dcgan import runs as runs_lib

    if args.force and not args.resume:
        raise UsageError(f"{PROG}: error: --force only applies to --resume.")
    directory = _run_dir(args.output_dir, args.resume)
    record = checkpoints.read_checkpoint(directory) if args.resume else None
    if args.resume and record is None:
        raise UsageError(
            f"{PROG}: error: --resume needs a run folder with a checkpoint "
            f"({checkpoints.CHECKPOINT_FILE}). Received: --output-dir="
            f"{directory}"
        )
    if not args.resume and checkpoints.read_checkpoint(directory):
        raise UsageError(
            f"{PROG}: error: {directory} already holds a run; add --resume "
            "to continue it or choose another --output-dir."
        )
    # On resume, options not given keep the run's values.
    saved = record["config"] if record else {}
    # A dry run stays one: it changes the data, not only the length.
    dry_run = bool(args.dry_run or saved.get("dry_run"))
    preset_name = args.preset or saved.get("preset") or "d2l"
    dataset = args.dataset or saved.get("dataset") or "fake"
    if record and preset_name == saved.get("preset"):
        fields = recipes.Recipe.__dataclass_fields__
        preset = recipes.Recipe(
            source=recipes.RECIPES[preset_name].source,
            epochs=record["epochs"],
            **{f: v for f, v in saved.items() if f in fields},
        )
    else:
        preset = recipes.get_recipe(preset_name)
        if dataset == "fashion-mnist":
            preset = preset.replace(image_size=32)
        if dry_run:
            preset = preset.replace(epochs=1, batch_size=DRY_RUN_BATCH_SIZE)
    overrides = dict(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        image_size=args.image_size,
        latent_dim=args.latent_dim,
        filters=args.filters,
    )
    try:
        preset = preset.replace(
            **{k: v for k, v in overrides.items() if v is not None}
        )
    except ValueError as error:
        raise UsageError(f"{PROG}: error: {error}") from None
    seed = args.seed if args.seed is not None else saved.get("seed", 0)
    data = args.data if args.data is not None else saved.get("data")
    if data is not None:
        data = os.path.abspath(data)
    limit = DRY_RUN_BATCHES * preset.batch_size if dry_run else None
    # Before the data is decoded, which may take minutes.
    validation.check_writable(directory)
    with warnings.catch_warnings():
        if args.bad_images == "fail":
            warnings.simplefilter("error", validation.SkippedImageWarning)
        try:
            images = _load_images(dataset, data, preset.image_size, seed, limit)
        except validation.SkippedImageWarning as error:
            raise UsageError(
                f"{PROG}: error: {error} Received: --bad-images=fail"
            ) from None
    mixed = MIXED_PRECISION.get(args.mixed_precision) or (
        saved.get("mixed_precision") if record else None
    )
    result = runs_lib.train_run(
        directory,
        images,
        preset,
        seed=seed,
        config={
            "preset": preset_name,
            "dataset": dataset,
            "data": data,
            "dry_run": dry_run,
        },
        resume=args.resume,
        force=args.force,
        jit_compile=args.jit,
        mixed_precision=mixed,
        verbose=0 if args.quiet else "auto",
        on_nan=args.on_nan,
    )
    print(f"Trained {result['epoch']} epochs in {directory}")
    print(f"  model:      {result['model_path']}")
    print(f"  checkpoint: {result['checkpoint']}")
    if result["grids"]:
        print(
            f"  grids:      {os.path.dirname(result['grids'][0])} "
            f"({len(result['grids'])} PNG)"
        )
    if result["gif"]:
        print(f"  animation:  {result['gif']}")
    print(f"  curves:     {result['curves']}")
    print(f"  history:    {result['csv']}")
    return 0


def _load_dcgan(path):
    from keras_dcgan import checkpoints
    from keras_dcgan.dcgan import DCGAN

    if os.path.isdir(path):
        final = os.path.join(path, runs_lib.MODEL_FILE)
        record = checkpoints.read_checkpoint(path)
        if os.path.isfile(final):
            path = final
        elif record:
            path = os.path.join(path, record["model"])
    if not os.path.isfile(path):
        raise UsageError(
            f"{PROG}: error: --model must be a .keras file or a run folder. "
            f"Received: --model={path}"
        )
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # Any unreadable file is a user mistake.
        first = str(error).strip().splitlines()[0] if str(error) else ""
        raise UsageError(
            f"{PROG}: error: --model must be a .keras file saved from a "
            f"keras_dcgan.DCGAN; it could not be loaded ({first}). "
            f"Received: --model={path}"
        ) from None
    if not isinstance(model, DCGAN):
        raise UsageError(
            f"{PROG}: error: --model must be a keras_dcgan.DCGAN; the file "
            f"holds a {type(model).__name__}. Received: --model={path}"
        )
    return model


def _sample(args):
    from keras_dcgan import images as images_lib

    model = _load_dcgan(args.model)
    if args.interpolate:
        num = args.num_images or 10
        if num < 2:
            raise UsageError(
                f"{PROG}: error: --interpolate needs --num-images of at "
                f"least 2. Received: --num-images={num}"
            )
        rng = np.random.default_rng(args.seed)
        ends = rng.standard_normal((2, model.latent_dim), dtype=np.float32)
        weights = np.linspace(0.0, 1.0, num, dtype=np.float32)[:, None]
        noise = (1.0 - weights) * ends[0] + weights * ends[1]
        generated = model.predict(noise, verbose=0)
        rows, cols = 1, num
    else:
        num = args.num_images or 21
        generated = model.generate(num, seed=args.seed)
        cols = min(args.cols, num)
        rows = -(-num // cols)
    output = args.output
    if output is None and args.output_dir is None:
        output = "samples.png"
    if output:
        images_lib.save_image_grid(generated, output, rows=rows, cols=cols)
        print(f"Wrote {num} images as a {rows}x{cols} grid to {output}")
    if args.output_dir:
        for i, image in enumerate(generated):
            images_lib.save_image_grid(
                image[None],
                os.path.join(args.output_dir, f"sample_{i:04d}.png"),
                rows=1,
                cols=1,
                padding=0,
            )
        print(f"Wrote {num} PNG files to {args.output_dir}")
    return 0


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _info(args):
    from keras_dcgan import callbacks
    from keras_dcgan.version import __version__

    backend = keras.backend.backend()
    print(f"keras-dcgan {__version__}")
    print(f"keras {keras.__version__}, backend {backend}")
    print(f"python {platform.python_version()} ({platform.platform()})")
    for name in ("numpy", "tensorflow", "jax", "jaxlib", "torch", "pillow"):
        print(f"{name} {_version(name)}")
    print(f"device: {callbacks.device_name()}")
    if backend == "jax":
        import jax

        devices = [
            f"{d.platform}:{d.id} {d.device_kind}" for d in jax.devices()
        ]
    elif backend == "torch":
        import torch

        devices = ["cpu"] + [
            f"cuda:{i} {torch.cuda.get_device_name(i)}"
            for i in range(torch.cuda.device_count())
        ]
    else:
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_physical_devices()]
    print(f"devices: {', '.join(devices)}")
    return 0


def main(argv=None):
    """Runs the `keras-dcgan` command.

    Args:
        argv: list of arguments without the program name. Defaults to
            `sys.argv[1:]`.

    Returns:
        The exit status: 0 on success, 2 for a user mistake, 1 for a full
        disk or a diverged (NaN) run; errors are one line on stderr.
    """
    replace_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        backend = _backend_argument(argv)
        if backend in BACKENDS and backend != keras.backend.backend():
            return _rerun_with_backend(backend, argv, replace_process)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exit_:  # --help
            return exit_.code or 0
        command = {
            "train": _train,
            "sample": _sample,
            "evaluate": evaluate_command.run,
            "info": _info,
        }
        return command[args.command](args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as error:
        # Wrong input caught by the library, worded the Keras way.
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except (OSError, FloatingPointError) as error:
        # A full disk or a diverged run: one line, the checkpoint is kept.
        message = " ".join(str(error).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
