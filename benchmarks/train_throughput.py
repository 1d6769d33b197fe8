"""Training throughput of keras-dcgan on each backend, against plain PyTorch.

Measures steady-state training images per second of the chapter's model
(64x64x3 images, latent 100, 64 filters; one step is a discriminator update
plus a generator update) for keras-dcgan on each Keras backend in each
configuration that makes sense there (`jit_compile` on or off, float32 or
the `mixed_bfloat16` policy), and for the plain-PyTorch reference of
`torch_reference.py` (eager NCHW, `channels_last`, `torch.compile`, bfloat16
autocast). It also measures generation (`DCGAN.generate`, batches of 256)
and training from the real `load_pokemon` pipeline against the same images
held in memory.

Every contender runs in its own process for each batch size (Keras fixes the
backend at import, and each process reports the peak RSS of that batch size
alone); the contenders run interleaved,
`--rounds` times (A B C A B C ...), so a change in machine load hits all of
them alike. Each process warms up, then times single `train_on_batch` steps
(the reference: single steps), waiting for each result by reading its loss.
The table gives the median images/s of each contender's fastest round (other
work on the machine only slows a contender down) and of all its timed steps,
the ratio to the reference `pt-nchw` measured in the same run, GFLOP/s and
percent of the
peak (the best of matmul and convolution kernels, measured at the start of
each round; float32 for float32 contenders, bfloat16 for bfloat16 ones).

    python benchmarks/train_throughput.py --quick   # a few minutes
    python benchmarks/train_throughput.py           # every contender
    python benchmarks/train_throughput.py --contenders tf-graph,pt-nchw \\
        --batch-sizes 256 --rounds 5
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

LATENT_DIM = 100
IMAGE_SIZE = 64
FILTERS = 64
REFERENCE = "pt-nchw"
BF16_REFERENCE = "pt-bf16-cl"

# name: (description, settings). `kind` is "keras" (keras-dcgan) or "torch"
# (the plain-PyTorch reference of `torch_reference.py`).
CONTENDERS = {
    "tf-graph": (
        "keras-dcgan TF, tf.function, float32",
        dict(kind="keras", backend="tensorflow", jit=False),
    ),
    "tf-xla": (
        "keras-dcgan TF, XLA, float32",
        dict(kind="keras", backend="tensorflow", jit=True),
    ),
    "tf-graph-bf16": (
        "keras-dcgan TF, tf.function, mixed_bfloat16",
        dict(kind="keras", backend="tensorflow", jit=False, bf16=True),
    ),
    "tf-xla-bf16": (
        "keras-dcgan TF, XLA, mixed_bfloat16",
        dict(kind="keras", backend="tensorflow", jit=True, bf16=True),
    ),
    "jax-jit": (
        "keras-dcgan JAX, jit, float32",
        dict(kind="keras", backend="jax", jit=True),
    ),
    "jax-jit-ynn": (
        "keras-dcgan JAX, jit, float32, XLA's default YNNPACK convolutions",
        dict(
            kind="keras",
            backend="jax",
            jit=True,
            xla_flags="--xla_cpu_experimental_ynn_fusion_type"
            "=+individual_convolution",
        ),
    ),
    "jax-jit-bf16": (
        "keras-dcgan JAX, jit, mixed_bfloat16",
        dict(kind="keras", backend="jax", jit=True, bf16=True),
    ),
    "torch-eager": (
        "keras-dcgan torch, eager, float32",
        dict(kind="keras", backend="torch", jit=False),
    ),
    "torch-eager-bf16": (
        "keras-dcgan torch, eager, mixed_bfloat16",
        dict(kind="keras", backend="torch", jit=False, bf16=True),
    ),
    "torch-compile": (
        "keras-dcgan torch, torch.compile, float32",
        dict(kind="keras", backend="torch", jit=True),
    ),
    "pt-nchw": (
        "plain PyTorch, eager NCHW, float32 (reference)",
        dict(kind="torch"),
    ),
    "pt-cl": (
        "plain PyTorch, eager channels_last, float32",
        dict(kind="torch", channels_last=True),
    ),
    "pt-compile": (
        "plain PyTorch, torch.compile channels_last, float32",
        dict(kind="torch", channels_last=True, compile=True),
    ),
    "pt-bf16-cl": (
        "plain PyTorch, bf16 autocast, channels_last",
        dict(kind="torch", channels_last=True, bf16=True),
    ),
}
QUICK_CONTENDERS = (
    "tf-graph",
    "tf-graph-bf16",
    "jax-jit",
    "torch-eager",
    "torch-eager-bf16",
    "pt-nchw",
    "pt-cl",
    "pt-compile",
    "pt-bf16-cl",
)


def flops_per_image(
    latent_dim=LATENT_DIM, image_size=IMAGE_SIZE, filters=FILTERS
):
    """Floating-point operations of one training step, per image.

    Counted from the layer shapes: a convolution's forward pass costs
    `2 * MACs`, its backward pass (input and weight gradients) twice that.
    One step runs G forward, D forward on the real and the fake batch and
    backward through both (the D update), then D forward and backward on the
    fakes and G backward (the G update): `2 F_G + 3 F_D` forward and
    `2 F_G + 6 F_D` backward. BatchNorm, activations, losses and the
    optimizers add well under 1% and are left out.

    Returns:
        `(step, generator_forward, discriminator_forward)` in FLOP per image.
    """
    blocks = image_size.bit_length() - 4
    widths = [filters * 2**i for i in range(blocks, -1, -1)]  # 512 ... 64
    # Generator: (input side, input channels, output channels) per layer;
    # a transposed convolution costs in_pixels * c_in * c_out * k * k MACs.
    g_layers = [(1, latent_dim, widths[0])]
    side = 4
    for c_in, c_out in zip(widths, widths[1:] + [3]):
        g_layers.append((side, c_in, c_out))
        side *= 2
    g_macs = sum(s * s * ci * co * 16 for s, ci, co in g_layers)
    # Discriminator: a convolution costs out_pixels * c_in * c_out * k * k.
    d_layers = []
    side, c_in = image_size // 2, 3
    for c_out in reversed(widths):
        d_layers.append((side, c_in, c_out))
        side, c_in = side // 2, c_out
    d_layers.append((1, c_in, 1))
    d_macs = sum(s * s * ci * co * 16 for s, ci, co in d_layers)
    f_g, f_d = 2 * g_macs, 2 * d_macs
    step = (2 * f_g + 3 * f_d) + 2 * (f_g + 3 * f_d)
    return step, f_g, f_d


# ---------------------------------------------------------------- workers


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(step, warmup, steps):
    """Seconds of each of `steps` calls of `step()`, after `warmup` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _random_images(batch_size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (batch_size, IMAGE_SIZE, IMAGE_SIZE, 3)
    return rng.uniform(-1, 1, shape).astype("float32")


def _build_keras_model(settings):
    import keras

    import keras_dcgan

    if settings.get("bf16"):
        keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras_dcgan.DCGAN(
        keras_dcgan.build_generator(LATENT_DIM, (IMAGE_SIZE,) * 2 + (3,)),
        keras_dcgan.build_discriminator((IMAGE_SIZE,) * 2 + (3,)),
        latent_dim=LATENT_DIM,
        seed=0,
    )
    model.compile(jit_compile=settings["jit"])
    return model


def keras_worker(settings, args):
    model = _build_keras_model(settings)
    result = {"train": {}, "rss_mib": {}, "rss_start_mib": _peak_rss_mib()}
    for batch_size in args.batch_sizes:
        images = _random_images(batch_size)

        def step():
            logs = model.train_on_batch(images, return_dict=True)
            float(logs["d_loss"])

        result["train"][batch_size] = _timed(step, args.warmup, args.steps)
        result["rss_mib"][batch_size] = _peak_rss_mib()
    if args.generate:
        result["generate"] = _timed(
            lambda: model.generate(args.generate, seed=0, batch_size=256),
            1,
            args.generate_calls,
        )
    return result


def torch_worker(settings, args):
    import torch_reference

    trainer = torch_reference.Trainer(
        LATENT_DIM,
        FILTERS,
        IMAGE_SIZE,
        channels_last=settings.get("channels_last", False),
        compile=settings.get("compile", False),
        bfloat16=settings.get("bf16", False),
    )
    result = {"train": {}, "rss_mib": {}, "rss_start_mib": _peak_rss_mib()}
    for batch_size in args.batch_sizes:
        real = trainer.images(_random_images(batch_size))

        def step():
            loss_d, _ = trainer.train_step(real)
            float(loss_d)

        result["train"][batch_size] = _timed(step, args.warmup, args.steps)
        result["rss_mib"][batch_size] = _peak_rss_mib()
    if args.generate:
        result["generate"] = _timed(
            lambda: trainer.generate(args.generate, batch_size=256),
            1,
            args.generate_calls,
        )
    return result


def pipeline_worker(settings, args):
    """Alternates `fit()` on `load_pokemon` and on the same images in memory."""
    import keras
    import numpy as np

    from keras_dcgan import datasets

    class StepTimer(keras.callbacks.Callback):
        """Seconds per step, leaving out each `fit()`'s first step."""

        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["d_loss"])  # wait for the step to finish
            if batch > 0:
                self.times.append(time.perf_counter() - self.start)

    batch_size = max(args.batch_sizes)
    pipeline = datasets.load_pokemon(
        batch_size=batch_size,
        path=args.pokemon,
        seed=0,
        drop_remainder=True,
        cache_file=args.pokemon_cache,
    )
    steps = args.steps + 1  # each fit's first step is left out
    arrays = np.concatenate(list(pipeline.take(steps).as_numpy_iterator()))
    model = _build_keras_model(settings)
    model.fit(arrays[:batch_size], batch_size=batch_size, verbose=0)
    timers = {"in-memory": StepTimer(), "load_pokemon": StepTimer()}
    for _ in range(2):
        model.fit(
            arrays,
            batch_size=batch_size,
            shuffle=False,
            callbacks=[timers["in-memory"]],
            verbose=0,
        )
        model.fit(
            pipeline,
            steps_per_epoch=steps,
            callbacks=[timers["load_pokemon"]],
            verbose=0,
        )
    return {
        "batch_size": batch_size,
        "times": {name: timer.times for name, timer in timers.items()},
        "rss_mib": _peak_rss_mib(),
    }


