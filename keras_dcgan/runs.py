"""Run folders and `train_run()`: one call trains a DCGAN the safe way.

A run folder holds everything a training run writes:

```
run/
  checkpoint.json          what the latest checkpoint is (the commit point)
  checkpoints/epoch_0003.keras  networks, optimizers, noise generator state
  grid_noise.npy           the fixed noise of the image grids
  grids/epoch_001.png ...  one grid per epoch, training.gif at the end
  curves.png, history.csv  losses per epoch
  logs/                    TensorBoard logs (scalars and grids)
  model.keras              the final model
  best.keras, best.json    the best epoch's model and the evaluations
                           (with `select_best="kid"`)
```

A checkpoint is written at the end of every epoch (see
`keras_dcgan.checkpoints`), with the run's `RunSettings` as its config,
which a resume checks. Resuming loads it and continues `fit()` at the
next epoch. The data order is a function of `(seed, epoch)` only
(`EpochShuffledImages`), so the resumed run sees exactly the batches the
uninterrupted run would have seen, and ends with the same weights.
"""

import contextlib
import csv
import dataclasses
import io
import os

import keras
import numpy as np

from keras_dcgan import callbacks as callbacks_lib
from keras_dcgan import checkpoints, recipes, validation
from keras_dcgan.checkpoints import CHECKPOINT_FILE, GRID_NOISE_FILE
from keras_dcgan.dcgan import DCGAN
from keras_dcgan.evaluation import callback as best_checkpoint
from keras_dcgan.files import write_bytes_atomic
from keras_dcgan.in_memory import EpochShuffledImages
from keras_dcgan.noise import fixed_noise

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"
GRIDS_DIR = "grids"
GIF_FILE = "training.gif"
LOGS_DIR = "logs"
# `select_best` values, and the real and generated images of an evaluation.
SELECT_METRICS = ("kid",)
SELECT_NUM_IMAGES = 1000

