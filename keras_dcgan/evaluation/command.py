"""The `keras-dcgan evaluate` sub-command.

`add_parser(subparsers)` adds `evaluate` to the command's parser and
`run(args)` runs it. It can also run on its own:

```
python -m keras_dcgan.evaluation.command evaluate --model run/model.keras \
    --dataset fashion-mnist --data ../shared/data/fashion-mnist
```
"""

import argparse
import os
import sys
import time

import numpy as np

PROG = "keras-dcgan evaluate"
DATASETS = ("fashion-mnist", "pokemon", "folder")
EXTRACTORS = ("auto", "evaluator", "inception", "random")


def add_parser(subparsers):
    """Adds the `evaluate` sub-command to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure sample quality (FID, KID, precision/recall, ...)",
        description=(
            "Generate images with a saved model and compare their features "
            "with real images: FID, KID, precision, recall, density, "
            "coverage, each beside the real-vs-real value at the same "
            "sample counts, and a memorisation check where the dataset has "
            "a held-out split."
        ),
    )
    parser.add_argument(
        "--model", required=True, help="a saved DCGAN or generator (.keras)"
    )
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument(
        "--data",
        help="data folder: the four idx .gz files (fashion-mnist), "
        "pokemon.zip or its folder (pokemon), or an image folder (folder)",
    )
    parser.add_argument(
        "--classes",
        help="fashion-mnist only: comma-separated category names or indices",
    )
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument(
        "--extractor",
        choices=EXTRACTORS,
        default="auto",
        help="features: the Fashion-MNIST evaluator, InceptionV3 (needs its "
        "ImageNet weights), or a fixed random CNN; auto picks the evaluator "
        "for fashion-mnist and the random CNN otherwise",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the report as JSON here")
    parser.set_defaults(command="evaluate")
    return parser


class UsageError(Exception):
    """A user mistake, reported as one line."""


def _load_model(path):
    import keras

    import keras_dcgan  # noqa: F401  (registers the DCGAN classes)

    if not os.path.isfile(path):
        raise UsageError(f"--model: no such file: {path}")
    if not path.endswith(".keras"):
        raise UsageError(f"--model must be a .keras file. Received: {path}")
    model = keras.saving.load_model(path, compile=False)
    generator = getattr(model, "generator", model)
    shape = tuple(generator.output_shape[1:])
    if len(shape) != 3:
        raise UsageError(
            f"--model must generate images (batch, height, width, channels); "
            f"its output shape is {generator.output_shape}"
        )
    return model, shape


def _real_images(args, image_shape, count):
    """Returns `(held_out_or_all_real, train_or_None)` images."""
    from keras_dcgan import datasets

    size, channels = image_shape[0], image_shape[2]
    if image_shape[0] != image_shape[1]:
        raise UsageError(f"the model makes non-square images {image_shape}")
    if args.dataset == "fashion-mnist":
        classes = (
            [c.strip() for c in args.classes.split(",") if c.strip()]
            if args.classes
            else None
        )

        def split(name):
            return datasets.take_images(
                datasets.load_fashion_mnist(
                    split=name,
                    image_size=size,
                    classes=classes,
                    batch_size=1000,
                    path=args.data,
                    channels=channels,
                    shuffle=False,
                ),
                60000,
            )

        return split("test"), split("train")
    if args.classes:
        raise UsageError("--classes works only with --dataset fashion-mnist")
    if args.dataset == "pokemon":
        dataset = datasets.load_pokemon(
            batch_size=1000, image_size=size, path=args.data, shuffle=False
        )
        if channels != 3:
            raise UsageError("Pokemon images have 3 channels")
    else:
        if not args.data:
            raise UsageError("--dataset folder needs --data FOLDER")
        dataset = datasets.image_folder_dataset(
            args.data,
            batch_size=1000,
            image_size=size,
            channels=channels,
            shuffle=False,
        )
    images = datasets.take_images(dataset, count)
    # No held-out split: shuffle so the floor set is not one class folder.
    images = images[np.random.default_rng(0).permutation(len(images))]
    return images, None


def _extractor(args, image_shape):
    from keras_dcgan.evaluation import features

    kind = args.extractor
    if kind == "auto":
        kind = "evaluator" if args.dataset == "fashion-mnist" else "random"
    if kind == "evaluator":
        if tuple(image_shape) != features.EVALUATOR_IMAGE_SHAPE:
            raise UsageError(
                "the Fashion-MNIST evaluator takes 32x32x1 images; the model "
                f"makes {'x'.join(map(str, image_shape))} "
                "(use --extractor random or inception)"
            )
        _, extractor = features.load_fashion_mnist_evaluator()
        return extractor, "Fashion-MNIST evaluator CNN"
    if kind == "inception":
        extractor = features.build_inception_feature_extractor(image_shape)
        return extractor, "InceptionV3 (ImageNet) pool"
    extractor = features.build_random_feature_extractor(image_shape, seed=0)
    return extractor, "random-weight CNN, seed 0 (not comparable to FID)"


def run(args):
    """Runs `evaluate` with parsed arguments; returns the exit status."""
    try:
        return _run(args)
    except (UsageError, ValueError, FileNotFoundError, ConnectionError) as e:
        message = " ".join(str(e).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


def _run(args):
    from keras_dcgan.evaluation import report as reporting

    if args.num_samples < 6:
        raise UsageError(
            f"--num-samples must be at least 6. Received: {args.num_samples}"
        )
    start = time.perf_counter()
    model, image_shape = _load_model(args.model)
    extractor, extractor_name = _extractor(args, image_shape)
    real, train = _real_images(args, image_shape, 2 * args.num_samples)
    if len(real) < args.num_samples + 6:
        raise UsageError(
            f"--num-samples {args.num_samples} needs at least "
            f"{args.num_samples + 6} real images (half of them form the "
            f"real-vs-real floor); the dataset has {len(real)}"
        )
    real = real[: 2 * args.num_samples]
    result = reporting.quality_report(
        model,
        real,
        extractor,
        num_samples=args.num_samples,
        train_images=train,
        seed=args.seed,
        extractor_name=extractor_name,
    )
    result["model"] = args.model
    result["dataset"] = args.dataset
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(reporting.format_report(result))
    if args.json:
        reporting.write_report_json(result, args.json)
        print(f"Report written to {args.json}")
    return 0


def main(argv=None):
    """Runs `evaluate` alone: `python -m keras_dcgan.evaluation.command`."""
    parser = argparse.ArgumentParser(prog="keras-dcgan")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
