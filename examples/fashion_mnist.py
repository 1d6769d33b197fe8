"""
Title: DCGAN on Fashion-MNIST, one category at a time
Description: The chapter's second exercise: which clothing categories does a
DCGAN learn well?

## Introduction

The chapter ends with an exercise: "Apply DCGAN on Fashion-MNIST and see
which category works well and which does not." This script trains the
chapter's DCGAN, scaled to 32x32 grayscale images, on each chosen category
separately, and saves a grid of generated images per category next to a grid
of real ones, so the categories can be compared side by side.

Run it with the real data (downloaded by tensorflow-datasets, or read offline
from a folder holding the four original idx `.gz` files):

```
python examples/fashion_mnist.py --epochs 20 --data ../shared/data/fashion-mnist
```

`--dry-run` trains for one step on random images, to check the set-up.

## Setup

The Keras backend is chosen before Keras is imported: set `KERAS_BACKEND` to
`tensorflow`, `jax` or `torch`.
"""

import argparse
import os
import time

import keras

import keras_dcgan
from keras_dcgan import datasets, images

"""
## Hyperparameters

The chapter's recipe (Adam with `beta_1=0.5`, BatchNorm everywhere, N(0,
0.02) weights), at the learning rate of the DCGAN paper, which is steadier
on small grayscale images than the chapter's 0.005. `epochs` is small by
default; 20 epochs of 6,000 images per category give clear pictures.
"""

IMAGE_SHAPE = (32, 32, 1)
LATENT_DIM = 100
FILTERS = 64
LEARNING_RATE = 2e-4
BATCH_SIZE = 128


def parse_args():
    parser = argparse.ArgumentParser(description="DCGAN per category.")
    parser.add_argument("--epochs", type=int, default=2)  # 20 for real
    parser.add_argument(
        "--classes",
        default=",".join(datasets.FASHION_MNIST_CLASS_NAMES),
        help="comma-separated category names or indices",
    )
    parser.add_argument("--data", help="folder with the four idx .gz files")
    parser.add_argument("--output-dir", default="fashion_mnist_dcgan")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dry-run", action="store_true", help="one step on random images"
    )
    return parser.parse_args()


"""
## Data

`load_fashion_mnist` pads the 28x28 images to 32x32, scales them to [-1, 1]
and keeps only the requested category; `fake_dataset` stands in for it in a
dry run.
"""


def category_dataset(category, args):
    if args.dry_run:
        return datasets.fake_dataset(
            num_examples=8, image_shape=IMAGE_SHAPE, batch_size=8
        )
    return datasets.load_fashion_mnist(
        split="train",
        image_size=IMAGE_SHAPE[0],
        classes=[category],
        batch_size=BATCH_SIZE,
        path=args.data,
        seed=args.seed,
        drop_remainder=True,
    )


"""
## The model

The same two builders as for 64x64 Pokemon: at 32x32 the generator has three
`GBlock`s (256, 128, 64 channels) and the discriminator three `DBlock`s.
"""


def build_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras_dcgan.DCGAN(
        keras_dcgan.build_generator(LATENT_DIM, IMAGE_SHAPE, filters=FILTERS),
        keras_dcgan.build_discriminator(IMAGE_SHAPE, filters=FILTERS),
        latent_dim=LATENT_DIM,
        seed=seed,
    )
    model.compile(
        d_optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=0.5),
    )
    return model


"""
## Training, one category at a time

For each category: train, then save 21 generated images (3 rows of 7, as in
the chapter) and 21 real ones. The last epoch's losses are printed: a
discriminator loss near zero with a large generator loss means the
discriminator won and the generator stopped learning.
"""


def main():
    args = parse_args()
    os.makedirs(args.output_dir, exist_ok=True)
    categories = [c.strip() for c in args.classes.split(",") if c.strip()]
    epochs = 1 if args.dry_run else args.epochs
    print(
        f"{'category':<12}{'loss_D':>8}{'loss_G':>8}{'D(x)':>7}"
        f"{'D(G(z))':>9}{'seconds':>9}"
    )
    for category in categories:
        dataset = category_dataset(category, args)
        model = build_model(args.seed)
        start = time.perf_counter()
        logs = model.fit(dataset, epochs=epochs, verbose=0).history
        seconds = time.perf_counter() - start
        name = str(category).replace(" ", "_").replace("/", "_")
        images.save_image_grid(
            model.generate(21, seed=args.seed),
            os.path.join(args.output_dir, f"{name}_generated.png"),
            rows=3,
            cols=7,
        )
        real = next(iter(dataset.take(1).as_numpy_iterator()))[:21]
        images.save_image_grid(
            real,
            os.path.join(args.output_dir, f"{name}_real.png"),
            rows=3,
            cols=7,
        )
        print(
            f"{category:<12}{logs['d_loss'][-1]:>8.3f}{logs['g_loss'][-1]:>8.3f}"
            f"{logs['real_prob'][-1]:>7.2f}{logs['fake_prob'][-1]:>9.2f}"
            f"{seconds:>9.1f}"
        )
    print(f"Grids written to {args.output_dir}/")


"""
## Conclusion

Look at the grids side by side, each generated grid next to the real one of
its category, and at the last losses: a category on which the discriminator
wins outright (loss_D near 0, D(G(z)) near 0) is one the generator did not
learn. Telling categories apart with numbers rather than by eye needs a
quality metric, such as a Frechet or kernel distance on the features of a
Fashion-MNIST classifier.
"""

if __name__ == "__main__":
    main()