# Fields that change the networks; a checkpoint cannot take other values.
ARCHITECTURE_FIELDS = (
    "latent_dim",
    "image_size",
    "channels",
    "filters",
    "negative_slope",
    "first_block_batch_norm",
    "mixed_precision",
    "ema_decay",
    "num_classes",
    "conditional_batch_norm",
    "auxiliary_classifier",
    "augment",
    "mirror",
    "upsampling",
)
# Recipe fields a run's config leaves out: `checkpoint.json` keeps the
# number of epochs beside it (a resume may change it), and the source is
# documentation.
UNRECORDED_RECIPE_FIELDS = ("epochs", "source")
# The values of the fields that run folders recorded before the field
# existed lack: what those runs trained with.
MISSING_FIELD_DEFAULTS = {
    "ema_decay": None,
    "num_classes": None,
    "conditional_batch_norm": False,
    "auxiliary_classifier": False,
    "augment": "none",
    "mirror": False,
    "upsampling": "transpose",
}


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The settings a run trains with, as its run folder records them.

    `to_config()` is the `"config"` of the run's `checkpoint.json`, which a
    resume compares with the settings it is given; `from_config()` reads one
    back, also from run folders written before some fields existed. See
    `train_run` for the meaning of each field.

    Args:
        recipe: a `keras_dcgan.recipes.Recipe`; its `epochs` are the run's
            total (the config leaves them and `source` out).
        seed: int. Defaults to `0`.
        channels: int or None. Image channels.
        mixed_precision: None or a dtype policy name.
        select_best: None (default) or `"kid"`.
        select_every: int. Defaults to `1`.
        select_extractor: `"random"` (default) or `"evaluator"`.
        extra: dict of other settings to record and check on resume, such
            as the `keras-dcgan train` command's recipe name, dataset, data
            and dry run.
    """

    recipe: recipes.Recipe
    seed: int = 0
    channels: int = None
    mixed_precision: str = None
    select_best: str = None
    select_every: int = 1
    select_extractor: str = "random"
    extra: dict = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self):
        if self.select_best is not None and self.select_best not in (
            SELECT_METRICS
        ):
            raise ValueError(
                f"`select_best` must be None or one of {SELECT_METRICS}. "
                f"Received: select_best={self.select_best!r}"
            )
        select_every = validation.positive_int(
            "select_every", self.select_every
        )
        if self.select_extractor not in best_checkpoint.EXTRACTOR_NAMES:
            raise ValueError(
                "`select_extractor` must be one of "
                f"{tuple(best_checkpoint.EXTRACTOR_NAMES)}. "
                f"Received: select_extractor={self.select_extractor!r}"
            )
        object.__setattr__(self, "select_every", select_every)
        object.__setattr__(self, "extra", dict(self.extra))

    def to_config(self):
        """The settings as the JSON-serialisable dict a run folder keeps."""
        config = {
            name: value
            for name, value in self.recipe.to_config().items()
            if name not in UNRECORDED_RECIPE_FIELDS
        }
        config.update(
            seed=self.seed,
            channels=self.channels,
            mixed_precision=self.mixed_precision,
        )
        if self.select_best is not None:
            config.update(
                select_best=self.select_best,
                select_every=self.select_every,
                select_extractor=self.select_extractor,
            )
        config.update(self.extra)
        return config

    @classmethod
    def from_config(cls, config, epochs=None):
        """The settings of a run folder's config (`to_config()`'s dict).

        Fields that the run folder does not record, written before they
        existed, take the values those runs trained with.

        Args:
            config: dict, the `"config"` of a `checkpoint.json`.
            epochs: int or None. The run's total number of epochs, which
                `checkpoint.json` keeps beside the config (`"epochs"`).
                Defaults to the `Recipe` default.

        Returns:
            A `RunSettings`.
        """
        config = {**MISSING_FIELD_DEFAULTS, **config}
        recipe_fields = set(recipes.Recipe.__dataclass_fields__).difference(
            UNRECORDED_RECIPE_FIELDS
        )
        own_fields = set(cls.__dataclass_fields__) - {"recipe", "extra"}
        known = recipes.RECIPES.get(config.get("name"))
        recipe = recipes.Recipe(
            source=known.source if known else "",
            **({} if epochs is None else {"epochs": epochs}),
            **{k: v for k, v in config.items() if k in recipe_fields},
        )
        return cls(
            recipe,
            **{k: v for k, v in config.items() if k in own_fields},
            extra={
                k: v
                for k, v in config.items()
                if k not in recipe_fields and k not in own_fields
            },
        )


def _write_history_csv(path, history):
    """Writes `history` as `keras.callbacks.CSVLogger` would have."""
    keys = sorted(history)
    if not any(k.startswith("val_") for k in keys):
        # `CSVLogger` adds these columns (as "NA") when there is no
        # validation; appended rows must line up with this header.
        keys += ["val_" + k for k in keys]
    num_epochs = max((len(v) for v in history.values()), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch"] + keys)
    for epoch in range(num_epochs):
        writer.writerow(
            [epoch]
            + [
                history[k][epoch] if epoch < len(history.get(k, ())) else "NA"
                for k in keys
            ]
        )
    write_bytes_atomic(path, out.getvalue().encode())


def compare_configs(saved, requested):
    """Lists `(name, saved_value, requested_value)` that differ."""
    names = sorted(set(saved) | set(requested))
    return [
        (name, saved.get(name), requested.get(name))
        for name in names
        if saved.get(name) != requested.get(name)
    ]


def _check_resume_config(directory, saved, requested, force):
    """What `requested` changes of the run's `saved` settings.

    Returns the `(name, saved_value, requested_value)` that differ; raises
    if the architecture differs, or other fields without `force`.
    """
    differences = compare_configs(saved.to_config(), requested.to_config())
    if not differences:
        return []
    listed = ", ".join(
        f"{name}={new!r} (run: {old!r})" for name, old, new in differences
    )
    fixed = [d for d in differences if d[0] in ARCHITECTURE_FIELDS]
    if fixed:
        raise ValueError(
            f"Cannot resume the run in {directory!r} with a different "
            f"architecture; expected the run's values. Received: {listed}"
        )
    if not force:
        raise ValueError(
            f"The run in {directory!r} was started with other "
            "hyper-parameters; resume with the same ones, or force it "
            f"(`force=True`, `--force`). Received: {listed}"
        )
    return differences


def train_run(
    directory,
    images,
    recipe,
    *,
    seed=0,
    channels=None,
    config=None,
    resume=False,
    force=False,
    jit_compile=None,
    mixed_precision=None,
    callbacks=None,
    grid_rows=3,
    grid_cols=7,
    gif=True,
    summary_every_epoch=False,
    verbose="auto",
    print_fn=print,
    on_nan="stop",
    keep=3,
    health=True,
    tensorboard=True,
    select_best=None,
    select_every=1,
    select_extractor="random",
    labels=None,
    class_names=None,
):
    """Trains a DCGAN in a run folder, with checkpoints, grids and curves.

    Builds the model of `recipe` (or, with `resume=True`, loads the run's
    latest checkpoint) and calls `fit()` with: the data in a
    `(seed, epoch)`-determined order, a `StopOnNonFinite` guard, an
    `ImageGrid` (fixed noise saved as `grid_noise.npy`, a GIF at the end),
    `LossCurves`, a `keras.callbacks.CSVLogger`, TensorBoard logs, a
    `TrainingHealth` check, a `Checkpoint` after every epoch and the
    chapter's `TrainingSummary` line. At the end the model is saved as
    `model.keras`. With `select_best="kid"`, the model of the epoch with the
    lowest KID is kept as `best.keras` beside it.

    A run killed at any moment and resumed ends with the weights an
    uninterrupted run would have had (on the same backend and device). A
    resume prints "Resuming at epoch k of N" through `print_fn`, where `N`
    is the run's total number of epochs (as `fit()`'s `epochs` with
    `initial_epoch`).

    Args:
        directory: the run folder (created if needed).
        images: array `(num_images, size, size, channels)` of `uint8`
            pixels or floats in [-1, 1].
        recipe: a recipe such as `keras_dcgan.recipes.get_recipe("d2l")`
            (its `epochs`, `batch_size` and hyper-parameters are used).
        seed: int. Seeds the weights, the training noise, the data order
            and the grid noise. Defaults to `0`.
        channels: int or None. Image channels. Defaults to the images'.
        config: optional dict of other settings to record and check on
            resume (such as the dataset's name).
        resume: bool. Continue the run's latest checkpoint. Defaults to
            `False`; a folder that already holds a checkpoint is then
            refused.
        force: bool. Resume even if the hyper-parameters differ from the
            run's (the architecture still must match). Defaults to `False`.
        jit_compile: bool or None. `None` keeps Keras's default.
        mixed_precision: None or a dtype policy name such as
            `"mixed_bfloat16"`, in force while the model is built or loaded
            (the global policy is restored before `train_run` returns).
        callbacks: optional list of more callbacks.
        grid_rows: int. Rows of the image grids. Defaults to `3`.
        grid_cols: int. Columns of the image grids. Defaults to `7`.
        gif: bool. Whether to write `grids/training.gif` at the end.
        summary_every_epoch: bool. Print the summary line every epoch.
        verbose: `fit()` verbosity. Defaults to `"auto"`.
        print_fn: function used for the summary line and the resume line.
            Defaults to `print`.
        on_nan: `"stop"` (default): a NaN or infinite loss stops training
            with `keras_dcgan.callbacks.NonFiniteLossError` naming the
            epoch and step, and the last good checkpoint is kept.
            `"continue"` warns and goes on (checkpoints are written only
            while the weights are finite).
        keep: int. How many epoch checkpoints to keep under
            `checkpoints/` (the last ones). Defaults to `3`.
        health: bool. Whether to warn (`TrainingHealthWarning`) when the
            discriminator wins or the generator collapses.
            Defaults to `True`.
        tensorboard: bool. Whether to write TensorBoard logs (the epoch's
            losses and image grid) under `logs/` in the run folder.
            Defaults to `True`.
        select_best: `None` (default) or `"kid"`: every `select_every`
            epochs and after the last, the KID of 1,000 generated images
            against 1,000 of the training images (a fixed subset drawn by
            `seed`) is added to the logs as `"kid"`, and the model of the
            best epoch is kept as `best.keras` with the record of the
            evaluations in `best.json` (see
            `keras_dcgan.evaluation.BestKIDCheckpoint`). The weights are not
            restored: `model.keras` is the last epoch's. A resumed run keeps
            the best of the epochs before.
        select_every: int. Epochs between evaluations. Defaults to `1`.
        labels: int array `(num_images,)` of the images' classes, needed
            when `recipe.num_classes` is set (a class-conditional model);
            otherwise ignored.
        class_names: optional names of the classes, saved with a
            conditional model.
        select_extractor: the features of the KID: `"evaluator"`, the
            Fashion-MNIST evaluator (for 32x32x1 images; other images fall
            back to the random CNN), or `"random"` (default), a fixed
            random-weight CNN.

    Returns:
        A dict with `model`, `summary` (the summary line), `epoch`
        (completed epochs), the paths `model_path`, `checkpoint`,
        `grids`, `gif`, `curves`, `csv`, and `best`: `None` without
        `select_best` or before an evaluation had a finite KID, else a dict
        with `path` (of `best.keras`), `epoch`, `kid`, `kid_std` and
        `extractor`.

    Example:

    ```python
    recipe = keras_dcgan.recipes.get_recipe("d2l", epochs=5)
    result = keras_dcgan.runs.train_run("run", pixels, recipe, keep=3)
    result = keras_dcgan.runs.train_run(  # After a crash, or for more.
        "run", pixels, recipe, resume=True
    )
    ```
    """
    directory = os.fspath(directory)
    images = validation.check_images(images)
    keep = validation.positive_int("keep", keep)
    settings = RunSettings(
        recipe,
        seed=seed,
        channels=channels or images.shape[-1],
        mixed_precision=mixed_precision,
        select_best=select_best,
        select_every=select_every,
        select_extractor=select_extractor,
        extra=config or {},
    )
    labels = validation.check_labels(
        # An unconditional recipe ignores labels.
        None if recipe.num_classes is None else labels,
        recipe.num_classes,
        len(images),
    )
    guard = callbacks_lib.StopOnNonFinite(on_nan, checkpoint_dir=directory)
    validation.check_writable(directory)
    model, initial_epoch, history, noise = _build_or_resume(
        directory,
        settings,
        resume=resume,
        force=force,
        class_names=class_names,
        num_grid_images=grid_rows * grid_cols,
    )
    if jit_compile is not None:
        model.jit_compile = bool(jit_compile)
    _prepare_folder(directory, settings, model, noise, keep=keep, resume=resume)
    data = EpochShuffledImages(
        images, recipe.batch_size, seed=seed, labels=labels
    )
    grid = callbacks_lib.ImageGrid(
        os.path.join(directory, GRIDS_DIR),
        rows=grid_rows,
        cols=grid_cols,
        noise=noise,
        gif=GIF_FILE if gif else None,
        tensorboard_dir=(
            os.path.join(directory, LOGS_DIR, "images") if tensorboard else None
        ),
    )
    summary = callbacks_lib.TrainingSummary(
        len(images), every_epoch=summary_every_epoch, print_fn=print_fn
    )
    run_callbacks = _callbacks(
        directory,
        settings,
        images,
        data,
        history,
        resume=resume,
        keep=keep,
        guard=guard,
        more=callbacks or [],
        grid=grid,
        summary=summary,
        tensorboard=tensorboard,
        health=health,
    )
    _fit(
        model,
        data,
        run_callbacks,
        initial_epoch=initial_epoch,
        epochs=recipe.epochs,
        resume=resume,
        verbose=verbose,
        print_fn=print_fn,
    )
    return _finish(directory, model, grid, summary, settings)


def _build_or_resume(
    directory, settings, *, resume, force, class_names, num_grid_images
):
    """The run's model and where it starts, from scratch or its checkpoint.

    Returns `(model, initial_epoch, history, grid_noise)`: a new model of
    `settings.recipe`, or with `resume` the run's latest checkpoint (its
    optimizers take the recipe's `learning_rate` and `beta_1` when `force`
    changed them).
    """
    record = checkpoints.read_checkpoint(directory)
    if resume:
        if record is None:
            raise FileNotFoundError(
                "There is no checkpoint to resume in the run folder; "
                f"expected {CHECKPOINT_FILE} in it. "
                f"Received: directory={directory!r}"
            )
        saved = RunSettings.from_config(record["config"])
        changed = _check_resume_config(directory, saved, settings, force)
        with _dtype_policy(settings.mixed_precision):
            model, record = checkpoints.load_checkpoint(directory)
        if any(name in ("learning_rate", "beta_1") for name, _, _ in changed):
            for optimizer in (model.d_optimizer, model.g_optimizer):
                optimizer.learning_rate = settings.recipe.learning_rate
                optimizer.beta_1 = settings.recipe.beta_1
        start = (
            record["epoch"],
            record["history"],
            np.load(os.path.join(directory, record["grid_noise"])),
        )
    else:
        if record is not None:
            raise ValueError(
                f"The run folder already holds a run (trained for "
                f"{record['epoch']} epochs); resume it or choose another "
                f"folder. Received: directory={directory!r}"
            )
        with _dtype_policy(settings.mixed_precision):
            model = settings.recipe.build(
                channels=settings.channels,
                seed=settings.seed,
                class_names=class_names,
            )
        latent_dim = settings.recipe.latent_dim
        start = 0, {}, fixed_noise(num_grid_images, latent_dim, settings.seed)
    if not isinstance(model, DCGAN):
        raise ValueError(
            "The checkpoint must hold a `keras_dcgan.DCGAN`. "
            f"Received: {type(model).__name__}"
        )
    return (model, *start)


def _prepare_folder(directory, settings, model, grid_noise, *, keep, resume):
    """Checks the room for the run's files; a new run saves its grid noise."""
    # `keep + 1` checkpoints exist for a moment, then the final model;
    # and `best.keras` with its replacement.
    files = keep + 2 + (2 if settings.select_best else 0)
    validation.check_free_space(
        directory, files * checkpoints.checkpoint_bytes(model)
    )
    if not resume:
        buffer = io.BytesIO()
        np.save(buffer, grid_noise)
        write_bytes_atomic(
            os.path.join(directory, GRID_NOISE_FILE), buffer.getvalue()
        )


