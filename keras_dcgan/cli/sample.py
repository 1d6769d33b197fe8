"""`keras-dcgan sample`: generate images from a saved DCGAN."""

import os

import numpy as np

from keras_dcgan.cli.common import (
    UsageError,
    add_common_options,
    add_model_source,
    load_source,
    positive_float,
    positive_int,
)


def add_parser(subparsers):
    """Adds `sample` to the command's subparsers."""
    sample = subparsers.add_parser(
        "sample",
        help="generate images from a trained model",
        description="Generate images from a saved DCGAN.",
    )
    add_model_source(sample)
    sample.add_argument("--num-images", type=positive_int, default=None)
    sample.add_argument(
        "--output", metavar="FILE.png", help="grid PNG (default samples.png)"
    )
    sample.add_argument(
        "--output-dir", metavar="DIR", help="also write individual PNGs here"
    )
    sample.add_argument("--cols", type=positive_int, default=7)
    sample.add_argument("--seed", type=int)
    sample.add_argument(
        "--truncation",
        type=positive_float,
        metavar="PSI",
        help="redraw noise beyond PSI standard deviations: more typical, "
        "less varied images",
    )
    sample.add_argument(
        "--label",
        metavar="NAME_OR_INDEX",
        help="with a class-conditional model: draw this class (default: "
        "classes drawn at random)",
    )
    sample.add_argument(
        "--no-ema",
        dest="use_ema",
        action="store_false",
        help="draw with the trained generator, not its moving average "
        "(models trained with an EMA decay)",
    )
    sample.add_argument(
        "--interpolate",
        action="store_true",
        help="a strip walking between two latent points, along the sphere "
        "that Gaussian noise lies near (slerp)",
    )
    sample.add_argument(
        "--linear",
        action="store_true",
        help="with --interpolate: a straight line instead of slerp",
    )
    sample.add_argument(
        "--gif",
        metavar="FILE.gif",
        help="with --interpolate: also write the walk as an animation",
    )
    add_common_options(sample)
    sample.set_defaults(run=run)
    return sample


def run(args):
    """Runs `sample` with parsed arguments; returns the exit status."""
    from keras_dcgan import images as images_lib
    from keras_dcgan.noise import fixed_noise, slerp, truncate

    model = load_source(args)
    if args.interpolate:
        num = args.num_images or 10
        if num < 2:
            raise UsageError(
                "--interpolate needs --num-images of at least 2. "
                f"Received: --num-images={num}"
            )
        start, end = fixed_noise(2, model.latent_dim, args.seed)
        if args.truncation:
            start, end = truncate([start, end], args.truncation, args.seed)
        if args.linear:
            weights = np.linspace(0.0, 1.0, num, dtype=np.float32)[:, None]
            noise = (1.0 - weights) * start + weights * end
        else:
            noise = slerp(start, end, num)
        generated = model.generate_from_noise(
            noise,
            labels=_labels(model, args.label, num, args.seed, walk=True),
            use_ema=args.use_ema,
        )
        rows, cols = 1, num
    else:
        for flag in ("linear", "gif"):
            if getattr(args, flag):
                raise UsageError(
                    f"--{flag} only applies to --interpolate. "
                    f"Received: --{flag}"
                )
        num = args.num_images or 21
        generated = model.generate(
            num,
            seed=args.seed,
            truncation=args.truncation,
            labels=_labels(model, args.label, num, args.seed),
            use_ema=args.use_ema,
        )
        cols = min(args.cols, num)
        rows = -(-num // cols)
    output = args.output
    if output is None and args.output_dir is None:
        output = "samples.png"
    if output:
        images_lib.save_image_grid(generated, output, rows=rows, cols=cols)
        print(f"Wrote {num} images as a {rows}x{cols} grid to {output}")
    if args.gif:
        frames = [images_lib.make_grid(image[None]) for image in generated]
        images_lib.save_gif(frames + frames[-2:0:-1], args.gif)
        print(f"Wrote the {num}-step walk, there and back, to {args.gif}")
    if args.output_dir:
        for i, image in enumerate(generated):
            images_lib.save_image_grid(
                image[None],
                os.path.join(args.output_dir, f"sample_{i:04d}.png"),
                rows=1,
                cols=1,
                padding=0,
            )
        print(f"Wrote {num} PNG files to {args.output_dir}")
    return 0


def _labels(model, label, num, seed, walk=False):
    """The labels of `num` images: `--label`'s class, or `None`.

    `None` lets a conditional model draw classes at random; a `walk`
    (interpolation) keeps one class, drawn from `seed`, along the way.
    """
    if model.num_classes is None:
        if label is not None:
            raise UsageError(
                "--label needs a class-conditional model (trained with "
                f"--conditional). Received: --label={label}"
            )
        return None
    if label is None:
        if not walk:
            return None
        index = np.random.default_rng(seed).integers(model.num_classes)
        return np.full(num, index, dtype="int32")
    names = model.class_names or []
    if label.isdigit() and int(label) < model.num_classes:
        index = int(label)
    else:
        keys = [_name_key(name) for name in names]
        if _name_key(label) not in keys:
            choices = ", ".join(names) if names else "none are named"
            raise UsageError(
                f"--label must be a class index in [0, {model.num_classes}) "
                f"or a class name ({choices}). Received: --label={label}"
            )
        index = keys.index(_name_key(label))
    return np.full(num, index, dtype="int32")


def _name_key(name):
    """A class name without case, spaces or punctuation."""
    return "".join(c for c in name.lower() if c.isalnum())
