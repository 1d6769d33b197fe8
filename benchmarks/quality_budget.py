"""Sample quality at a fixed training budget: plain vs EMA generator.

Trains the chapter's recipe (`d2l`: Adam lr 0.005, beta_1 0.5) on the
60,000 Fashion-MNIST training images at 32x32x1 with batch 128 for a few
epochs, once per seed, then scores the trained generator and its EMA
average (`DCGAN(ema_decay=...)`) with the Fashion-MNIST evaluator: FD and
KID of generated images against the 10,000 test images, beside the
real-vs-real floor. With `--conditional` the model is class-conditional
(`num_classes=10`) and the script also reports, per class, how often the
evaluator's classifier assigns the images generated for that class to it;
`--discriminator label-channels` swaps the package's projection
discriminator for the older design that feeds the label to the
discriminator as one-hot image channels (Mirza and Osindero, 2014), to
compare the two, and `--discriminator classifier` adds AC-GAN's auxiliary
classifier to the projection discriminator (Odena et al., 2017);
`--generator batch-norm` adds conditional BatchNorm to every generator
block. `--truncation PSI` also scores the EMA generator on
noise truncated at PSI standard deviations. `--extra-ema-decays D ...`
keeps more averages of the same training, one per decay (with the model's
warm-up, see `DCGAN.update_ema`), and scores each as the EMA generator.

```
KERAS_BACKEND=tensorflow python benchmarks/quality_budget.py \
    --data fashion-mnist/ --seeds 0 1 --epochs 2 --json ema_tf.json
```

Scarce data: `--train-images N` trains on N training images drawn at
random with seed 0 (the same N images for every seed and setting),
`--steps N` sets the budget in steps (batches) instead of epochs, and
`--augment diffaugment|ada` augments what the discriminator sees (see
`keras_dcgan.augment`). `--score-every K` scores the model every K steps
and after the last, into each run's `timeline`: FD and KID of the EMA
generator on `--timeline-samples` images, the discriminator's mean D(x)
(inference mode) on up to 1,000 of the training images and on 1,000 test
images, and their gap, the overfitting signal; ADA's `aug_p` and `r_t`;
and the epoch means of D(x) and D(G(z)) so far. A discriminator that has
memorised its data shows as the gap and D(x) rising towards 1 while FD
rises. Once per setting:

```
for images in 500 2000; do for augment in none diffaugment ada; do
  KERAS_BACKEND=tensorflow python benchmarks/quality_budget.py \
      --data fashion-mnist/ --seeds 0 1 --train-images $images \
      --steps 2000 --score-every 250 --augment $augment \
      --json scarce_${images}_${augment}.json
done; done
```

`--data` is a folder of the four idx `.gz` files (without it, the data
come from tensorflow-datasets). `--save-dir DIR` keeps each seed's model;
`--load-dir DIR` scores those models again without training.
"""

import argparse
import json
import math
import os
import time

import keras
import numpy as np