def _callbacks(
    directory,
    settings,
    images,
    data,
    history,
    *,
    resume,
    keep,
    guard,
    more,
    grid,
    summary,
    tensorboard,
    health,
):
    """The callbacks of the run's `fit()`, in the order they must run.

    `history` (the run's losses so far) is shared with the loss curves and
    the checkpoints, which extend it; a resume rewrites `history.csv` to it.
    """
    best = None
    if settings.select_best:
        best = best_checkpoint.run_best_checkpoint(
            directory,
            images,
            every=settings.select_every,
            extractor=settings.select_extractor,
            seed=settings.seed,
            num_images=SELECT_NUM_IMAGES,
        )
        if resume:  # A selection added with `force`: history.csv's columns.
            history.setdefault("kid", [])
    csv_path = os.path.join(directory, HISTORY_FILE)
    if resume:
        # Drop rows of an epoch that was cut short before its checkpoint.
        _write_history_csv(csv_path, history)
    run_callbacks = [
        callbacks_lib.SetEpoch(data),
        # First: its "kid" is in the logs the others write, and it records
        # an epoch's evaluation once the epoch's checkpoint is committed
        # (at the next epoch's start or the end), before the report.
        *([best] if best is not None else []),
        guard,
        *more,
        grid,
        callbacks_lib.LossCurves(
            os.path.join(directory, CURVES_FILE), history=history
        ),
        keras.callbacks.CSVLogger(csv_path, append=resume),
    ]
    if tensorboard:
        logs_dir = os.path.join(directory, LOGS_DIR)
        run_callbacks.append(
            keras.callbacks.TensorBoard(logs_dir, write_graph=False)
        )
    if health:
        run_callbacks.append(callbacks_lib.TrainingHealth(seed=settings.seed))
    return run_callbacks + [
        callbacks_lib.Checkpoint(
            directory,
            settings.to_config(),
            history=history,
            epochs=settings.recipe.epochs,
            keep=keep,
        ),
        summary,
    ]


