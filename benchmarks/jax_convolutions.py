"""Times the chapter's convolutions on JAX: XLA's own ops against keras-dcgan's.

For each stride-2 4x4 layer of the discriminator (and so, transposed, of the
generator), at batch 256, the median milliseconds of:

- `forward`: the strided convolution;
- `transposed`: its transpose (the generator's forward pass, and the
  discriminator's input gradient) as XLA computes it from
  `jax.linear_transpose` (a convolution of the zero-dilated input), and as
  `keras_dcgan.ops.jax` computes it (four 2x2 convolutions, one per output
  phase, for 16 or more filters);
- `kernel grad`: the convolution's kernel gradient.

The benchmark opts in to keeping XLA:CPU's convolutions off YNNPACK
(`prefer_fast_cpu_convolutions`) unless `XLA_FLAGS` says otherwise, so the
two commands compare the two settings:

    KERAS_BACKEND=jax python benchmarks/jax_convolutions.py
    KERAS_BACKEND=jax XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=\\
+individual_convolution python benchmarks/jax_convolutions.py
"""

import argparse
import os
import time

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from keras_dcgan.ops import jax as jax_ops  # noqa: E402

jax_ops.prefer_fast_cpu_convolutions()  # Before JAX starts.

# (side, in channels, out channels) of the discriminator's stride-2 layers.
LAYERS = ((64, 3, 64), (32, 64, 128), (16, 128, 256), (8, 256, 512))


def median_ms(fn, *args, repeats=5):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}")
    columns = ("forward", "transp. XLA", "transp. ours", "kernel grad")
    print(f"{'layer (ms)':>18} " + " ".join(f"{c:>12}" for c in columns))
    rng = np.random.default_rng(0)
    strides, padding = (2, 2), "same"
    for side, channels, filters in LAYERS:
        x = rng.normal(size=(args.batch_size, side, side, channels))
        x = jax.numpy.asarray(x, "float32")
        kernel = jax.numpy.asarray(
            rng.normal(0, 0.02, (4, 4, channels, filters)), "float32"
        )
        dy = jax.numpy.asarray(
            rng.normal(size=(args.batch_size, side // 2, side // 2, filters)),
            "float32",
        )
        spec = jax.ShapeDtypeStruct(x.shape, x.dtype)

        def forward(x, kernel):
            return jax_ops._conv(x, kernel, strides, padding)

        def xla_transposed(dy, kernel):
            return jax.linear_transpose(lambda x: forward(x, kernel), spec)(dy)[
                0
            ]

        def ours_transposed(dy, kernel):
            return jax_ops._transpose(dy, kernel, x.shape, strides, padding)

        def kernel_grad(x, kernel, dy):
            return jax_ops._conv_kernel_gradient(
                x, kernel, strides, padding, dy
            )

        runs = (
            (forward, x, kernel),
            (xla_transposed, dy, kernel),
            (ours_transposed, dy, kernel),
            (kernel_grad, x, kernel, dy),
        )
        times = [
            median_ms(jax.jit(fn), *inputs, repeats=args.repeats)
            for fn, *inputs in runs
        ]
        name = f"{side}x{side}x{channels}->{filters}"
        print(f"{name:>18} " + " ".join(f"{t:>12.0f}" for t in times))


if __name__ == "__main__":
    main()
