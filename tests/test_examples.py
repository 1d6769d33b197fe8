import os
import subprocess
import sys
from pathlib import Path

import keras
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_fashion_mnist_example_dry_run(tmp_path):
    out = tmp_path / "grids"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "fashion_mnist.py"),
            "--dry-run",
            "--classes=trouser,bag",
            f"--output-dir={out}",
        ],
        env=dict(os.environ, KERAS_BACKEND=keras.backend.backend()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "trouser" in result.stdout and "bag" in result.stdout
    for name in ("trouser", "bag"):
        for kind in ("generated", "real"):
            with Image.open(out / f"{name}_{kind}.png") as image:
                # 3 rows x 7 columns of 32x32 images with 2-pixel borders.
                assert image.size == (7 * 34 + 2, 3 * 34 + 2)