def _fit(
    model,
    data,
    run_callbacks,
    *,
    initial_epoch,
    epochs,
    resume,
    verbose,
    print_fn,
):
    """Trains the epochs from `initial_epoch` to `epochs`, if any are left."""
    if initial_epoch >= epochs:
        return
    if resume:
        print_fn(f"Resuming at epoch {initial_epoch + 1} of {epochs}.")
    model.fit(
        data,
        epochs=epochs,
        initial_epoch=initial_epoch,
        # The order is `data`'s; fit's own shuffle of batch indices uses
        # Python's global `random` and would break the resume.
        shuffle=False,
        callbacks=run_callbacks,
        verbose=verbose,
    )


def _finish(directory, model, grid, summary, settings):
    """Saves the final model; returns `train_run`'s dict of the run."""
    model_path = checkpoints.save_model_atomic(
        model, os.path.join(directory, MODEL_FILE)
    )
    record = checkpoints.read_checkpoint(directory)
    gif_path = os.path.join(directory, GRIDS_DIR, GIF_FILE)
    return {
        "model": model,
        "summary": summary.line,
        "epoch": record["epoch"] if record else 0,
        "model_path": model_path,
        "checkpoint": os.path.join(directory, CHECKPOINT_FILE),
        "grids": grid.frames(),
        "gif": gif_path if os.path.isfile(gif_path) else None,
        "curves": os.path.join(directory, CURVES_FILE),
        "csv": os.path.join(directory, HISTORY_FILE),
        "best": _best_result(directory) if settings.select_best else None,
    }


def _best_result(directory):
    record = best_checkpoint.read_best_record(directory)
    if not record or record.get("epoch") is None:
        return None
    return {
        "path": os.path.join(directory, record["model"]),
        "epoch": record["epoch"],
        "kid": record["kid"],
        "kid_std": record["kid_std"],
        "extractor": record["extractor"],
    }


@contextlib.contextmanager
def _dtype_policy(name):
    """Sets the global dtype policy to `name` (if any) for a `with` block."""
    if not name:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
