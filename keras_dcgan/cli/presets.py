"""`keras-dcgan presets`: the trained models that ship with the package."""

from keras_dcgan.cli.common import add_common_options


def add_parser(subparsers):
    """Adds `presets` to the command's subparsers."""
    presets = subparsers.add_parser(
        "presets",
        help="list the trained models that ship with the package",
        description="List the shipped presets; draw from one with "
        "`keras-dcgan sample --preset NAME`.",
    )
    add_common_options(presets)
    presets.set_defaults(run=run)
    return presets


def _describe(name, metadata):
    shape = "x".join(map(str, metadata.get("image_shape", ())))
    training = metadata.get("training", {})
    lines = [
        f"{name}",
        f"  {metadata.get('description', '')}",
        f"  images {shape}, latent {metadata.get('latent_dim')}; recipe "
        f"{metadata.get('recipe', {}).get('name')}, "
        f"{metadata.get('epochs')} epochs on {metadata.get('data')} "
        f"({training.get('wall_time_s', 0) / 3600:.1f} h on "
        f"{training.get('hardware', 'unknown hardware')})",
    ]
    metrics = metadata.get("quality", {}).get("metrics", {})
    if metrics:
        figures = ", ".join(
            f"{label} {metrics[metric]['value']:g} (real vs real "
            f"{metrics[metric]['real_vs_real']:g})"
            # Frechet distance: FID only with the FID-Inception features.
            for metric, label in (("fid", "FD"), ("kid", "KID"))
            if metric in metrics
        )
        lines.append(
            f"  quality: {figures}; {metadata['quality'].get('features')}"
        )
    return "\n".join(lines)


def run(args):
    """Prints each shipped preset with a line of metadata; returns 0."""
    from keras_dcgan.pretrained import PRESETS

    for name, metadata in PRESETS.items():
        print(_describe(name, metadata))
    return 0
