"""keras-dcgan on the torch backend: eager against `jit_compile=True`.

With `jit_compile=True`, Keras's torch trainer runs the training step
through `torch.compile`. For each precision (float32, mixed_bfloat16) this
script builds two copies of the chapter's model (64x64x3, latent 100, 64
filters) from the same seed, one eager and one compiled, and:

1. trains both with plain gradient descent (SGD, learning rate 0.005) for
   `--check-steps` steps (default 1) on the same batches and prints the
   largest difference of their losses and of each variable's change,
   relative to that variable's largest change (compiled kernels fuse and
   reorder float operations, so the copies agree to rounding, not bit for
   bit; a GAN's steps amplify such differences about tenfold per step at
   the chapter's learning rate, so later steps compare the amplification,
   not the compiler; SGD keeps the change proportional to the gradient,
   where Adam's first steps move each weight by about the learning rate
   whatever the gradient's size);
2. times single steps of two copies compiled as the chapter does (Adam),
   eager and compiled, interleaved (eager, compiled, eager, ...) for
   `--rounds` rounds, and prints the time of the first compiled step (the
   compilation), the median images/s of each copy's fastest round and the
   ratio compiled / eager.

    python benchmarks/torch_compile.py --batch-size 256
"""

import argparse
import os
import statistics
import time

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch._inductor import config as inductor  # noqa: E402

import keras_dcgan  # noqa: E402

LATENT_DIM = 100
IMAGE_SHAPE = (64, 64, 3)


def build(jit_compile, policy, optimizer=None):
    """The chapter's DCGAN under `policy`, compiled with `jit_compile` and
    `optimizer` (a name) for both players, or the chapter's Adam."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = keras_dcgan.DCGAN(
            keras_dcgan.build_generator(LATENT_DIM, IMAGE_SHAPE),
            keras_dcgan.build_discriminator(IMAGE_SHAPE),
            latent_dim=LATENT_DIM,
            seed=0,
        )
    finally:
        keras.config.set_dtype_policy(previous)
    optimizers = {}
    if optimizer is not None:
        optimizers = {
            "d_optimizer": keras.optimizers.get(optimizer),
            "g_optimizer": keras.optimizers.get(optimizer),
        }
    model.compile(jit_compile=jit_compile, **optimizers)
    return model


def weights(model):
    return [
        keras.ops.convert_to_numpy(keras.ops.cast(v, "float32"))
        for v in model.generator.weights + model.discriminator.weights
    ]


def step(model, images):
    """Seconds of one training step, and its losses."""
    start = time.perf_counter()
    logs = model.train_on_batch(images, return_dict=True)
    losses = np.array([float(logs["d_loss"]), float(logs["g_loss"])])
    return time.perf_counter() - start, losses


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--check-steps", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--policies", default="float32,mixed_bfloat16", help="comma-separated"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    batches = [
        rng.uniform(-1, 1, (args.batch_size,) + IMAGE_SHAPE).astype("float32")
        for _ in range(args.check_steps)
    ]
    print(
        f"keras {keras.__version__}, torch {torch.__version__}, "
        f"batch {args.batch_size}"
    )
    sgd = {"class_name": "SGD", "config": {"learning_rate": 0.005}}
    for policy in args.policies.split(","):
        # Compiled code draws random numbers with its own generator unless
        # told to fall back to eager PyTorch's: the check needs the same
        # noise in both copies, the timing does not.
        inductor.fallback_random = True
        eager, compiled = build(False, policy, sgd), build(True, policy, sgd)
        initial = weights(eager)
        same = all(
            np.array_equal(a, b) for a, b in zip(initial, weights(compiled))
        )
        loss_diff = 0.0
        for images in batches:
            losses = step(eager, images)[1] - step(compiled, images)[1]
            loss_diff = max(loss_diff, np.abs(losses).max())
        update_diff = max(
            np.abs(a - b).max() / max(np.abs(a - w).max(), 1e-30)
            for a, b, w in zip(weights(eager), weights(compiled), initial)
        )
        print(
            f"{policy}: same initial weights: {same}; after "
            f"{args.check_steps} SGD step(s), largest loss difference "
            f"{loss_diff:.2e}, largest difference of a variable's change "
            f"relative to its largest change {update_diff:.2e}"
        )
        inductor.fallback_random = False
        eager, compiled = build(False, policy), build(True, policy)
        images = batches[0]
        step(eager, images)
        first = step(compiled, images)[0]
        best = {"eager": 0.0, "compiled": 0.0}
        for _ in range(args.rounds):
            for name, model in (("eager", eager), ("compiled", compiled)):
                step(model, images)  # warm up after the switch
                median = statistics.median(
                    step(model, images)[0] for _ in range(args.steps)
                )
                best[name] = max(best[name], args.batch_size / median)
        print(
            f"{policy}: first compiled step {first:.1f} s; eager "
            f"{best['eager']:.1f} img/s, jit_compile {best['compiled']:.1f} "
            f"img/s, ratio {best['compiled'] / best['eager']:.2f}x"
        )


if __name__ == "__main__":
    main()
