"""`keras-dcgan evaluate`: measure the quality of generated images.

Compares the features of generated images (made by a saved model, or your
own folder or `.npy` file of images) with real images: FID, KID, precision,
recall, density and coverage, each beside the real-vs-real value, and a
memorisation check where the dataset has a held-out split.

The Frechet distance is computed on the features of the extractor named in
the output. With InceptionV3 it uses Keras's ImageNet weights, so it is not
the published FID (computed with the TensorFlow FID-Inception graph) and is
not comparable to papers; pass `--extractor-weights` with a `.keras`
extractor of your own for numbers comparable to its other uses.
"""

import os
import time

import numpy as np

from keras_dcgan.cli.common import (
    UsageError,
    add_common_options,
    load_model,
    positive_int,
)

DATASETS = ("fashion-mnist", "pokemon", "folder")
EXTRACTORS = ("auto", "evaluator", "inception", "random")
INCEPTION_NAME = (
    "InceptionV3 pool, Keras ImageNet weights (not the published FID)"
)


def add_parser(subparsers):
    """Adds `evaluate` to the command's subparsers."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure sample quality (FID, KID, precision/recall, ...)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model",
        metavar="PATH",
        help="a saved DCGAN or generator (.keras), or a run folder (the "
        "report is then also written to the run's quality.json)",
    )
    source.add_argument(
        "--samples",
        metavar="DIR_OR_NPY",
        help="generated images to score: a folder of images, or a .npy "
        "array (count, height, width, channels) of uint8 pixels or floats "
        "in [-1, 1]",
    )
    parser.add_argument("--dataset", choices=DATASETS, default="fashion-mnist")
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="your copy of the real images: the fashion-mnist folder of idx "
        "files, pokemon.zip or its folder, or an image folder (folder); "
        "fashion-mnist and pokemon are downloaded when not given",
    )
    parser.add_argument(
        "--classes",
        help="fashion-mnist only: comma-separated category names or indices",
    )
    parser.add_argument("--num-samples", type=positive_int, default=1000)
    parser.add_argument(
        "--extractor",
        choices=EXTRACTORS,
        default="auto",
        help="features: the Fashion-MNIST evaluator, InceptionV3 (needs its "
        "ImageNet weights), or a fixed random CNN; auto picks the evaluator "
        "for fashion-mnist and the random CNN otherwise",
    )
    parser.add_argument(
        "--extractor-weights",
        metavar="FILE",
        help="your own feature extractor, a .keras model from images in "
        "[-1, 1] to feature vectors (replaces --extractor)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", metavar="FILE", help="also write the report as JSON here"
    )
    add_common_options(parser)
    parser.set_defaults(run=run)
    return parser


def _image_shape(model):
    generator = getattr(model, "generator", model)
    return tuple(generator.output_shape[1:])


def _first_image_size(folder):
    """`(side, channels)` of the first image file under `folder`."""
    from PIL import Image

    for root, dirs, files in sorted(os.walk(folder)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            try:
                with Image.open(os.path.join(root, name)) as image:
                    gray = image.mode in ("1", "L", "I", "I;16", "F")
                    return max(image.size), 1 if gray else 3
            except OSError:
                continue
    raise UsageError(
        f"--samples holds no readable image. Received: --samples={folder}"
    )


def _load_samples(path, limit):
    """Generated images from a folder or a `.npy` file, in [-1, 1]."""
    from keras_dcgan import datasets

    if os.path.isdir(path):
        size, channels = _first_image_size(path)
        dataset = datasets.image_folder_dataset(
            path,
            batch_size=1000,
            image_size=size,
            channels=channels,
            shuffle=False,
        )
        return datasets.take_images(dataset, limit)
    if not (path.endswith(".npy") and os.path.isfile(path)):
        raise UsageError(
            "--samples must be a folder of images or a .npy file. "
            f"Received: --samples={path}"
        )
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(
            f"--samples could not be read ({error}). Received: --samples={path}"
        ) from None
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise UsageError(
            "--samples must hold an array (count, height, width, channels) "
            "with 1 or 3 channels. Received: shape "
            f"{images.shape} in --samples={path}"
        )
    images = images[:limit]
    if images.dtype == np.uint8:
        return images.astype("float32") / 127.5 - 1.0
    images = images.astype("float32")
    if images.size and not (images.min() >= -1.0 and images.max() <= 1.0):
        raise UsageError(
            "--samples must hold uint8 pixels or floats in [-1, 1]. "
            f"Received: values from {images.min():.3g} to {images.max():.3g}"
            f" in --samples={path}"
        )
    return images


def _real_images(args, image_shape, count):
    """Returns `(held_out_or_all_real, train_or_None)` images."""
    from keras_dcgan import datasets

    size, channels = image_shape[0], image_shape[2]
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
        raise UsageError("--classes works only with --dataset fashion-mnist.")
    if args.dataset == "pokemon":
        if channels != 3:
            raise UsageError(
                "Pokemon images have 3 channels; the model makes "
                f"{channels}. Received: --dataset=pokemon"
            )
        dataset = datasets.load_pokemon(
            batch_size=1000, image_size=size, path=args.data, shuffle=False
        )
    else:
        if not args.data:
            raise UsageError("--dataset folder needs --data FOLDER.")
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
    from keras_dcgan import checkpoints
    from keras_dcgan.evaluation import features

    if args.extractor_weights:
        path = args.extractor_weights
        if not (path.endswith(".keras") and os.path.isfile(path)):
            raise UsageError(
                "--extractor-weights must be a .keras model file. "
                f"Received: --extractor-weights={path}"
            )
        try:
            extractor = checkpoints.load_model(path, compile=False)
        except ValueError as error:
            raise UsageError(f"--extractor-weights: {error}") from error
        return extractor, f"your extractor {os.path.basename(path)}"
    kind = args.extractor
    if kind == "auto":
        kind = "evaluator" if args.dataset == "fashion-mnist" else "random"
    if kind == "evaluator":
        if tuple(image_shape) != features.EVALUATOR_IMAGE_SHAPE:
            raise UsageError(
                "the Fashion-MNIST evaluator takes 32x32x1 images; the "
                f"generated images are {'x'.join(map(str, image_shape))} "
                "(use --extractor random or inception)."
            )
        _, extractor = features.load_fashion_mnist_evaluator()
        return extractor, "Fashion-MNIST evaluator CNN"
    if kind == "inception":
        extractor = features.build_inception_feature_extractor(image_shape)
        return extractor, INCEPTION_NAME
    extractor = features.build_random_feature_extractor(image_shape, seed=0)
    return extractor, "random-weight CNN, seed 0 (not comparable to FID)"


def _score_samples(samples, real, extractor, args, name):
    """The report of `--samples`: every metric against all the real images.

    Two identical image sets score 0. The real-vs-real column compares the
    first half of the real images with the other half.
    """
    from keras_dcgan.evaluation import report as reporting

    def features_of(images):
        return reporting.extract_features(extractor, images, 256)

    real_features = features_of(real)
    half = len(real) // 2
    result = reporting.compare_features(
        real_features, features_of(samples), None, seed=args.seed
    )
    floor = reporting.compare_features(
        real_features[half:], real_features[:half], None, seed=args.seed
    )
    for metric, entry in result["metrics"].items():
        entry["real_floor"] = floor["metrics"][metric]["value"]
        if "std" in entry:
            entry["real_floor_std"] = floor["metrics"][metric]["std"]
    result["num_floor"] = half
    result["floor"] = f"{half} real images vs the other {len(real) - half}"
    result["extractor"] = name
    result["num_features"] = int(real_features.shape[1])
    result["memorization"] = None
    return result


def run(args):
    """Runs `evaluate` with parsed arguments; returns the exit status."""
    from keras_dcgan.evaluation import report as reporting

    if args.num_samples < 6:
        raise UsageError(
            "--num-samples must be at least 6. "
            f"Received: --num-samples={args.num_samples}"
        )
    start = time.perf_counter()
    if args.samples:
        model = _load_samples(args.samples, args.num_samples)
        image_shape = tuple(model.shape[1:])
        num_samples = len(model)
        if num_samples < 6:
            raise UsageError(
                f"--samples must hold at least 6 images; it holds "
                f"{num_samples}. Received: --samples={args.samples}"
            )
    else:
        model = load_model(args.model, generator_ok=True)
        image_shape = _image_shape(model)
        num_samples = args.num_samples
    if image_shape[0] != image_shape[1]:
        raise UsageError(f"the images must be square; they are {image_shape}.")
    try:
        extractor, extractor_name = _extractor(args, image_shape)
    except ConnectionError as error:  # Weights that could not be fetched.
        raise UsageError(str(error)) from None
    real, train = _real_images(args, image_shape, 2 * num_samples)
    if args.samples:
        if len(real) < 12:
            raise UsageError(
                "the real images must be at least 12 (two halves form the "
                f"real-vs-real column); the dataset has {len(real)}."
            )
        result = _score_samples(model, real, extractor, args, extractor_name)
    else:
        if len(real) < num_samples + 6:
            raise UsageError(
                f"--num-samples {num_samples} needs at least "
                f"{num_samples + 6} real images (half of them form the "
                f"real-vs-real floor); the dataset has {len(real)}."
            )
        result = reporting.quality_report(
            model,
            real[: 2 * num_samples],
            extractor,
            num_samples=num_samples,
            train_images=train,
            seed=args.seed,
            extractor_name=extractor_name,
        )
    result["model"] = args.model
    result["samples"] = args.samples
    result["dataset"] = args.dataset
    result["seconds"] = round(time.perf_counter() - start, 1)
    text = reporting.format_report(result)
    if args.samples:
        floor = result["floor"]
        text = text.replace(
            f"floor {result['num_floor']} real vs the same "
            f"{result['num_real']}",
            f"floor {floor}",
        )
    print(text)
    if extractor_name == INCEPTION_NAME:
        print(
            "FID here uses Keras's ImageNet InceptionV3 weights: it is not "
            "the published FID (TensorFlow FID-Inception graph) and not "
            "comparable to papers; --extractor-weights takes your own."
        )
    if args.json:
        reporting.write_report_json(result, args.json)
        print(f"Report written to {args.json}")
    if args.model and os.path.isdir(args.model):
        _record_in_run(args.model, result)
    return 0


def _record_in_run(run_dir, result):
    """Writes the report into the run folder and refreshes its page."""
    from keras_dcgan import checkpoints, run_report
    from keras_dcgan.evaluation import report as reporting

    if checkpoints.read_checkpoint(run_dir) is None:
        return
    path = os.path.join(run_dir, run_report.QUALITY_FILE)
    reporting.write_report_json(result, path)
    run_report.write_report(run_dir)
    print(f"Report written to {path} and {run_report.REPORT_FILE}")
