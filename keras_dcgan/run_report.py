"""The run report: one HTML page, `report.html`, in each run folder.

The page shows the recipe and the commands of the run, the chapter's summary
line for every epoch, the loss and D(x) / D(G(z)) curves, the image grid of
every epoch with a slider over the epochs, the best epoch and its KID when
the run selects one (`best.json`), the quality figures when they were
measured (`keras-dcgan evaluate` on the run folder writes `quality.json`),
and links to the checkpoints and other files. It is one
self-contained file: the images by relative path, the curves as inline SVG,
a few lines of plain JavaScript for the slider (the page reads without
them), nothing from the network.

`RunReport` rewrites the page atomically after every epoch;
`write_report(directory)` rebuilds it from the files of an existing run
(`keras-dcgan report RUN_DIR`).
"""

import html
import json
import os
import re
import time
import urllib.parse

import keras

from keras_dcgan import checkpoints, runs
from keras_dcgan.evaluation import callback as best_checkpoint
from keras_dcgan.files import atomic_write

REPORT_FILE = "report.html"
# What only the report needs: the commands and each epoch's speed.
RUN_LOG_FILE = "run.json"
QUALITY_FILE = "quality.json"
CURVES = (
    ("Losses", (("d_loss", "loss_D"), ("g_loss", "loss_G")), None),
    (
        "Discriminator outputs",
        (("real_prob", "D(x)"), ("fake_prob", "D(G(z))")),
        (0.0, 1.0),
    ),
    ("Kernel distance", (("kid", "KID"),), None),
    (
        "Adaptive augmentation",
        (("aug_p", "p"), ("r_t", "r_t (target 0.6)")),
        (-1.0, 1.0),
    ),
)
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def read_run_log(directory):
    """Returns the run folder's `run.json` (commands, epoch speeds)."""
    path = os.path.join(os.fspath(directory), RUN_LOG_FILE)
    try:
        with open(path) as f:
            log = json.load(f)
    except (OSError, ValueError):
        log = {}
    log.setdefault("commands", [])
    log.setdefault("epochs", {})
    return log


def _write_json(path, value):
    data = json.dumps(value, indent=1, sort_keys=True).encode()
    atomic_write(path, lambda f: f.write(data))


def _href(directory, path):
    return urllib.parse.quote(os.path.relpath(path, directory))


def _svg_chart(title, series, limits=None, width=420, height=220):
    """A line chart of `{label: [value per epoch]}` as inline SVG."""
    left, right, top, bottom = 48, 12, 24, 28
    values = [v for ys in series.values() for v in ys if v == v]
    if not values:
        return ""
    low, high = limits or (min(values), max(values))
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    count = max(len(ys) for ys in series.values())

    def x(i):
        span = max(count - 1, 1)
        return left + (width - left - right) * i / span

    def y(v):
        return top + (height - top - bottom) * (high - v) / (high - low)

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="14" class="title">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" '
        'class="axis"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{top + 4}" class="tick" '
        f'text-anchor="end">{high:.3g}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" class="tick" '
        f'text-anchor="end">{low:.3g}</text>',
        f'<text x="{left}" y="{height - 8}" class="tick">epoch 1</text>',
        f'<text x="{width - right}" y="{height - 8}" class="tick" '
        f'text-anchor="end">epoch {count}</text>',
    ]
    for n, (label, ys) in enumerate(series.items()):
        color = COLORS[n % len(COLORS)]
        points = " ".join(
            f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(ys) if v == v
        )
        if len(ys) == 1:
            parts.append(
                f'<circle cx="{x(0):.1f}" cy="{y(ys[0]):.1f}" r="3" '
                f'fill="{color}"/>'
            )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" '
            'stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{width - right - 90}" y="{top + 14 * (n + 1)}" '
            f'fill="{color}" class="legend">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _grids(directory, epochs):
    """`[(epoch, path)]` of the grids of epochs 1 to `epochs`."""
    folder = os.path.join(directory, runs.GRIDS_DIR)
    found = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        match = re.fullmatch(r"epoch_(\d+)\.png", name)
        if match and 1 <= int(match.group(1)) <= epochs:
            found[int(match.group(1))] = os.path.join(folder, name)
    return sorted(found.items())


def _summary(history, log, epoch):
    """The chapter's summary line of one epoch (1-based)."""

    def value(name):
        values = history.get(name) or []
        return values[epoch - 1] if len(values) >= epoch else float("nan")

    line = f"loss_D {value('d_loss'):.3f}, loss_G {value('g_loss'):.3f}"
    speed = log["epochs"].get(str(epoch))
    if speed:
        line += (
            f", {speed['examples_per_sec']:.1f} examples/sec on "
            f"{speed['device']}"
        )
    extra = [
        f"{name} {history[name][epoch - 1]:.4g}"
        for name in sorted(history)
        if name not in ("d_loss", "g_loss", "real_prob", "fake_prob")
        and len(history[name]) >= epoch
        and history[name][epoch - 1] == history[name][epoch - 1]  # Not NaN.
    ]
    return "; ".join([line, *extra])