def peak_worker(settings, args):
    """Best dense-kernel GFLOP/s in float32 and bfloat16.

    The best of three kernels, since on this kind of CPU oneDNN's
    convolutions run faster than its matmul: PyTorch `mm` of square matrices
    (side 2048 on the CPU, 8192 on a GPU, TF32 off), NumPy's float32 matmul
    (CPU only) and PyTorch's `channels_last` forward convolution of D's third
    layer at batch 256 (4x4 kernels, 16x16x128 to 8x8x256).
    """
    import numpy as np
    import torch
    from torch_reference import default_device, synchronize

    device = default_device()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    n = 8192 if device.type == "cuda" else 2048

    def best(fn, flop):
        fn()
        synchronize(device)
        rate = 0.0
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            for _ in range(3):
                fn()
            synchronize(device)
            rate = max(rate, 3 * flop / (time.perf_counter() - start) / 1e9)
        return rate

    result = {"device": str(device)}
    conv_flop = 2 * 256 * 8 * 8 * 128 * 256 * 16
    for dtype in ("float32", "bfloat16"):
        kinds = {}
        a = torch.randn(n, n, device=device, dtype=getattr(torch, dtype))
        kinds["mm"] = best(lambda: torch.mm(a, a), 2 * n**3)
        if dtype == "float32" and device.type == "cpu":
            x = np.random.default_rng(0).standard_normal((n, n), "float32")
            kinds["numpy"] = best(lambda: x @ x, 2 * n**3)
        images = torch.randn(256, 128, 16, 16, device=device)
        images = images.to(
            getattr(torch, dtype), memory_format=torch.channels_last
        )
        kernel = torch.randn(256, 128, 4, 4, device=device)
        kernel = kernel.to(
            getattr(torch, dtype), memory_format=torch.channels_last
        )
        with torch.no_grad():
            kinds["conv"] = best(
                lambda: torch.nn.functional.conv2d(images, kernel, None, 2, 1),
                conv_flop,
            )
        result[dtype] = max(kinds.values())
        result[dtype + "_kernels"] = kinds
    return result


