"""Endurance: memory and step time of a long run stay flat.

Trains a small DCGAN for 2,000 steps through `train_run()` (the path the
`keras-dcgan train` command takes: a checkpoint, an image grid, the loss
curves and the CSV log after every epoch, with the NaN guard on) and
records the process's resident memory every `--every` steps and the wall
time of every step.

```
KERAS_BACKEND=tensorflow python benchmarks/endurance.py
KERAS_BACKEND=jax python benchmarks/endurance.py --steps 2000
```

It prints one line per `--every` steps, then a summary: resident memory
after warm-up and at the end, the growth between them, and the median step
time over an early and a late window. It exits with status 1 when the
growth exceeds `--max-growth-mib` or the late median is more than
`--max-slowdown` times the early one, so it can run as a check.
"""

import argparse
import os
import sys
import tempfile
import time

import keras
import numpy as np

from keras_dcgan import recipes, runs

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib():
    """The resident memory of this process, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class Probe(keras.callbacks.Callback):
    """Records the step times and, every `every` steps, the memory."""

    def __init__(self, every, print_fn=print):
        super().__init__()
        self.every = every
        self.print_fn = print_fn
        self.step = 0
        self.times = []
        self.memory = []
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["d_loss"])  # Wait for the step to finish.
        self.times.append(time.perf_counter() - self._start)
        self.step += 1
        if self.step % self.every == 0:
            self.memory.append((self.step, rss_mib()))
            recent = np.median(self.times[-self.every :]) * 1e3
            self.print_fn(
                f"step {self.step:5d}  rss {self.memory[-1][1]:7.1f} MiB  "
                f"median step {recent:6.2f} ms"
            )


def run(steps, every, steps_per_epoch, batch_size, image_size, print_fn=print):
    """Trains for `steps` steps; returns the measurements as a dict."""
    epochs = -(-steps // steps_per_epoch)
    recipe = recipes.get_recipe(
        "d2l",
        image_size=image_size,
        filters=8,
        latent_dim=16,
        batch_size=batch_size,
        epochs=epochs,
    )
    rng = np.random.default_rng(0)
    images = rng.integers(
        0, 256, (steps_per_epoch * batch_size, image_size, image_size, 3)
    ).astype(np.uint8)
    probe = Probe(every, print_fn)
    with tempfile.TemporaryDirectory() as directory:
        runs.train_run(
            directory,
            images,
            recipe,
            callbacks=[probe],
            gif=False,
            verbose=0,
            print_fn=lambda line: None,
        )
    times = np.array(probe.times)
    window = max(steps // 10, 1)
    # Memory after the first tenth of the run (compilation, first
    # checkpoint and plots done) against the end.
    warm = next(m for s, m in probe.memory if s >= window)
    end = probe.memory[-1][1]
    return {
        "backend": keras.backend.backend(),
        "steps": len(times),
        "rss_warm_mib": warm,
        "rss_end_mib": end,
        "rss_growth_mib": end - warm,
        "rss_max_mib": max(m for _, m in probe.memory),
        "early_ms": float(np.median(times[window : 2 * window]) * 1e3),
        "late_ms": float(np.median(times[-window:]) * 1e3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--max-growth-mib", type=float, default=64.0)
    parser.add_argument("--max-slowdown", type=float, default=1.5)
    args = parser.parse_args(argv)
    result = run(
        args.steps,
        args.every,
        args.steps_per_epoch,
        args.batch_size,
        args.image_size,
    )
    slowdown = result["late_ms"] / result["early_ms"]
    print(
        f"{result['backend']}: {result['steps']} steps; resident memory "
        f"{result['rss_warm_mib']:.1f} MiB after warm-up, "
        f"{result['rss_end_mib']:.1f} MiB at the end (growth "
        f"{result['rss_growth_mib']:+.1f} MiB, max "
        f"{result['rss_max_mib']:.1f}); median step "
        f"{result['early_ms']:.2f} ms early, {result['late_ms']:.2f} ms late "
        f"(x{slowdown:.2f})"
    )
    ok = (
        result["rss_growth_mib"] <= args.max_growth_mib
        and slowdown <= args.max_slowdown
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
