"""Seconds per training step of the chapter's DCGAN, on each Keras backend.

One step is a discriminator update plus a generator update on a batch of
64x64x3 images (latent 100, 64 filters), as in the chapter. Each backend runs
in its own process, since Keras fixes the backend at import; the backends are
run in turn, `--rounds` times (A B C A B C ...), and the median is reported.

    python benchmarks/step_time.py --batch-size 64 --steps 5 --rounds 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def worker(args):
    import keras
    import numpy as np

    import keras_dcgan

    model = keras_dcgan.DCGAN(
        keras_dcgan.build_generator(), keras_dcgan.build_discriminator()
    )
    model.compile(jit_compile=args.jit)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (args.batch_size, 64, 64, 3)).astype("float32")
    for _ in range(args.warmup):
        model.train_on_batch(images)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        logs = model.train_on_batch(images, return_dict=True)
        float(logs["d_loss"])  # wait for the result
        times.append(time.perf_counter() - start)
    print(json.dumps({"backend": keras.backend.backend(), "times": times}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--jit", default="auto", help="jit_compile value")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.jit = {"true": True, "false": False}.get(args.jit, args.jit)
        return worker(args)

    times = {backend: [] for backend in args.backends.split(",")}
    command = [sys.executable, __file__, "--worker"] + [
        f"--{name}={getattr(args, name.replace('-', '_'))}"
        for name in ("batch-size", "steps", "warmup", "jit")
    ]
    for _ in range(args.rounds):
        for backend in times:
            env = dict(os.environ, KERAS_BACKEND=backend)
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            out = subprocess.run(
                command, env=env, capture_output=True, text=True, check=True
            )
            times[backend] += json.loads(out.stdout.splitlines()[-1])["times"]
    print(f"chapter DCGAN, batch {args.batch_size}, jit_compile={args.jit}")
    print(f"{'backend':<12}{'s/step (median)':>16}{'images/s':>10}{'steps':>7}")
    for backend, values in times.items():
        median = statistics.median(values)
        rate = args.batch_size / median
        print(f"{backend:<12}{median:>16.3f}{rate:>10.1f}{len(values):>7}")


if __name__ == "__main__":
    main()