from keras_dcgan import DCGAN, callbacks, datasets, evaluation, recipes
from keras_dcgan.cli.common import positive_int


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with the four idx .gz files")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=positive_int, default=2)
    budget.add_argument(
        "--steps", type=positive_int, help="train this many steps (batches)"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--recipe", default="d2l")
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument(
        "--augment", choices=("none", "diffaugment", "ada"), default="none"
    )
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument(
        "--discriminator",
        choices=("projection", "classifier", "label-channels"),
        default="projection",
        help="with --conditional: how the discriminator sees the label "
        "(classifier: projection and an auxiliary classifier)",
    )
    parser.add_argument(
        "--generator",
        choices=("embedding", "batch-norm"),
        default="embedding",
        help="with --conditional: how the generator sees the label (a label "
        "embedding beside the noise; batch-norm: also conditional BatchNorm "
        "in every block)",
    )
    parser.add_argument(
        "--truncation",
        type=float,
        help="also score the EMA generator with noise truncated at this bound",
    )
    parser.add_argument(
        "--extra-ema-decays",
        type=float,
        nargs="+",
        default=[],
        help="also keep and score averages of the same training at these "
        "decays",
    )
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument(
        "--train-images",
        type=positive_int,
        help="use only N training images, drawn at random with seed 0",
    )
    parser.add_argument(
        "--score-every",
        type=positive_int,
        help="score the model every K steps and after the last (timeline)",
    )
    parser.add_argument("--timeline-samples", type=positive_int, default=500)
    parser.add_argument("--save-dir", help="save each seed's model here")
    parser.add_argument(
        "--load-dir",
        help="score the models a --save-dir run saved here instead of training",
    )
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args()


def load_split(split, data, with_labels):
    dataset = datasets.load_fashion_mnist(
        split=split,
        image_size=32,
        batch_size=10000,
        path=data,
        with_labels=True,
        shuffle=False,
    )
    images, labels = zip(*dataset.as_numpy_iterator())
    images, labels = np.concatenate(images), np.concatenate(labels)
    return (images, labels) if with_labels else (images, None)


def generate(model, num_samples, args, seed, use_ema=True, truncation=None):
    """`(images, labels)`: the classes in turn if conditional."""
    labels, conditioning = None, {}
    if args.conditional:
        labels = np.arange(num_samples) % 10
        conditioning = {"labels": labels}
    images = model.generate(
        num_samples,
        seed=seed + 100,
        use_ema=use_ema,
        truncation=truncation,
        **conditioning,
    )
    return images, labels


def scores(
    model, test_images, extractor, classifier, args, seed, use_ema, truncation
):
    """FD, KID and, for a conditional model, per-class agreement."""
    images, labels = generate(
        model, args.num_samples, args, seed, use_ema, truncation
    )
    report = evaluation.quality_report(
        images, test_images, extractor, num_samples=args.num_samples, seed=0
    )
    fd, kid = report["metrics"]["fid"], report["metrics"]["kid"]
    result = {
        "fd": fd["value"],
        "fd_floor": fd["real_floor"],
        "kid": kid["value"],
        "kid_std": kid["std"],
        "kid_floor": kid["real_floor"],
    }
    if labels is not None:
        per_class = evaluation.per_class_accuracy(
            classifier, images, labels, 10
        )
        result["agreement_per_class"] = per_class
        result["agreement"] = float(np.mean(per_class))
    return result


def mean_real_prob(model, images, labels):
    """The discriminator's mean sigmoid output, in inference mode."""
    inputs = images if labels is None else [images, labels]
    logits = model.discriminator.predict(inputs, batch_size=500, verbose=0)
    if isinstance(logits, (list, tuple)):
        logits = logits[0]  # With an auxiliary classifier.
    logits = np.asarray(logits, dtype="float64")
    return float(np.mean(0.5 + 0.5 * np.tanh(0.5 * logits)))


def timeline_scores(
    model, real_features, extractor, train, heldout, args, seed
):
    """FD and KID of the EMA (else plain) generator, D(x) on training and
    held-out images and their gap, and ADA's `aug_p` and `r_t`."""
    images, _ = generate(model, args.timeline_samples, args, seed)
    fake = evaluation.extract_features(extractor, images)
    kid, _ = evaluation.kernel_distance(real_features, fake)
    point = {
        "fd": evaluation.frechet_distance(real_features, fake),
        "kid": kid,
        "d_train": mean_real_prob(model, *train),
        "d_heldout": mean_real_prob(model, *heldout),
    }
    point["d_gap"] = point["d_train"] - point["d_heldout"]
    if hasattr(model.augment, "r_t"):  # An AdaptiveAugment.
        point["aug_p"] = float(keras.ops.convert_to_numpy(model.augment.p))
        point["r_t"] = float(keras.ops.convert_to_numpy(model.augment.r_t))
    return point


def format_point(point):
    line = (
        f"step {point['step']:>6}: FD {point['fd']:7.2f} "
        f"KID {point['kid']:.4f} | D(x) train {point['d_train']:.3f} "
        f"held-out {point['d_heldout']:.3f} gap {point['d_gap']:+.3f}"
    )
    if "aug_p" in point:
        line += f" | p {point['aug_p']:.3f} r_t {point['r_t']:+.3f}"
    if "real_prob" in point:
        line += (
            f" | epoch D(x) {point['real_prob']:.3f} "
            f"D(G(z)) {point['fake_prob']:.3f}"
        )
    return line + f" | {point['train_seconds']:.0f}s"


class StepBudget(keras.callbacks.Callback):
    """Stops training after `steps` steps."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.done = 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


class Timeline(keras.callbacks.Callback):
    """`score(model)` every `every` steps and after the last, with the step,
    the epoch means of D(x) and D(G(z)) so far and the training seconds
    (the scoring left out), appended to `points` and printed."""

    def __init__(self, every, score):
        super().__init__()
        self.every = every
        self.score = score
        self.points = []
        self.steps = 0
        self.logs = {}
        self.start = None
        self.score_seconds = 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.logs = logs or {}
        if self.steps % self.every == 0:
            self.record()

    def on_train_end(self, logs=None):
        if not self.points or self.points[-1]["step"] != self.steps:
            self.record()

    def record(self):
        start = time.perf_counter()
        point = {"step": self.steps, **self.score(self.model)}
        for name in ("real_prob", "fake_prob"):
            if name in self.logs:
                point[name] = float(self.logs[name])
        seconds = start - self.start - self.score_seconds
        point["train_seconds"] = round(seconds, 1)
        self.points.append(point)
        self.score_seconds += time.perf_counter() - start
        print(format_point(point), flush=True)


def print_table(results, args):
    """One line per run: final FD and KID, the timeline's best FD, the
    last D(x) gap and `aug_p`."""
    images = args.train_images or "all"
    budget = f"{args.steps} steps" if args.steps else f"{args.epochs} epochs"
    print(f"augment {args.augment}, {images} training images, {budget}:")
    print(
        f"{'seed':>4} {'FD':>7} {'KID':>7} {'FD EMA':>7} {'KID EMA':>7} "
        f"{'best FD':>7} {'at step':>7} {'D gap':>6} {'aug_p':>6}"
    )
    for row in results:
        timeline = row.get("timeline") or [{}]
        best = min(timeline, key=lambda p: p.get("fd", math.inf))

        def cell(point, key, spec):
            return format(point[key], spec) if key in point else "-"

        print(
            f"{row['seed']:>4} {row['plain']['fd']:7.2f} "
            f"{row['plain']['kid']:7.4f} {row['ema']['fd']:7.2f} "
            f"{row['ema']['kid']:7.4f} {cell(best, 'fd', '7.2f'):>7} "
            f"{cell(best, 'step', '7d'):>7} "
            f"{cell(timeline[-1], 'd_gap', '+6.3f'):>6} "
            f"{cell(timeline[-1], 'aug_p', '6.3f'):>6}"
        )


class ExtraAverages(keras.callbacks.Callback):
    """Averages of the generator's trainable weights at more decays, updated
    after every step by the rule of `DCGAN.update_ema`."""

    def __init__(self, decays):
        super().__init__()
        self.decays = decays
        self.averages = None
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        current = [
            keras.ops.convert_to_numpy(w).astype("float32")
            for w in self.model.generator.trainable_weights
        ]
        if self.averages is None:
            self.averages = {
                d: [np.zeros_like(w) for w in current] for d in self.decays
            }
        for decay, average in self.averages.items():
            d = min(decay, (1.0 + self.steps) / (10.0 + self.steps))
            for a, w in zip(average, current):
                a *= d
                a += (1.0 - d) * w
        self.steps += 1

    def score(self, model, score_fn):
        """`score_fn()` of the model's EMA generator set to each average."""
        # The EMA copy is frozen: its weights pair with the generator's.
        pairs = zip(model.ema_generator.weights, model.generator.weights)
        weights = [average for average, current in pairs if current.trainable]
        expected = len(model.generator.trainable_weights)
        if len(weights) != expected:
            raise ValueError(
                f"Expected the EMA generator to pair {expected} weights with "
                f"the generator's trainable ones; it pairs {len(weights)}."
            )
        own = [keras.ops.convert_to_numpy(w) for w in weights]
        results = {}
        for decay, average in self.averages.items():
            for variable, value in zip(weights, average):
                variable.assign(value)
            model.recompute_ema_statistics()
            results[str(decay)] = score_fn()
        for variable, value in zip(weights, own):
            variable.assign(value)
        model.recompute_ema_statistics()
        return results


def build_with_label_channels(recipe, seed):
    """The recipe's conditional DCGAN, its discriminator seeing the label as
    one-hot image channels concatenated to the image."""
    keras.utils.set_random_seed(seed)
    generator, _ = recipe.build_networks(channels=1)
    classes, size = recipe.num_classes, recipe.image_size
    base = recipes.get_recipe(
        recipe.name, image_size=size, filters=recipe.filters
    ).build_networks(channels=1 + classes)[1]
    images = keras.Input((size, size, 1))
    labels = keras.Input((), dtype="int32")
    one_hot = keras.layers.Embedding(
        classes,
        classes,
        embeddings_initializer=keras.initializers.Identity(),
        trainable=False,
    )(labels)
    maps = keras.layers.UpSampling2D(size)(
        keras.layers.Reshape((1, 1, classes))(one_hot)
    )
    logits = base(keras.layers.Concatenate()([images, maps]))
    discriminator = keras.Model([images, labels], logits)
    model = DCGAN(
        generator,
        discriminator,
        latent_dim=recipe.latent_dim,
        seed=seed,
        ema_decay=recipe.ema_decay,
        num_classes=classes,
        augment=recipe.augment,
        mirror=recipe.mirror,
    )
    d_optimizer, g_optimizer = recipe.optimizers()
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)
    return model


