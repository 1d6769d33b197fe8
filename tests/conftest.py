import fcntl
import os
import tempfile

# JAX keeps compiled steps on disk, shared by the test processes and the
# subprocesses they start: the tiny models compile to the same programs
# again and again. Set before JAX is imported; a user's setting wins.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(tempfile.gettempdir(), f"keras-dcgan-tests-jax-{os.getuid()}"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"


@pytest.fixture
def backend():
    return keras.backend.backend()


if keras.backend.backend() == "jax":
    # The suite opts in to XLA:CPU's faster convolutions, as a user may
    # (keras_dcgan.ops.jax); subprocesses inherit it through XLA_FLAGS.
    from keras_dcgan.ops.jax import prefer_fast_cpu_convolutions

    prefer_fast_cpu_convolutions()


@pytest.fixture(scope="session")
def dry_run(tmp_path_factory, worker_id):
    """`keras-dcgan train --dry-run` for 2 epochs at the tiny size, in a
    subprocess: the command's true run, shared by the tests that read a run
    folder, in every test process (copy it before changing it). Returns
    `(run_dir, stdout)`."""
    from helpers import TINY, run_command

    # pytest-xdist's processes share the parent of their temporary folders.
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent
    run_dir = root / "dry_run" / "run"
    stdout = root / "dry_run" / "stdout.txt"
    with open(root / "dry_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # One process runs it, once.
        if not stdout.exists():
            result = run_command(
                ["train", "--dataset", "fake", "--dry-run", "--epochs", "2"]
                + [*TINY, "--output-dir", str(run_dir), "--seed", "1"]
            )
            assert result.returncode == 0, result.stderr
            stdout.write_text(result.stdout)
    return run_dir, stdout.read_text()
