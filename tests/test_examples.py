import importlib.util
import json
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    """Imports an example script as a module (in this process's backend)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fashion_mnist_example_dry_run(tmp_path, capsys):
    example = load_example("fashion_mnist.py")
    example.main(["--dry-run", f"--output-dir={tmp_path}"])
    out = capsys.readouterr().out
    assert "rank category" in out and "All categories together" in out
    assert "memorisation" in out
    report = json.loads((tmp_path / "report.json").read_text())
    categories = report["categories"]
    assert len(categories) == 10
    assert abs(sum(c["share"] for c in categories) - 1.0) < 1e-6
    scored = [c for c in categories if c["report"] is not None]
    assert scored, "the untrained generator's images land in some category"
    kids = [c["report"]["metrics"]["kid"]["value"] for c in scored]
    assert kids == sorted(kids)  # ranked from best to worst
    with Image.open(tmp_path / "samples_by_category.png") as image:
        assert image.size[0] > image.size[1] / 2


def test_fashion_mnist_example_per_class_dry_run(tmp_path, capsys):
    example = load_example("fashion_mnist.py")
    example.main(
        [
            "--dry-run",
            "--per-class",
            "--classes=trouser",
            f"--output-dir={tmp_path}",
        ]
    )
    out = capsys.readouterr().out
    assert "One GAN per category" in out
    report = json.loads((tmp_path / "report.json").read_text())
    names = {c["category"] for c in report["categories"]}
    assert names == {"Trouser"}
    assert (tmp_path / "samples_by_category.png").exists()


def test_fashion_mnist_example_conditional_dry_run(tmp_path, capsys):
    example = load_example("fashion_mnist.py")
    example.main(["--dry-run", "--conditional", f"--output-dir={tmp_path}"])
    assert "One conditional GAN asked for each category" in (
        capsys.readouterr().out
    )
    report = json.loads((tmp_path / "report.json").read_text())
    categories = report["categories"]
    assert sorted(c["index"] for c in categories) == list(range(10))
    # Each row: the images asked for one category, the share assigned to it.
    assert all(c["num_generated"] == 20 for c in categories)
    assert all(0.0 <= c["share"] <= 1.0 for c in categories)
    with Image.open(tmp_path / "samples_by_category.png") as image:
        assert image.size[1] > 10 * 20


def test_fashion_mnist_example_full_budget_flag():
    example = load_example("fashion_mnist.py")
    args = example.parse_args(["--full"])
    assert (args.epochs, args.filters, args.num_samples) == (20, 64, 10000)
    args = example.parse_args(["--full", "--epochs=5"])
    assert args.epochs == 5


def test_relu_vs_leaky_relu_example_dry_run(tmp_path, capsys):
    example = load_example("relu_vs_leaky_relu.py")
    example.main(["--dry-run", "--seeds=3", f"--output-dir={tmp_path}"])
    out = capsys.readouterr().out
    assert "real vs real" in out and "Over seeds" not in out
    runs = json.loads((tmp_path / "report.json").read_text())["runs"]
    assert [(r["negative_slope"], r["seed"]) for r in runs] == [
        (0.2, 3),
        (0.0, 3),
    ]
    assert all(len(r["d_loss"]) == 1 for r in runs)  # one step each
    with Image.open(tmp_path / "comparison.png") as image:
        assert image.size[0] > 2 * image.size[1]
    # Over several seeds the script reports the spread.
    fake_runs = [
        {"variant": variant, "report": {"metrics": metrics}}
        for variant, metrics in (
            ("ReLU", {m: {"value": 1.0} for m in example.METRICS}),
            ("ReLU", {m: {"value": 3.0} for m in example.METRICS}),
            ("LeakyReLU(0.2)", {m: {"value": 2.0} for m in example.METRICS}),
        )
    ]
    spread = example.format_spread(fake_runs)
    assert "ReLU            (2 seeds) kid 2.000±1.000" in spread
    assert "LeakyReLU(0.2)  (1 seeds) kid 2.000±0.000" in spread