def best_line(record):
    """The line of the best epoch, such as `Best: epoch 7, KID 0.0123 ±
    0.0011 (Fashion-MNIST evaluator)`, from a `best.json` record."""
    if record.get("epoch") is None:
        evaluated = len(record.get("history", []))
        return f"Best: none yet ({evaluated} evaluations, no finite KID)."
    return (
        f"Best: epoch {record['epoch']}, KID {record['kid']:.4f} ± "
        f"{record['kid_std']:.4f} ({record.get('extractor', '?')})"
    )


def _best(directory):
    try:
        record = best_checkpoint.read_best_record(directory)
    except (OSError, ValueError):
        return ""
    if not record:
        return ""
    line = html.escape(best_line(record))
    model = os.path.join(directory, record.get("model") or "")
    if record.get("epoch") is not None and os.path.isfile(model):
        href = _href(directory, model)
        line += f'; <a href="{href}">{html.escape(record["model"])}</a>'
    return f'<p id="best">{line}</p>'


def _quality(directory):
    path = os.path.join(directory, QUALITY_FILE)
    try:
        with open(path) as f:
            result = json.load(f)
    except (OSError, ValueError):
        return ""
    rows = []
    for name, metric in sorted(result.get("metrics", {}).items()):
        if not isinstance(metric, dict) or "value" not in metric:
            continue
        floor = metric.get("real_floor")
        rows.append(
            f"<tr><td>{html.escape(name)}</td>"
            f"<td>{metric['value']:.4g}</td>"
            f"<td>{'' if floor is None else f'{floor:.4g}'}</td></tr>"
        )
    what = html.escape(
        f"{result.get('num_fake', '?')} generated images against "
        f"{result.get('dataset', 'real')} images; features: "
        f"{result.get('extractor', '?')}"
    )
    return (
        f'<h2>Quality</h2><p>{what} (<a href="{QUALITY_FILE}">'
        f"{QUALITY_FILE}</a>).</p><table><tr><th>metric</th><th>value</th>"
        "<th>real vs real</th></tr>" + "".join(rows) + "</table>"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em;
  padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
#grid { image-rendering: pixelated; max-width: 100%; min-width: 24em;
  border: 1px solid #ccc; }
#epoch { width: 24em; }
.chart .axis { stroke: #888; } .chart text { font-size: 11px; }
.chart .title { font-weight: bold; }
pre { background: #f4f4f4; padding: 0.5em; overflow-x: auto; }
"""

SCRIPT = """
var grids = JSON.parse(document.getElementById("grids").textContent);
var slider = document.getElementById("epoch");
slider.addEventListener("input", function () {
  var grid = grids[+slider.value];
  document.getElementById("grid").src = grid[1];
  document.getElementById("grid-caption").textContent =
    "Epoch " + grid[0] + " of " + grids[grids.length - 1][0];
});
// A link to `report.html#epoch=3` opens the page at epoch 3.
var wanted = /epoch=(\\d+)/.exec(location.hash);
for (var i = 0; wanted && i < grids.length; i++) {
  if (grids[i][0] === +wanted[1]) {
    slider.value = i;
    slider.dispatchEvent(new Event("input"));
  }
}
"""


def render_report(directory):
    """The HTML of the run folder's report page, as a string."""
    directory = os.fspath(directory)
    record = checkpoints.read_checkpoint(directory) or {}
    log = read_run_log(directory)
    epoch = record.get("epoch", 0)
    total = record.get("epochs") or epoch
    history = {
        k: [float(v) for v in values]
        for k, values in record.get("history", {}).items()
    }
    name = os.path.basename(os.path.abspath(directory))
    done = os.path.isfile(os.path.join(directory, runs.MODEL_FILE))
    state = "finished" if done and epoch >= total else "in progress"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>keras-dcgan run {html.escape(name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Run {html.escape(name)}</h1>",
        f'<p id="status">Epoch {epoch} of {total}, {state}. Page written '
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}.</p>",
    ]
    grids = [(e, _href(directory, p)) for e, p in _grids(directory, epoch)]
    out.append("<h2>Samples</h2>")
    out.append(_best(directory))
    if grids:
        last_epoch, last = grids[-1]
        out += [
            f'<figure><img id="grid" src="{last}" alt="Generated images">',
            f'<figcaption id="grid-caption">Epoch {last_epoch} of '
            f"{last_epoch}</figcaption></figure>",
            f'<p><label for="epoch">Epoch</label> <input type="range" '
            f'id="epoch" min="0" max="{len(grids) - 1}" '
            f'value="{len(grids) - 1}"></p>',
            '<script type="application/json" id="grids">'
            f"{json.dumps(grids)}</script>",
            "<noscript><p>"
            + " ".join(f'<a href="{p}">epoch {e}</a>' for e, p in grids)
            + "</p></noscript>",
        ]
    else:
        out.append("<p>No image grid yet.</p>")
    charts = []
    for title, names, limits in CURVES:
        series = {label: history[k] for k, label in names if k in history}
        if series:
            charts.append(_svg_chart(title, series, limits))
    if charts:
        out += ["<h2>Curves</h2>", "<p>", *charts, "</p>"]
    if epoch:
        out.append("<h2>Epochs</h2><table><tr><th>epoch</th><th>summary</th>")
        for e in range(1, epoch + 1):
            out.append(
                f"<tr><td>{e}</td><td>"
                f"{html.escape(_summary(history, log, e))}</td></tr>"
            )
        out.append("</table>")
    out.append(_quality(directory))
    config = record.get("config", {})
    if config:
        out.append("<h2>Recipe</h2><table>")
        for key in sorted(config):
            out.append(
                f"<tr><td>{html.escape(key)}</td>"
                f"<td>{html.escape(str(config[key]))}</td></tr>"
            )
        out.append("</table>")
    if log["commands"]:
        out.append("<h2>Commands</h2>")
        out += [f"<pre>{html.escape(c)}</pre>" for c in log["commands"]]
    files = []
    folder = os.path.join(directory, os.path.dirname(record.get("model", "")))
    if record.get("model") and os.path.isdir(folder):
        for entry in sorted(os.listdir(folder)):
            if entry.endswith(".keras"):
                files.append(os.path.join(folder, entry))
    for entry in (
        runs.MODEL_FILE,
        best_checkpoint.BEST_MODEL_FILE,
        best_checkpoint.BEST_RECORD_FILE,
        checkpoints.CHECKPOINT_FILE,
        runs.HISTORY_FILE,
        runs.CURVES_FILE,
        os.path.join(runs.GRIDS_DIR, runs.GIF_FILE),
    ):
        if os.path.isfile(os.path.join(directory, entry)):
            files.append(os.path.join(directory, entry))
    if files:
        out.append("<h2>Files</h2><ul>")
        for path in files:
            href = _href(directory, path)
            text = html.escape(os.path.relpath(path, directory))
            out.append(f'<li><a href="{href}">{text}</a></li>')
        out.append("</ul>")
    if grids:
        out.append(f"<script>{SCRIPT}</script>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(directory):
    """Writes the run folder's `report.html` atomically; returns its path.

    Args:
        directory: a run folder written by `train_run` or `keras-dcgan
            train`.

    Returns:
        The path of `report.html`.

    Example:

    ```python
    keras_dcgan.run_report.write_report("runs/20250101-120000")
    ```
    """
    page = render_report(directory).encode()
    path = os.path.join(os.fspath(directory), REPORT_FILE)
    return atomic_write(path, lambda f: f.write(page))


class RunReport(keras.callbacks.Callback):
    """Keeps a run folder's `report.html` up to date while it trains.

    Records the command and each epoch's speed in `run.json`, and rewrites
    the page once the epoch's grid, curves and checkpoint are on disk: at
    the start of the next epoch and at the end of training (callbacks given
    to `train_run` run before its own).

    Args:
        directory: the run folder.
        examples_per_epoch: int. Training images in one epoch.
        command: optional string, the command line to show on the page.
    """

    def __init__(self, directory, examples_per_epoch, command=None):
        super().__init__()
        self.directory = os.fspath(directory)
        self.examples_per_epoch = int(examples_per_epoch)
        self.command = command
        self._start = None
        self._first_epoch = None

    def on_train_begin(self, logs=None):
        if self.command:
            log = read_run_log(self.directory)
            log["commands"].append(self.command)
            _write_json(os.path.join(self.directory, RUN_LOG_FILE), log)

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        elif epoch > self._first_epoch:
            write_report(self.directory)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        from keras_dcgan.callbacks import device_name

        seconds = time.perf_counter() - self._start
        log = read_run_log(self.directory)
        log["epochs"][str(epoch + 1)] = {
            "seconds": round(seconds, 3),
            "examples_per_sec": self.examples_per_epoch / max(seconds, 1e-9),
            "device": device_name(),
        }
        _write_json(os.path.join(self.directory, RUN_LOG_FILE), log)

    def on_train_end(self, logs=None):
        write_report(self.directory)
