"""`keras-dcgan demo`: a local web page that draws samples from a model
(see `keras_dcgan.demo`)."""

import argparse
import os
import signal

from keras_dcgan.cli.common import (
    UsageError,
    add_common_options,
    add_model_source,
    load_source,
)


def _port(text):
    if text.isdigit() and int(text) <= 65535:
        return int(text)
    raise argparse.ArgumentTypeError(
        f"must be an integer in [0, 65535]. Received: {text!r}"
    )


def add_parser(subparsers):
    """Adds `demo` to the command's subparsers."""
    demo = subparsers.add_parser(
        "demo",
        help="a local web page that draws samples from a model",
        description="Serve a web page that draws grids of samples and walks "
        "between two samples, with the seed, class, truncation and grid "
        "size as controls. Ctrl-C (or SIGTERM) stops it.",
    )
    add_model_source(demo)
    demo.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only)",
    )
    demo.add_argument(
        "--port",
        type=_port,
        default=0,
        help="the port (default: a free one, printed)",
    )
    add_common_options(demo)
    demo.set_defaults(run=run)
    return demo


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args):
    """Runs `demo` with parsed arguments until Ctrl-C or SIGTERM; returns 0."""
    # A service manager's stop (or `kill`) ends it as cleanly as Ctrl-C.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _serve(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(args):
    from keras_dcgan.demo import DemoServer

    model = load_source(args)
    name = args.preset
    if args.model:
        name = os.path.basename(os.path.normpath(args.model))
        name = name.removesuffix(".keras")
    try:
        server = DemoServer(model, host=args.host, port=args.port, name=name)
    except OSError as error:  # A port in use, an unknown host.
        raise UsageError(
            f"cannot serve on --host {args.host} --port {args.port}: "
            f"{error.strerror or error}"
        ) from None
    except KeyboardInterrupt:  # While drawing the first images.
        print("Stopped.", flush=True)
        return 0
    print(f"Serving {name} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("Stopped.", flush=True)
    return 0