WORKERS = {
    "keras": keras_worker,
    "torch": torch_worker,
    "pipeline": pipeline_worker,
    "peak": peak_worker,
}


def worker_main(args):
    settings = json.loads(args.worker)
    if settings.get("backend") == "jax" and "xla_flags" not in settings:
        # The package's documented opt-in, before JAX computes anything.
        from keras_dcgan.ops.jax import prefer_fast_cpu_convolutions

        prefer_fast_cpu_convolutions()
    result = WORKERS[settings["kind"]](settings, args)
    print("RESULT " + json.dumps(result))


# ------------------------------------------------------------- the driver


def _run_worker(settings, args, batch_sizes=None, generate=None):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "backend" in settings:
        env["KERAS_BACKEND"] = settings["backend"]
    if "xla_flags" in settings:
        env["XLA_FLAGS"] = settings["xla_flags"]
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        json.dumps(settings),
        "--batch-sizes",
        ",".join(map(str, batch_sizes or args.batch_sizes)),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--generate",
        str(args.generate if generate is None else generate),
        "--generate-calls",
        str(args.generate_calls),
        "--pokemon-cache",
        args.pokemon_cache,
    ]
    if args.pokemon:
        command += ["--data", args.pokemon]
    try:
        out = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        print(
            f"worker {settings} failed: no result in {args.timeout:.0f} s",
            file=sys.stderr,
        )
        return None
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = "\n".join((out.stdout + out.stderr).splitlines()[-15:])
    print(f"worker {settings} failed:\n{tail}", file=sys.stderr)
    return None


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="contenders:\n"
        + "\n".join(f"  {n:<18}{d}" for n, (d, _) in CONTENDERS.items()),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a subset of contenders and few steps: a few minutes",
    )
    parser.add_argument("--contenders", help="comma-separated names")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--rounds", type=int, help="default 3 (quick: 2)")
    parser.add_argument("--steps", type=int, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--generate",
        type=int,
        default=512,
        help="images per timed generate() call (0: skip)",
    )
    parser.add_argument("--generate-calls", type=int, default=3)
    parser.add_argument(
        "--pipeline",
        default=None,
        help="backends to train from load_pokemon on, comma-separated "
        "(default: tensorflow; quick: tensorflow; 'none' to skip)",
    )
    parser.add_argument(
        "--data",
        dest="pokemon",
        metavar="PATH",
        help="your copy of pokemon.zip or its folder for the load_pokemon "
        "runs (default: downloaded once into the Keras cache)",
    )
    parser.add_argument(
        "--pokemon-cache",
        default=os.path.join(
            tempfile.gettempdir(), "keras_dcgan_bench_pokemon64.npy"
        ),
        help="load_pokemon's decoded-pixel cache file",
    )
    parser.add_argument(
        "--peak",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the peak GFLOP/s each round (default: on)",
    )
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument(
        "--plot", help="also plot images/s and peak RSS per batch size here"
    )
    parser.add_argument(
        "--report", help="print the tables of a file written by --json"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in str(args.batch_sizes).split(",")]
    if args.worker:
        return args
    if args.contenders:
        names = args.contenders.split(",")
    else:
        names = list(QUICK_CONTENDERS if args.quick else CONTENDERS)
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contenders {unknown}; known: {list(CONTENDERS)}")
    if REFERENCE not in names:
        names.append(REFERENCE)
    if BF16_REFERENCE not in names and any(
        CONTENDERS[n][1].get("bf16") for n in names
    ):
        names.append(BF16_REFERENCE)
    args.names = names
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.steps = args.steps or (3 if args.quick else 5)
    pipeline = args.pipeline or "tensorflow"
    args.pipeline = [] if pipeline == "none" else pipeline.split(",")
    if args.pokemon and not os.path.exists(args.pokemon):
        parser.error(
            f"--data must be an existing file or folder: {args.pokemon}"
        )
    return args