def main():
    args = parse_args()
    backend = keras.backend.backend()
    if args.mixed_precision:
        keras.config.set_dtype_policy("mixed_bfloat16")
    train_images, train_labels = load_split(
        "train", args.data, args.conditional
    )
    if args.train_images:
        # The same images for every seed and setting.
        rng = np.random.default_rng(0)
        subset = np.sort(
            rng.choice(len(train_images), args.train_images, replace=False)
        )
        train_images = train_images[subset]
        if train_labels is not None:
            train_labels = train_labels[subset]
    test_images, test_labels = load_split("test", args.data, args.conditional)
    classifier, extractor = evaluation.load_fashion_mnist_evaluator()
    epochs = args.epochs
    if args.steps:
        steps_per_epoch = math.ceil(len(train_images) / args.batch_size)
        epochs = math.ceil(args.steps / steps_per_epoch)
    if args.score_every:
        # As `quality_report` splits them: the floor set, the reference.
        reference, floor = evaluation.split_real(
            test_images, args.timeline_samples
        )
        real_features = evaluation.extract_features(extractor, reference)
        timeline_floor = evaluation.frechet_distance(
            real_features, evaluation.extract_features(extractor, floor)
        )

        def first(images, labels, count=1000):
            return images[:count], None if labels is None else labels[:count]

        train = first(train_images, train_labels)
        heldout = first(test_images, test_labels)
    results = []
    for seed in args.seeds:
        start = time.perf_counter()
        if args.load_dir:
            model = keras.saving.load_model(
                os.path.join(args.load_dir, f"seed_{seed}.keras")
            )
            history = {}
        else:
            recipe = recipes.get_recipe(
                args.recipe,
                image_size=32,
                batch_size=args.batch_size,
                epochs=epochs,
                ema_decay=args.ema_decay,
                **({"num_classes": 10} if args.conditional else {}),
                conditional_batch_norm=args.generator == "batch-norm",
                auxiliary_classifier=args.discriminator == "classifier",
                augment=args.augment,
            )
            if args.discriminator == "label-channels":
                model = build_with_label_channels(recipe, seed)
            else:
                model = recipe.build(channels=1, seed=seed)
            averages = ExtraAverages(args.extra_ema_decays)
            fit_callbacks = [averages] if args.extra_ema_decays else []
            if args.steps:
                fit_callbacks.append(StepBudget(args.steps))
            if args.score_every:
                timeline = Timeline(
                    args.score_every,
                    lambda model: timeline_scores(
                        model,
                        real_features,
                        extractor,
                        train,
                        heldout,
                        args,
                        seed,
                    ),
                )
                fit_callbacks.append(timeline)
            history = model.fit(
                train_images,
                train_labels,
                batch_size=args.batch_size,
                epochs=epochs,
                verbose=0 if args.score_every else 2,
                callbacks=fit_callbacks,
            ).history
        seconds = time.perf_counter() - start
        if args.save_dir:
            os.makedirs(args.save_dir, exist_ok=True)
            model.save(os.path.join(args.save_dir, f"seed_{seed}.keras"))
        row = {
            "seed": seed,
            "train_seconds": None if args.load_dir else round(seconds, 1),
            "last_logs": {k: float(v[-1]) for k, v in history.items()},
        }
        if args.score_every and not args.load_dir:
            row["timeline_fd_floor"] = timeline_floor
            row["timeline"] = timeline.points
            row["timeline_seconds"] = round(timeline.score_seconds, 1)

        def score(use_ema, truncation=None):
            return scores(
                model,
                test_images,
                extractor,
                classifier,
                args,
                seed,
                use_ema,
                truncation,
            )

        row["plain"] = score(False)
        row["ema"] = score(True)
        if args.truncation:
            row["ema_truncated"] = score(True, args.truncation)
        if args.extra_ema_decays and not args.load_dir:
            row["ema_at"] = averages.score(model, lambda: score(True))
        results.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        "augment": args.augment,
        "backend": backend,
        "device": callbacks.device_name(),
        "cpu_count": os.cpu_count(),
        "args": vars(args),
        "runs": results,
    }
    for name in ("plain", "ema", "ema_truncated"):
        for metric in ("fd", "kid", "agreement"):
            values = [
                r[name][metric]
                for r in results
                if name in r and metric in r[name]
            ]
            if values:
                summary[f"{name}_{metric}_mean"] = float(np.mean(values))
    if "plain_fd_mean" in summary:
        summary["ema_fd_change"] = (
            summary["ema_fd_mean"] / summary["plain_fd_mean"] - 1.0
        )
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    print_table(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
