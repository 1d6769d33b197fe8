"""A quiet start for the `keras-dcgan` command.

TensorFlow's C++ code logs a screen of lines when it is imported (oneDNN,
CUDA drivers, CPU instructions) and later at its first operations (cuInit).
`TF_CPP_MIN_LOG_LEVEL` silences the later ones only if it is set before
TensorFlow is imported; the first ones are written before TensorFlow reads
it, so the import itself runs with the process's stderr sent to the null
device (Python errors raised by the import are still shown).

`keras_dcgan/__init__.py` imports this module before Keras (which imports
TensorFlow on its backend), and the import calls `start()`. It acts only
in the `keras-dcgan` command (`keras-dcgan ...` or `python -m keras_dcgan
...`), never in a user's program. `--verbose` shows every line; a
`TF_CPP_MIN_LOG_LEVEL` the user set is kept (0 shows every line).
"""

import contextlib
import importlib.abc
import importlib.util
import os
import sys


def is_command(argv=None, orig_argv=None):
    """Whether this process is the `keras-dcgan` command."""
    argv = sys.argv if argv is None else argv
    orig_argv = (
        getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    )
    if argv and os.path.basename(argv[0]) in ("keras-dcgan", "keras-dcgan.exe"):
        return True
    pairs = zip(orig_argv, orig_argv[1:])
    return any(a == "-m" and b == "keras_dcgan" for a, b in pairs) or (
        "-mkeras_dcgan" in orig_argv
    )


@contextlib.contextmanager
def stderr_to_null():
    """Sends file descriptor 2 (C++ code writes there) to the null device."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's `exec_module` with stderr silenced."""

    def __init__(self, loader, finder):
        self.loader = loader
        self.finder = finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        with stderr_to_null():
            self.loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` the usual way; its import runs silenced.

    It stays in `sys.meta_path` until TensorFlow is imported: libraries
    look for TensorFlow with `importlib.util.find_spec` without importing
    it.
    """

    def __init__(self):
        self._finding = False

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec


def quiet_tensorflow():
    """Silences TensorFlow's C++ logs for the rest of the process.

    Sets `TF_CPP_MIN_LOG_LEVEL=3` unless it is set, and, unless TensorFlow
    is imported already, runs its import with stderr silenced.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("", "0"):
        return
    if "tensorflow" in sys.modules or any(
        isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path
    ):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())


def start():
    """Quiets the command's start-up unless the user asked for the logs."""
    if is_command() and "--verbose" not in sys.argv[1:]:
        quiet_tensorflow()


start()