def _run_contender(settings, args):
    """One process per batch size, so each peak RSS is that batch size's.

    Generation is timed in the largest batch size's process.
    """
    merged = {"train": {}, "rss_mib": {}}
    for batch_size in args.batch_sizes:
        largest = batch_size == max(args.batch_sizes)
        result = _run_worker(
            settings,
            args,
            batch_sizes=[batch_size],
            generate=args.generate if largest else 0,
        )
        if result is None:
            return None
        merged["train"].update(result["train"])
        merged["rss_mib"].update(result["rss_mib"])
        merged["rss_start_mib"] = result["rss_start_mib"]
        if "generate" in result:
            merged["generate"] = result["generate"]
    return merged


def _median_rate(batch_size, times):
    return batch_size / statistics.median(times) if times else float("nan")


def _best_round_rate(batch_size, rounds):
    """The fastest round's median rate.

    Other work on the machine only ever slows a contender down, so the
    least disturbed round is the best estimate; within a round, the median.
    """
    rates = [_median_rate(batch_size, t) for t in rounds if t]
    return max(rates) if rates else float("nan")


def _spread(batch_size, rounds):
    """Largest minus smallest per-round median rate, in % of the median."""
    rates = [_median_rate(batch_size, t) for t in rounds if t]
    if len(rates) < 2:
        return float("nan")
    return 100 * (max(rates) - min(rates)) / statistics.median(rates)


