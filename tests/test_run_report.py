import json
import os
import re
import shutil

import numpy as np
import pytest
from helpers import chromium, screenshot

from keras_dcgan import cli, run_report


@pytest.fixture
def run_dir(dry_run):
    return dry_run[0]


def links(page):
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_train_writes_the_report_page(run_dir, dry_run):
    page = (run_dir / "report.html").read_text()
    assert f"report:     {run_dir / 'report.html'}" in dry_run[1]
    assert "Epoch 2 of 2, finished." in page
    grids = json.loads(
        re.search(
            r'<script type="application/json" id="grids">(.*?)<', page
        ).group(1)
    )
    assert grids == [[1, "grids/epoch_001.png"], [2, "grids/epoch_002.png"]]
    assert 'id="grid" src="grids/epoch_002.png"' in page
    assert page.count("<svg") == 2 and "D(G(z))" in page
    # One summary line per epoch, with the speed and the device.
    assert (
        len(
            re.findall(
                r"loss_D \d+\.\d{3}, loss_G \d+\.\d{3}, "
                r"\d+\.\d examples/sec on ",
                page,
            )
        )
        == 2
    )
    assert "keras-dcgan train --dataset fake --dry-run" in page
    assert "<td>batch_size</td><td>8</td>" in page
    assert "checkpoints/epoch_0002.keras" in links(page)
    assert "model.keras" in links(page)
    # Every link is a file of the run folder; nothing from the network.
    for link in links(page):
        assert not re.match(r"\w+:", link), link
        assert (run_dir / link).is_file(), link
    log = json.loads((run_dir / run_report.RUN_LOG_FILE).read_text())
    assert sorted(log["epochs"]) == ["1", "2"]
    assert log["epochs"]["2"]["examples_per_sec"] > 0


def test_report_command_rebuilds_the_page(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    os.remove(copy / "report.html")
    assert cli.main(["report", str(copy)]) == 0
    assert "Epoch 2 of 2, finished." in (copy / "report.html").read_text()
    assert str(copy / "report.html") in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-dcgan: error: RUN_DIR must be a run folder")
    assert len(err.splitlines()) == 1


def test_the_page_is_rewritten_after_each_epoch_atomically(
    run_dir, tmp_path, monkeypatch
):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    os.remove(copy / "report.html")
    report = run_report.RunReport(copy, examples_per_epoch=16)
    report.on_train_begin()
    report.on_epoch_begin(2)
    report.on_epoch_end(2, {})
    # Epoch 3's files are complete once epoch 4 starts.
    assert not (copy / "report.html").exists()
    report.on_epoch_begin(3)
    first = (copy / "report.html").read_text()
    assert "Epoch 2 of 2" in first
    # A failure while writing leaves the previous page, and no other file.
    names = sorted(os.listdir(copy))

    def broken(directory):
        raise OSError("disk full")

    monkeypatch.setattr(run_report, "render_report", broken)
    with pytest.raises(OSError, match="disk full"):
        report.on_train_end()
    assert (copy / "report.html").read_text() == first
    assert sorted(os.listdir(copy)) == names


def test_quality_figures_appear_when_measured(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    quality = {
        "num_fake": 10,
        "dataset": "folder",
        "extractor": "random-weight CNN",
        "metrics": {"fid": {"value": 12.5, "real_floor": 3.25}},
    }
    (copy / run_report.QUALITY_FILE).write_text(json.dumps(quality))
    page = run_report.render_report(copy)
    assert "<h2>Quality</h2>" in page
    assert "<td>fid</td><td>12.5</td><td>3.25</td>" in page


# The page in a real browser.


def test_browser_shows_the_page_and_the_slider_changes_the_grid(
    run_dir, tmp_path
):
    page = run_dir / "report.html"
    dom = chromium(page, "--dump-dom", tmp_path=tmp_path)
    assert 'src="grids/epoch_002.png"' in dom and "Epoch 2 of 2" in dom
    # `#epoch=1` moves the slider on load, which fires its input event.
    dom = chromium(page.as_uri() + "#epoch=1", "--dump-dom", tmp_path=tmp_path)
    assert 'src="grids/epoch_001.png"' in dom
    assert "Epoch 1 of 2" in dom
    pixels = screenshot(page, 900, 1200, tmp_path)
    assert pixels.std() > 10  # Not a blank page.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # Images.
