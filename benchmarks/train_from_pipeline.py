"""Training speed from `load_pokemon` against the same images in memory.

Trains the chapter's DCGAN on the Pokemon stand-in, alternating rounds that
read batches from the `load_pokemon` tf.data pipeline and rounds that read
the same images from a NumPy array (A B A B ...), and prints the median
seconds per step of each and their ratio.

    python benchmarks/train_from_pipeline.py --batch-size 64 --rounds 3
"""

import argparse
import statistics
import time

import keras
import numpy as np
from data_pipeline import default_path

import keras_dcgan
from keras_dcgan import datasets


class StepTimer(keras.callbacks.Callback):
    """Seconds per step, leaving out each `fit()`'s first (start-up) step."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["d_loss"])  # wait for the step to finish
        if batch > 0:
            self.times.append(time.perf_counter() - self.start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--path", default=default_path())
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    pipeline = datasets.load_pokemon(
        batch_size=args.batch_size, path=args.path, seed=0, drop_remainder=True
    )
    arrays = np.concatenate(list(pipeline.take(args.steps).as_numpy_iterator()))
    model = keras_dcgan.DCGAN(
        keras_dcgan.build_generator(), keras_dcgan.build_discriminator()
    )
    model.compile()
    model.fit(arrays[: args.batch_size], batch_size=args.batch_size, verbose=0)

    timers = {"load_pokemon": StepTimer(), "numpy arrays": StepTimer()}
    for _ in range(args.rounds):
        for name, timer in timers.items():
            if name == "load_pokemon":
                model.fit(
                    pipeline,
                    steps_per_epoch=args.steps,
                    callbacks=[timer],
                    verbose=0,
                )
            else:
                model.fit(
                    arrays,
                    batch_size=args.batch_size,
                    shuffle=False,
                    callbacks=[timer],
                    verbose=0,
                )
    medians = {n: statistics.median(t.times) for n, t in timers.items()}
    print(f"backend {keras.backend.backend()}, batch {args.batch_size}")
    for name, median in medians.items():
        print(
            f"{name:<14}{median:8.3f} s/step  {args.batch_size / median:7.1f}"
            f" images/s  ({len(timers[name].times)} steps)"
        )
    ratio = medians["load_pokemon"] / medians["numpy arrays"]
    print(f"pipeline / in-memory step time: {ratio:.3f}")


if __name__ == "__main__":
    main()