def _report(args, results, peaks, pipeline):
    step_flops, f_g, _ = flops_per_image()
    print(
        f"\nchapter DCGAN {IMAGE_SIZE}x{IMAGE_SIZE}x3, latent {LATENT_DIM}, "
        f"{FILTERS} filters: {step_flops / 1e9:.2f} GFLOP per image per "
        f"training step, G forward {f_g / 1e9:.3f} GFLOP"
    )
    if peaks:
        peak = {k: max(p[k] for p in peaks) for k in ("float32", "bfloat16")}
        print(
            f"peak (best of matmul and convolution kernels on "
            f"{peaks[0]['device']}, best of {len(peaks)} rounds): "
            f"float32 {peak['float32']:.0f} GFLOP/s, bfloat16 "
            f"{peak['bfloat16']:.0f} GFLOP/s"
        )
    else:  # not measured: the %peak column is left empty
        peak = {"float32": float("nan"), "bfloat16": float("nan")}
    print(
        f"rounds {args.rounds}, {args.steps} timed steps per round after "
        f"{args.warmup} warm-up"
    )
    rows = {}
    header = (
        f"{'contender':<18}{'batch':>6}{'img/s':>8}{'all':>7}{'spread%':>8}"
        f"{'vs ref':>8}{'GFLOP/s':>9}{'%peak':>7}{'RSS MiB':>9}{'base':>6}"
        "  description"
    )
    print(
        "\ntraining, images/s: img/s = median of the fastest round, all = "
        "median of every timed step, spread = range of the round medians;\n"
        "vs ref = img/s / pt-nchw's; RSS = the peak of a process training at "
        "that batch size only, base = its peak before the first step"
    )
    print(header)
    for batch_size in args.batch_sizes:
        ref_rate = _best_round_rate(
            batch_size,
            [r["train"][str(batch_size)] for r in results[REFERENCE] if r],
        )
        for name in args.names:
            runs = [r for r in results[name] if r]
            if not runs:
                print(f"{name:<18}{batch_size:>6}  failed")
                continue
            per_round = [r["train"][str(batch_size)] for r in runs]
            times = [t for ts in per_round for t in ts]
            rate = _best_round_rate(batch_size, per_round)
            settings = CONTENDERS[name][1]
            dtype = "bfloat16" if settings.get("bf16") else "float32"
            gflops = rate * step_flops / 1e9
            rss = max(r["rss_mib"][str(batch_size)] for r in runs)
            base = max(r["rss_start_mib"] for r in runs)
            rows[(name, batch_size)] = dict(
                rate=rate, ratio=rate / ref_rate, rss=rss, dtype=dtype
            )
            print(
                f"{name:<18}{batch_size:>6}{rate:>8.1f}"
                f"{_median_rate(batch_size, times):>7.1f}"
                f"{_spread(batch_size, per_round):>8.0f}"
                f"{rate / ref_rate:>8.2f}{gflops:>9.0f}"
                f"{100 * gflops / peak[dtype]:>7.0f}{rss:>9.0f}{base:>6.0f}  "
                f"{CONTENDERS[name][0]}"
            )
    if args.generate:
        print(
            f"\ngeneration ({args.generate} images per generate() call, "
            "batch 256; median of the fastest round)"
        )
        for name in args.names:
            runs = [r for r in results[name] if r and "generate" in r]
            if runs:
                rate = _best_round_rate(
                    args.generate, [r["generate"] for r in runs]
                )
                rows[(name, "generate")] = dict(rate=rate)
                print(f"{name:<18}{rate:>8.0f} images/s")
    for backend, runs in pipeline.items():
        runs = [r for r in runs if r]
        if not runs:
            print(f"\npipeline on {backend}: failed")
            continue
        batch_size = runs[0]["batch_size"]
        memory = [t for r in runs for t in r["times"]["in-memory"]]
        real = [t for r in runs for t in r["times"]["load_pokemon"]]
        cost = statistics.median(real) / statistics.median(memory) - 1
        rows[("pipeline", backend)] = dict(cost=cost)
        print(
            f"\nfit() on {backend}, batch {batch_size}: in-memory "
            f"{_median_rate(batch_size, memory):.1f} images/s, load_pokemon "
            f"{_median_rate(batch_size, real):.1f} images/s "
            f"({len(real)} steps each): pipeline cost {100 * cost:+.1f}%"
        )
    _targets(args, rows)
    return rows, peak


