"""Exports a finished training run as a preset folder, with its model card.

Reads a run folder written by `keras-dcgan train` (its `checkpoint.json`,
`history.csv`, per-epoch grids and a model file), measures the generator's
quality against real images, and writes a preset folder that
`keras_dcgan.DCGAN.from_preset()` loads: the networks in float32 layers with
float16 kernels, and `metadata.json` with the recipe, the data, the training
time and hardware, the final losses and the quality figures.

Quality: `--quality fashion-mnist` uses the package's Fashion-MNIST evaluator
against the 10,000 test images; `--quality random-cnn` (for any other data)
uses a fixed random convolutional feature extractor against the real
images, which ranks models of the same data but is not comparable across
datasets. Both print the real-vs-real floor beside each number.

```
python benchmarks/export_preset.py runs/pokemon --name dcgan_pokemon_64 \
    --quality random-cnn --data pokemon.zip \
    --description "The chapter's DCGAN trained on Pokemon sprites."
```
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from keras_dcgan import (
    DCGAN,
    datasets,
    evaluation,
    images,
    pretrained,
    recipes,
)
from keras_dcgan.callbacks import device_name
from keras_dcgan.checkpoints import read_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a keras-dcgan run folder")
    parser.add_argument("--name", required=True, help="the preset's name")
    parser.add_argument("--description")
    parser.add_argument(
        "--model",
        help="the .keras file to export (default: the run's last checkpoint)",
    )
    parser.add_argument("--quality", choices=("fashion-mnist", "random-cnn"))
    parser.add_argument("--data", help="local copy of the training data")
    parser.add_argument(
        "--output",
        help="preset folder to write (default: the package's own)",
    )
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument(
        "--evolution",
        metavar="EPOCHS",
        help="comma-separated epochs, such as 1,5,10,20,40: writes "
        "FIGURES/<name>_evolution.png, the first row of each epoch's grid "
        "(the same noise), top to bottom",
    )
    parser.add_argument(
        "--evolution-only",
        action="store_true",
        help="only write the --evolution picture (for a run not exported)",
    )
    parser.add_argument(
        "--figures",
        metavar="DIR",
        help="also write <name>_samples.png (14 images, noise seed 0; 7 of "
        "each class for a conditional model) here",
    )
    return parser.parse_args()


def _array(dataset):
    return np.concatenate([np.asarray(batch) for batch in dataset])


def _quality(args, model, config):
    """Returns `(metadata dict, printable report)`."""
    agreement = None
    if args.quality == "fashion-mnist":
        test = datasets.load_fashion_mnist(
            split="test",
            path=args.data,
            batch_size=1000,
            shuffle=False,
            with_labels=True,
        )
        real, labels = (
            np.concatenate(a) for a in zip(*test.as_numpy_iterator())
        )
        classifier, extractor = evaluation.load_fashion_mnist_evaluator()
        against = "Fashion-MNIST test images"
        if model.num_classes:
            agreement = _agreement(model, classifier, real, labels)
    else:
        real = _array(
            datasets.load_pokemon(
                path=args.data,
                image_size=config["image_size"],
                batch_size=1000,
                shuffle=False,
            )
        )
        rng = np.random.default_rng(0)
        real = real[rng.permutation(len(real))[:6000]]
        extractor = evaluation.build_random_feature_extractor(
            tuple(real.shape[1:]), seed=0
        )
        against = "training images"
    report = evaluation.quality_report(
        model, real, extractor, num_samples=args.num_samples, seed=0
    )
    figures = {
        name: {
            "value": round(float(values["value"]), 4),
            "real_vs_real": round(float(values["real_floor"]), 4),
        }
        for name, values in report["metrics"].items()
    }
    quality = {
        "features": report["extractor"],
        "generated": args.num_samples,
        "against": f"{len(real) - args.num_samples} {against} as the "
        f"reference, {args.num_samples} others as the real-vs-real floor",
        "metrics": figures,
    }
    printable = evaluation.format_report(report)
    if agreement:
        quality["agreement"] = agreement
        printable += "\n" + json.dumps(agreement)
    return quality, printable


def _agreement(model, classifier, real, labels, per_class=1000):
    """The evaluator's agreement with the asked class, per class, beside
    its accuracy on the real test images of each class (the floor)."""
    generated = evaluation.class_agreement(
        model, classifier, per_class=per_class, seed=0
    )
    accuracy = evaluation.per_class_accuracy(
        classifier, real, labels, model.num_classes
    )
    names = model.class_names or [str(k) for k in range(model.num_classes)]
    return {
        "generated_per_class": per_class,
        "value": round(generated["mean"], 4),
        "real_test_accuracy": round(float(np.mean(accuracy)), 4),
        "per_class": {
            name: {"value": round(g, 4), "real_test_accuracy": round(a, 4)}
            for name, g, a in zip(names, generated["per_class"], accuracy)
        },
    }


def _training(run_dir, record):
    grids = sorted(os.listdir(os.path.join(run_dir, "grids")))
    grids = [g for g in grids if g.startswith("epoch_") and g.endswith(".png")]
    times = [os.path.getmtime(os.path.join(run_dir, "grids", g)) for g in grids]
    start = os.path.getmtime(os.path.join(run_dir, record["grid_noise"]))
    epoch_seconds = np.diff([start] + times)
    history = record["history"]
    return {
        "backend": record["backend"],
        "mixed_precision": record["config"].get("mixed_precision"),
        "hardware": f"{device_name()}, {os.cpu_count()} cores",
        "wall_time_s": round(times[-1] - start),
        "median_epoch_s": round(float(np.median(epoch_seconds)), 1),
        "final_losses": {
            name: round(float(values[-1]), 4)
            for name, values in history.items()
        },
        "keras": keras.__version__,
    }


def write_evolution(run_dir, epochs, path, grid_rows=3, padding=2):
    """Stacks the first row of the grids of `epochs` into one PNG."""
    from PIL import Image

    rows = []
    for epoch in epochs:
        name = os.path.join(run_dir, "grids", f"epoch_{epoch:03d}.png")
        pixels = np.asarray(Image.open(name).convert("RGB"))
        side = (pixels.shape[0] - padding) // grid_rows - padding
        # The top padding and the first row of cells.
        rows.append(pixels[: padding + side])
    bottom = np.full_like(rows[0][:padding], 255)
    # A 256-colour palette keeps the file small for a README.
    Image.fromarray(np.concatenate(rows + [bottom])).quantize(256).save(path)
    print(f"Wrote {path} (epochs {', '.join(map(str, epochs))})")


def main():
    args = parse_args()
    if args.evolution_only:
        os.makedirs(args.figures, exist_ok=True)
        write_evolution(
            args.run_dir,
            [int(e) for e in args.evolution.split(",")],
            os.path.join(args.figures, f"{args.name}_evolution.png"),
        )
        return
    record = read_checkpoint(args.run_dir)
    config = record["config"]
    path = args.model or os.path.join(args.run_dir, record["model"])
    # Trained under any dtype policy; exported as float32 networks.
    keras.config.set_dtype_policy("float32")
    trained = keras.saving.load_model(path, compile=False)
    fields = set(recipes.Recipe.__dataclass_fields__) - {"source", "name"}
    recipe = recipes.get_recipe(
        config["name"], **{k: v for k, v in config.items() if k in fields}
    )
    recipe = recipe.replace(epochs=record["epochs"])
    model = recipe.build(
        channels=config["channels"], seed=0, class_names=trained.class_names
    )
    model.generator.set_weights(trained.generator.get_weights())
    model.discriminator.set_weights(trained.discriminator.get_weights())
    if model.ema_generator is not None and trained.ema_generator is not None:
        # The average that `generate()` samples from, as trained.
        model.ema_generator.set_weights(trained.ema_generator.get_weights())
        model.ema_updates.assign(trained.ema_updates)
    epoch = int(os.path.basename(path).split("_")[-1].split(".")[0])
    started = time.time()
    quality, printable = _quality(args, model, config)
    print(printable)
    print(f"quality measured in {time.time() - started:.0f} s")
    metadata = {
        "name": args.name,
        "description": args.description,
        "recipe": dict(
            recipe.to_config(), source=recipes.RECIPES[recipe.name].source
        ),
        "data": config.get("dataset"),
        "epochs": epoch,
        "epochs_trained": record["epoch"],
        "image_shape": list(model.image_shape),
        "latent_dim": model.latent_dim,
        "training": _training(args.run_dir, record),
        "quality": quality,
    }
    output = args.output or os.path.join(
        os.path.dirname(pretrained.__file__), args.name
    )
    metadata = pretrained.export_preset(model, output, metadata)
    size = sum(
        os.path.getsize(os.path.join(output, f)) for f in os.listdir(output)
    )
    print(json.dumps(metadata, indent=2))
    print(f"Wrote {output} ({size / 2**20:.2f} MiB)")
    check = DCGAN.from_preset(output)
    difference = np.abs(check.generate(64, seed=0) - model.generate(64, seed=0))
    print(
        f"float16 kernels vs float32: max |difference| {difference.max():.2e}"
    )
    if args.figures:
        os.makedirs(args.figures, exist_ok=True)
        samples = os.path.join(args.figures, f"{args.name}_samples.png")
        if check.num_classes:  # A row of 7 for each class.
            labels = np.repeat(np.arange(check.num_classes), 7)
            grid = check.generate(len(labels), seed=0, labels=labels)
            images.save_image_grid(grid, samples, rows=check.num_classes)
        else:
            images.save_image_grid(check.generate(14, seed=0), samples, rows=2)
        print(f"Wrote {samples}")
        if args.evolution:
            write_evolution(
                args.run_dir,
                [int(e) for e in args.evolution.split(",")],
                os.path.join(args.figures, f"{args.name}_evolution.png"),
            )


if __name__ == "__main__":
    main()
