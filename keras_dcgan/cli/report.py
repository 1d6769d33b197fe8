"""`keras-dcgan report RUN_DIR`: rebuild a run folder's `report.html`."""

import os

from keras_dcgan.cli.common import UsageError, add_common_options


def add_parser(subparsers):
    """Adds `report` to the command's subparsers."""
    report = subparsers.add_parser(
        "report",
        help="rebuild a run folder's report.html",
        description="Write the run report page (report.html) of an existing "
        "run folder: recipe, commands, summary lines, curves, the image grid "
        "of every epoch with a slider, quality figures and checkpoints.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a run folder")
    add_common_options(report)
    report.set_defaults(run=run)
    return report


def run(args):
    """Writes the page; returns the exit status."""
    from keras_dcgan import checkpoints, run_report

    if not os.path.isdir(args.run_dir):
        raise UsageError(
            f"RUN_DIR must be a run folder. Received: {args.run_dir}"
        )
    if checkpoints.read_checkpoint(args.run_dir) is None:
        raise UsageError(
            "RUN_DIR must be a run folder with a checkpoint "
            f"({checkpoints.CHECKPOINT_FILE}). Received: {args.run_dir}"
        )
    path = run_report.write_report(args.run_dir)
    print(f"Wrote {path}")
    return 0