def _targets(args, rows):
    """Each backend against the PyTorch reference of its dtype, at batch 256
    (or the largest batch size run, without it)."""
    batch_size = 256 if 256 in args.batch_sizes else max(args.batch_sizes)
    references = {"float32": REFERENCE, "bfloat16": BF16_REFERENCE}
    found = {
        dtype: rows.get((name, batch_size))
        for dtype, name in references.items()
    }
    if not any(found.values()):
        return
    print(f"\ntargets at batch {batch_size}")

    def line(ok, text):
        print(f"  [{'met' if ok else 'NOT met'}] {text}")

    goals = {"float32": 1.3, "bfloat16": 1.0}
    for dtype, ref in found.items():
        if not ref:
            continue
        best = {}
        for name in args.names:
            row = rows.get((name, batch_size))
            settings = CONTENDERS[name][1]
            if settings["kind"] != "keras" or not row or row["dtype"] != dtype:
                continue
            backend = settings["backend"]
            if row["rate"] > best.get(backend, (0, ""))[0]:
                best[backend] = (row["rate"], name)
            ratio = row["rss"] / ref["rss"]
            line(
                ratio <= 1.2,
                f"peak RSS {name} {row['rss']:.0f} MiB = {ratio:.2f}x "
                f"{references[dtype]}'s {ref['rss']:.0f} MiB (<= 1.2)",
            )
        for backend, (rate, name) in best.items():
            line(
                rate / ref["rate"] >= goals[dtype],
                f"{backend} {dtype} ({name}) {rate / ref['rate']:.2f}x "
                f"{references[dtype]} (>= {goals[dtype]})",
            )
        if dtype == "bfloat16" and best:
            rate, name = max(best.values())
            line(
                rate / ref["rate"] >= 1.5,
                f"best bfloat16 ({name}) {rate / ref['rate']:.2f}x "
                f"{references[dtype]} (>= 1.5)",
            )
    for key, value in rows.items():
        if key[0] == "pipeline":
            line(
                value["cost"] < 0.05,
                f"load_pokemon on {key[1]} costs "
                f"{100 * value['cost']:+.1f}% vs in-memory (< 5%)",
            )


