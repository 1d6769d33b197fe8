"""`keras-dcgan train`: train a DCGAN; everything goes to a run folder.

With no `--dataset`, the chapter's Pokemon data: downloaded once, checked
against its sha1 and cached (as `keras_dcgan.datasets.load_pokemon` does).
Random images only with `--dataset fake`.
"""

import argparse
import datetime
import os
import shlex
import warnings

import numpy as np

from keras_dcgan.cli.common import (
    PROG,
    UsageError,
    add_common_options,
    positive_float,
    positive_int,
)

DATASETS = ("pokemon", "fashion-mnist", "folder", "fake")
# The recipe shown to end in sprites on the Pokemon data (docs/presets.md).
DEFAULT_RECIPE = "dcgan-paper"
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
FAKE_CLASSES = 3


def add_parser(subparsers):
    """Adds `train` to the command's subparsers."""
    from keras_dcgan import recipes

    train = subparsers.add_parser(
        "train",
        help="train a DCGAN",
        description="Train a DCGAN; everything goes to a run folder.",
    )
    train.add_argument(
        "--dataset",
        choices=DATASETS,
        help="default: pokemon (downloaded once and cached; fake is random "
        "images, for trying the command)",
    )
    train.add_argument(
        "--data",
        metavar="PATH",
        help="your copy of the dataset: pokemon.zip or its folder, the "
        "fashion-mnist folder of idx files, or an image folder",
    )
    train.add_argument(
        "--recipe",
        choices=sorted(recipes.RECIPES),
        help="the hyper-parameters to train with (default: dcgan-paper, which "
        "trained the shipped dcgan_pokemon_64; d2l is the chapter's)",
    )
    train.add_argument(
        "--epochs",
        type=positive_int,
        help="the total number of epochs, also when resuming",
    )
    train.add_argument("--batch-size", type=positive_int)
    train.add_argument("--learning-rate", type=positive_float)
    train.add_argument("--image-size", type=positive_int)
    train.add_argument("--latent-dim", type=positive_int)
    train.add_argument("--filters", type=positive_int)
    ema = train.add_mutually_exclusive_group()
    ema.add_argument(
        "--ema-decay",
        type=float,
        metavar="D",
        help="the decay of the generator's exponential moving average, which "
        "samples and grids use (default: 0.999)",
    )
    ema.add_argument(
        "--no-ema",
        action="store_true",
        help="keep no moving average of the generator",
    )
    train.add_argument(
        "--augment",
        choices=("none", "diffaugment", "ada"),
        help="differentiable augmentation of what the discriminator sees: "
        "ada adapts its strength to the discriminator's overfitting, "
        "diffaugment is always on (default: none)",
    )
    train.add_argument(
        "--mirror",
        action="store_true",
        help="flip each real image left-right with probability 1/2",
    )
    train.add_argument(
        "--upsampling",
        choices=("transpose", "nearest"),
        help="how the generator doubles the image's side: the chapter's "
        "transposed convolutions, or nearest-neighbour upsampling and a "
        "convolution, which draws no checkerboard pattern (default: "
        "transpose)",
    )
    train.add_argument(
        "--conditional",
        action="store_true",
        help="train a class-conditional model on the dataset's classes "
        "(fashion-mnist, or a folder with one sub-folder per class)",
    )
    train.add_argument(
        "--label-input",
        choices=("projection", "channels"),
        help="with --conditional: how the discriminator sees the label, a "
        "projection of its features or one-hot channels beside the image "
        "(default: projection)",
    )
    train.add_argument(
        "--auxiliary-classifier",
        action="store_true",
        help="with --conditional: the discriminator also names each image's "
        "class, and both players learn from it (AC-GAN)",
    )
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
    train.add_argument(
        "--keep",
        type=positive_int,
        default=3,
        metavar="N",
        help="epoch checkpoints to keep, the last N (default: 3)",
    )
    train.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="TensorBoard logs of the losses and grids in the run folder's "
        "logs/ (default: on)",
    )
    train.add_argument(
        "--select-best",
        choices=("kid",),
        help="keep best.keras, the model of the epoch with the lowest KID "
        "against the training images (features: the Fashion-MNIST "
        "evaluator for fashion-mnist, a fixed random CNN otherwise)",
    )
    train.add_argument(
        "--select-every",
        type=positive_int,
        metavar="N",
        help="with --select-best: evaluate every N epochs and after the last "
        "(default: 1)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    add_common_options(train)
    train.set_defaults(run=run)
    return train


def _run_dir(output_dir, resume):
    if output_dir:
        return output_dir
    if resume:
        from keras_dcgan import checkpoints

        runs = [
            os.path.join("runs", name)
            for name in (os.listdir("runs") if os.path.isdir("runs") else [])
        ]
        runs = [r for r in runs if checkpoints.read_checkpoint(r)]
        if not runs:
            raise UsageError(
                "--resume found no run with a checkpoint in runs/; pass the "
                "run folder with --output-dir."
            )
        return max(runs, key=os.path.getmtime)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join("runs", stamp)
    suffix = 1
    while os.path.exists(path):
        suffix += 1
        path = os.path.join("runs", f"{stamp}-{suffix}")
    return path


def to_pixels(dataset, limit=None):
    """`(pixels, labels)` of a `tf.data` dataset of float batches in [-1, 1].

    `pixels` are `uint8`; `labels` is `None` for a dataset without them.
    """
    batches, label_batches, count = [], [], 0
    for batch in dataset.as_numpy_iterator():
        if isinstance(batch, tuple):
            batch, labels = batch
            label_batches.append(labels)
        batches.append(np.rint((batch + 1.0) * 127.5).astype(np.uint8))
        count += len(batch)
        if limit and count >= limit:
            break
    if not batches:
        raise UsageError("the dataset holds no images.")
    pixels = np.concatenate(batches)[:limit]
    labels = np.concatenate(label_batches)[:limit] if label_batches else None
    return pixels, labels


def _load_pokemon(data, **args):
    """`load_pokemon`; a failed download is a one-line user error."""
    from keras_dcgan import datasets

    if data is not None:
        return datasets.load_pokemon(path=data, **args)
    try:
        return datasets.load_pokemon(**args)
    except OSError as error:
        if datasets.POKEMON_URL not in str(error):
            raise
        reason = error.__cause__ or error
        raise UsageError(
            f"could not download the Pokemon data from "
            f"{datasets.POKEMON_URL} ({type(reason).__name__}: {reason}). "
            "Pass your copy with --data PATH (pokemon.zip or its folder), or "
            "use --dataset fake to try the command on random images."
        ) from None


def _load_images(dataset, data, image_size, seed, limit, conditional):
    """`(pixels, labels, class_names)`; labels only when `conditional`."""
    if dataset in ("folder",) and not data:
        raise UsageError(
            "--dataset folder needs --data PATH, the image folder."
        )
    if data is not None and not os.path.exists(data):
        raise UsageError(
            "--data must be an existing file or folder. "
            f"Received: --data={data}"
        )
    if dataset == "fake":
        from keras_dcgan.images import to_uint8

        rng = np.random.default_rng(seed)
        shape = (limit or FAKE_EXAMPLES, image_size, image_size, 3)
        pixels = to_uint8(rng.uniform(-1.0, 1.0, shape).astype("float32"))
        return pixels, _fake_labels(len(pixels), seed, conditional), None
    from keras_dcgan import datasets

    args = dict(batch_size=256, image_size=image_size, shuffle=False)
    if dataset == "pokemon":
        if conditional:
            raise UsageError(
                "--conditional needs a dataset with classes: fashion-mnist, "
                "or --dataset folder with one sub-folder per class. "
                "Received: --dataset pokemon"
            )
        loaded = _load_pokemon(data, **args)
    elif dataset == "folder":
        loaded = datasets.image_folder_dataset(
            data, with_labels=conditional, **args
        )
    else:
        loaded = datasets.load_fashion_mnist(
            path=data, with_labels=conditional, **args
        )
    pixels, labels = to_pixels(loaded, limit)
    class_names = list(loaded.class_names) if conditional else None
    if conditional and len(class_names) < 2:
        raise UsageError(
            "--conditional needs at least 2 classes; the image folder has "
            f"{len(class_names)} (one sub-folder per class). "
            f"Received: --data {data}"
        )
    return pixels, labels, class_names


def _fake_labels(count, seed, conditional):
    """Random labels of the fake dataset's classes (when `conditional`)."""
    if not conditional:
        return None
    rng = np.random.default_rng([seed, 1])
    return rng.integers(0, FAKE_CLASSES, count).astype("int32")


def _saved_settings(directory, record):
    """The `RunSettings` of the run folder's checkpoint `record`."""
    from keras_dcgan import checkpoints, runs

    saved = record["config"]
    if "preset" in saved and "recipe" not in saved:
        raise UsageError(
            "This run folder was written by an earlier version of keras-dcgan "
            "(its config names the recipe under 'preset'); expected "
            f"'recipe'. Received: preset={saved['preset']!r} in "
            f"{os.path.join(directory, checkpoints.CHECKPOINT_FILE)}"
        )
    return runs.RunSettings.from_config(saved, epochs=record["epochs"])


def run(args):
    """Runs `train` with parsed arguments; returns the exit status."""
    from keras_dcgan import (
        checkpoints,
        recipes,
        run_report,
        runs,
        validation,
    )

    if args.force and not args.resume:
        raise UsageError("--force only applies to --resume.")
    directory = _run_dir(args.output_dir, args.resume)
    record = checkpoints.read_checkpoint(directory) if args.resume else None
    if args.resume and record is None:
        raise UsageError(
            "--resume needs a run folder with a checkpoint "
            f"({checkpoints.CHECKPOINT_FILE}). Received: --output-dir="
            f"{directory}"
        )
    if not args.resume and checkpoints.read_checkpoint(directory):
        raise UsageError(
            f"{directory} already holds a run; add --resume to continue it "
            "or choose another --output-dir."
        )
    saved = _saved_settings(directory, record) if record else None
    # The command's own settings, recorded with the run's.
    previous = saved.extra if saved else {}
    # A dry run stays one: it changes the data, not only the length.
    dry_run = bool(args.dry_run or previous.get("dry_run"))
    recipe_name = args.recipe or previous.get("recipe") or DEFAULT_RECIPE
    dataset = args.dataset or previous.get("dataset") or "pokemon"
    if saved and recipe_name == previous.get("recipe"):
        recipe = saved.recipe
    else:
        recipe = recipes.get_recipe(recipe_name)
        if dataset == "fashion-mnist":
            recipe = recipe.replace(image_size=32)
        if dry_run:
            recipe = recipe.replace(epochs=1, batch_size=DRY_RUN_BATCH_SIZE)
    overrides = dict(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        image_size=args.image_size,
        latent_dim=args.latent_dim,
        filters=args.filters,
        ema_decay=args.ema_decay,
        augment=args.augment,
        mirror=args.mirror or None,
        upsampling=args.upsampling,
    )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.no_ema:
        overrides["ema_decay"] = None
    try:
        recipe = recipe.replace(**overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None
    # On resume, options not given keep the run's values.
    kept = saved or runs.RunSettings(recipe)
    seed = args.seed if args.seed is not None else kept.seed
    select_best = args.select_best or kept.select_best
    select_every = args.select_every or kept.select_every
    if args.select_every and not select_best:
        raise UsageError("--select-every only applies to --select-best.")
    data = args.data if args.data is not None else previous.get("data")
    if data is not None:
        data = os.path.abspath(data)
    limit = DRY_RUN_BATCHES * recipe.batch_size if dry_run else None
    conditional = args.conditional or recipe.num_classes is not None
    for flag in ("auxiliary_classifier", "label_input"):
        if getattr(args, flag) and not conditional:
            raise UsageError(
                f"--{flag.replace('_', '-')} only applies to --conditional."
            )
    # Before the data is decoded, which may take minutes.
    validation.check_writable(directory)
    with warnings.catch_warnings():
        if args.bad_images == "fail":
            warnings.simplefilter("error", validation.SkippedImageWarning)
        try:
            images, labels, class_names = _load_images(
                dataset, data, recipe.image_size, seed, limit, conditional
            )
        except validation.SkippedImageWarning as error:
            raise UsageError(f"{error} Received: --bad-images=fail") from None
    if conditional and recipe.num_classes is None:
        recipe = recipe.replace(
            num_classes=len(class_names) if class_names else FAKE_CLASSES
        )
    if args.auxiliary_classifier:
        recipe = recipe.replace(auxiliary_classifier=True)
    if args.label_input:
        recipe = recipe.replace(label_input=args.label_input)
    mixed = MIXED_PRECISION.get(args.mixed_precision) or kept.mixed_precision
    command = shlex.join([PROG, *getattr(args, "argv", [])])
    created = not os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    try:
        result = runs.train_run(
            directory,
            images,
            recipe,
            seed=seed,
            config={
                "recipe": recipe_name,
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
            keep=args.keep,
            tensorboard=args.tensorboard,
            select_best=select_best,
            select_every=select_every,
            select_extractor=(
                "evaluator" if dataset == "fashion-mnist" else "random"
            ),
            labels=labels,
            class_names=class_names,
            callbacks=[
                run_report.RunReport(directory, len(images), command=command)
            ],
        )
    except BaseException:
        if created and not os.listdir(directory):
            os.rmdir(directory)  # A mistake found before training began.
        raise
    finally:
        # Also after a stop (NaN, full disk, Ctrl-C): the last checkpoint.
        if checkpoints.read_checkpoint(directory):
            run_report.write_report(directory)
    print(f"Trained {result['epoch']} epochs in {directory}")
    print(f"  model:      {result['model_path']}")
    if select_best:
        best = result["best"]
        print(
            f"  best:       {best['path']} (epoch {best['epoch']}, KID "
            f"{best['kid']:.4f})"
            if best
            else "  best:       none (no evaluation had a finite KID)"
        )
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
    if args.tensorboard:
        logs = os.path.join(directory, runs.LOGS_DIR)
        print(f"  logs:       tensorboard --logdir {logs}")
    print(f"  report:     {os.path.join(directory, run_report.REPORT_FILE)}")
    return 0
