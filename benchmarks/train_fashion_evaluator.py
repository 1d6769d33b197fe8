"""Trains the Fashion-MNIST evaluator that the quality metrics use.

The evaluator (`keras_dcgan.evaluation.build_fashion_mnist_evaluator`) is a
small CNN classifier of 32x32 grayscale images in [-1, 1], padded from 28x28
exactly as the DCGAN examples pad them. It is trained on the 60,000 training
images only; the 10,000 test images are used once, at the end, to measure
its accuracy. Its weights ship in the package as
`keras_dcgan/evaluation/fashion_mnist_evaluator.weights.h5`.

Reproduce the shipped file (about 9 minutes on 2 CPU cores with
TensorFlow; it printed `test_accuracy=0.9276`), with `--data` a folder of
the four idx `.gz` files:

```
KERAS_BACKEND=tensorflow python benchmarks/train_fashion_evaluator.py \
    --data fashion-mnist/
```

Without `--data` the images come from tensorflow-datasets (downloaded on
first use).
"""

import argparse
import os
import time

import keras
import numpy as np

from keras_dcgan import datasets
from keras_dcgan.evaluation import features


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder with the four idx .gz files")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=features.EVALUATOR_WEIGHTS)
    return parser.parse_args()


def load_split(split, args):
    dataset = datasets.load_fashion_mnist(
        split=split,
        image_size=32,
        batch_size=10000,
        path=args.data,
        with_labels=True,
        shuffle=False,
    )
    images, labels = zip(*dataset.as_numpy_iterator())
    return np.concatenate(images), np.concatenate(labels)


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    x_train, y_train = load_split("train", args)
    x_test, y_test = load_split("test", args)
    model = features.build_fashion_mnist_evaluator()
    steps = args.epochs * (len(x_train) // args.batch_size + 1)
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(2e-3, steps)
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    # Save from an uncompiled copy: the weights without the optimizer state.
    export = features.build_fashion_mnist_evaluator()
    export.set_weights(model.get_weights())
    export.save_weights(args.output)
    print(
        f"backend={keras.backend.backend()} epochs={args.epochs} "
        f"train_seconds={seconds:.0f} test_accuracy={accuracy:.4f} "
        f"(10,000 test images) weights={args.output} "
        f"bytes={os.path.getsize(args.output)}"
    )


if __name__ == "__main__":
    main()