def _plot(args, rows, started):
    """Images/s and peak RSS against the batch size, one line a contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (speed, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in args.names:
        sizes = [b for b in args.batch_sizes if (name, b) in rows]
        for axis, key in ((speed, "rate"), (memory, "rss")):
            values = [rows[(name, b)][key] for b in sizes]
            axis.plot(sizes, values, marker="o", label=name)
    for axis, label in (
        (speed, "training images/s"),
        (memory, "peak RSS (MiB)"),
    ):
        axis.set_xscale("log", base=2)
        axis.set_xticks(args.batch_sizes, [str(b) for b in args.batch_sizes])
        axis.set_xlabel("batch size")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    speed.legend()
    figure.suptitle(f"chapter DCGAN 64x64x3, {started}")
    figure.tight_layout()
    figure.savefig(args.plot, dpi=100)
    print(f"plot: {args.plot}")


def main(argv=None):
    args = _parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.report:
        with open(args.report) as f:
            saved = json.load(f)
        plot = args.plot
        args = _parse_args(saved["argv"])
        print(f"{saved['started']}: {' '.join(saved['argv'])}")
        rows, _ = _report(
            args, saved["results"], saved["peaks"], saved["pipeline"]
        )
        if plot:
            args.plot = plot
            _plot(args, rows, saved["started"])
        return 0
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"{started}; {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.1f}; contenders {','.join(args.names)}; "
        f"batch sizes {args.batch_sizes}; pipeline {args.pipeline or 'none'}"
    )
    results = {name: [] for name in args.names}
    pipeline = {backend: [] for backend in args.pipeline}
    peaks = []
    for round_index in range(args.rounds):
        if args.peak:
            peaks.append(_run_worker({"kind": "peak"}, args))
        for name in args.names:
            start = time.perf_counter()
            results[name].append(_run_contender(CONTENDERS[name][1], args))
            print(
                f"round {round_index + 1}/{args.rounds} {name}: "
                f"{time.perf_counter() - start:.0f} s, load average "
                f"{os.getloadavg()[0]:.1f}",
                flush=True,
            )
        if round_index == 0:  # the pipeline alternates inside one process
            for backend in args.pipeline:
                settings = dict(
                    kind="pipeline", backend=backend, jit=backend == "jax"
                )
                pipeline[backend].append(_run_worker(settings, args))
                print(f"pipeline on {backend} done", flush=True)
    rows, peak = _report(args, results, [p for p in peaks if p], pipeline)
    if args.plot:
        _plot(args, rows, started)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    started=started,
                    argv=sys.argv[1:],
                    peak=peak,
                    peaks=[p for p in peaks if p],
                    results=results,
                    pipeline=pipeline,
                ),
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
