"""A local web page that draws samples from a DCGAN: `DemoServer`, behind
`keras-dcgan demo`.

The page (one HTML string, inline CSS and JavaScript, nothing from the
network) asks the server for PNG images:

- `/grid.png?seed=3&num=36&truncation=0.7&label=2`: the images of
  `model.generate(num, seed=seed, truncation=truncation, labels=...)` as a
  square grid: the images `keras-dcgan sample` draws with the same seed,
  truncation and label.
- `/walk.png?seed=3&to=4&num=10`: a strip of `num` images along the slerp
  between the noise of seed 3 and seed 4 (`keras_dcgan.noise.slerp`), in one
  class for a class-conditional model.

`truncation=0` (or none) is plain N(0, 1) noise; `label` is a class index,
or `random` (the default) for classes drawn from the seed. The server
answers GET and HEAD only, to requests whose `Host` is the address it
serves (a guard against DNS rebinding) and that come from no other
`Origin`; a bad value gets a 400 with a one-line plain-text message.
"""

import html
import http.server
import math
import re
import socket
import sys
import threading
import urllib.parse

import numpy as np

from keras_dcgan import images as images_lib
from keras_dcgan.noise import fixed_noise, slerp, truncate

MAX_SEED = 2**31
MAX_GRID = 256
MAX_WALK = 64
GRID_SIZES = (16, 36, 64)
WALK_STEPS = (6, 10, 16)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ANY = ("0.0.0.0", "::", "")


class DemoServer(http.server.ThreadingHTTPServer):
    """A web page that draws samples from a DCGAN, served on `host:port`.

    The server listens once created; `serve_forever()` answers requests
    until `shutdown()` (from another thread) or Ctrl-C. Images are drawn
    one request at a time (a model is not thread-safe), after a first
    drawing of each size the page offers, so that no request waits for a
    compilation.

    Args:
        model: a `keras_dcgan.DCGAN`.
        host: str. The address to listen on. Defaults to `"127.0.0.1"`,
            this machine only; `"0.0.0.0"` listens on every network
            interface, and then accepts any numeric address or `localhost`
            in the `Host` header.
        port: int. The port; `0` (the default) lets the system pick a free
            one (see `url`).
        name: str. The model's name in the page's title. Defaults to
            `"model"`.

    Example:

    ```python
    model = keras_dcgan.DCGAN.from_preset("dcgan_pokemon_64", compile=False)
    server = keras_dcgan.demo.DemoServer(model, port=8000)
    print(server.url)  # http://127.0.0.1:8000/
    server.serve_forever()
    ```
    """

    daemon_threads = True

    def __init__(self, model, host="127.0.0.1", port=0, name="model"):
        self.model = model
        self.name = str(name)
        self.lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, int(port)), _Handler)
        self.host = host
        self.port = self.server_address[1]
        self.page = _render_page(model, self.name).encode()
        try:
            for num in GRID_SIZES + WALK_STEPS:
                model.generate(num, seed=0)
        except BaseException:
            self.server_close()
            raise

    @property
    def url(self):
        """The page's address, such as `http://127.0.0.1:8000/`."""
        host = self.host if self.host not in _ANY else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def allows_host(self, header):
        """Whether a request's `Host` header names this server."""
        match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d+)", header)
        if match is None or int(match.group(2)) != self.port:
            return False
        host = match.group(1).strip("[]").lower()
        if host == self.host.lower():
            return True
        if self.host in _LOOPBACK:
            return host in _LOOPBACK
        if self.host in _ANY:  # Any address of this machine, by number.
            return host == "localhost" or _is_ip_address(host)
        return False

    def grid_png(self, query):
        """The PNG of `/grid.png?{query}`: a square grid of samples."""
        fields = _fields(query, ("seed", "num", "truncation", "label"))
        seed = _integer(fields, "seed", 0, 0, MAX_SEED)
        num = _integer(fields, "num", 36, 1, MAX_GRID + 1, closed=True)
        truncation = _truncation(fields)
        label = _label(fields, self.model)
        labels = None if label is None else np.full(num, label, "int32")
        with self.lock:
            generated = self.model.generate(
                num, seed=seed, truncation=truncation, labels=labels
            )
        grid = images_lib.make_grid(generated, cols=_columns(num))
        return images_lib.png_bytes(grid, compress_level=1)  # Fast.

    def walk_png(self, query):
        """The PNG of `/walk.png?{query}`: a strip from seed to seed."""
        fields = _fields(query, ("seed", "to", "num", "truncation", "label"))
        seed = _integer(fields, "seed", 0, 0, MAX_SEED)
        to = _integer(fields, "to", (seed + 1) % MAX_SEED, 0, MAX_SEED)
        num = _integer(fields, "num", 10, 2, MAX_WALK + 1, closed=True)
        truncation = _truncation(fields)
        label = _label(fields, self.model)
        ends = []
        for end in (seed, to):
            # The noise of the end's first grid image (with truncation, a
            # grid redraws all its noise together: close, not the same).
            noise = fixed_noise(1, self.model.latent_dim, end)
            if truncation is not None:
                noise = truncate(noise, truncation, [end, 1])
            ends.append(noise[0])
        labels = None
        if self.model.num_classes is not None:
            if label is None:  # The class of the seed's first grid image.
                rng = np.random.default_rng([seed, 2])
                label = rng.integers(0, self.model.num_classes)
            labels = np.full(num, label, "int32")
        with self.lock:
            generated = self.model.generate_from_noise(
                slerp(ends[0], ends[1], num), labels=labels
            )
        grid = images_lib.make_grid(generated, rows=1, cols=num)
        return images_lib.png_bytes(grid, compress_level=1)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers the page and its images; refuses everything else."""

    server_version = "keras-dcgan-demo"
    protocol_version = "HTTP/1.1"
    timeout = 60  # Seconds an idle connection is kept.

    def do_GET(self):
        self._answer()

    def do_HEAD(self):
        self._answer()

    def __getattr__(self, name):
        # `BaseHTTPRequestHandler` looks up `do_<METHOD>`: every method but
        # GET and HEAD gets a 405.
        if name.startswith("do_"):
            return self._refuse_method
        raise AttributeError(name)

    def _refuse_method(self):
        # The request's body is not read: close the connection after.
        self.close_connection = True
        if self._allowed_origin():
            self._send(
                405,
                "Only GET and HEAD are allowed. "
                f"Received: method={_shown(self.command)}",
                headers={"Allow": "GET, HEAD", "Connection": "close"},
            )

    def _allowed_origin(self):
        """Sends a 403 and returns False for another host or origin."""
        host = self.headers.get("Host", "")
        if not self.server.allows_host(host):
            self._send(
                403,
                "The `Host` header must name the address this demo "
                f"serves ({self.server.url}). Received: Host={_shown(host)}",
            )
            return False
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            self._send(
                403,
                "Requests from other pages are refused. Expected: "
                f"Origin=http://{host} or none. "
                f"Received: Origin={_shown(origin)}",
            )
            return False
        return True

    def _answer(self):
        if not self._allowed_origin():
            return
        url = urllib.parse.urlsplit(self.path)
        routes = {
            "/": ("text/html; charset=utf-8", lambda q: self.server.page),
            "/grid.png": ("image/png", self.server.grid_png),
            "/walk.png": ("image/png", self.server.walk_png),
        }
        if url.path not in routes:
            self._send(
                404,
                f"`path` must be one of {', '.join(routes)}. "
                f"Received: path={_shown(url.path)}",
            )
            return
        kind, make = routes[url.path]
        try:
            content = make(url.query)
        except ValueError as error:
            self._send(400, str(error))
            return
        except Exception as error:  # Never a stack trace to the page.
            message = f"{type(error).__name__}: {error}"
            print(f"keras-dcgan demo: {message}", file=sys.stderr)
            self._send(500, message)
            return
        self._send(200, content, kind=kind)

    def _send(self, status, content, kind=None, headers=None):
        if isinstance(content, str):
            content = (" ".join(content.split()) + "\n").encode()
            kind = "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; img-src 'self' data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
            "connect-src 'self'; "
            "frame-ancestors 'none'",
        )
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def log_message(self, format, *args):
        pass  # The console shows the address and errors, not each request.


def _is_ip_address(host):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _shown(text, limit=60):
    """`text` for a one-line message: printable, at most `limit` chars."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return text if text.isprintable() else ascii(text)


def _fields(query, names):
    """The query's values by name; raises for unknown or repeated names."""
    fields = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name not in names:
            raise ValueError(
                f"The query takes {', '.join(names)}. "
                f"Received: {_shown(name)}={_shown(value)}"
            )
        if name in fields:
            raise ValueError(
                f"`{name}` must be given once. Received: {name}="
                f"{_shown(fields[name])} and {name}={_shown(value)}"
            )
        fields[name] = value
    return fields


def _integer(fields, name, default, low, high, closed=False):
    """The integer `fields[name]` in [low, high), or `default`.

    `closed` words the range as [low, high - 1]."""
    text = fields.get(name)
    if text is None:
        return default
    if re.fullmatch(r"-?[0-9]{1,20}", text) and low <= int(text) < high:
        return int(text)
    bounds = f"[{low}, {high - 1}]" if closed else f"[{low}, {high})"
    raise ValueError(
        f"`{name}` must be an integer in {bounds}. "
        f"Received: {name}={_shown(text)}"
    )


def _truncation(fields):
    """The truncation psi, or `None` for 0 (no truncation)."""
    text = fields.get("truncation", "0")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            "`truncation` must be a non-negative number (0 turns it off). "
            f"Received: truncation={_shown(text)}"
        )
    return value or None


def _label(fields, model):
    """The class index asked for, or `None` for classes drawn at random."""
    text = fields.get("label", "random")
    if text == "random":
        return None
    if model.num_classes is None:
        raise ValueError(
            "`label` only applies to a class-conditional model, and this "
            f"one has no classes. Received: label={_shown(text)}"
        )
    if re.fullmatch(r"[0-9]{1,9}", text) and int(text) < model.num_classes:
        return int(text)
    raise ValueError(
        f"`label` must be a class index in [0, {model.num_classes}) or "
        f"`random`. Received: label={_shown(text)}"
    )


def _columns(num):
    """Columns of a `num`-image grid: as square as possible."""
    return max(1, math.ceil(math.sqrt(num)))


def _render_page(model, name):
    """The page's HTML: the controls, the two images and the script."""
    options = ['<option value="random">random classes</option>']
    for index in range(model.num_classes or 0):
        names = model.class_names
        title = names[index] if names else f"class {index}"
        options.append(
            f'<option value="{index}">{index}: {html.escape(title)}</option>'
        )
    sizes = "".join(
        f"<option{' selected' if n == 36 else ''}>{n}</option>"
        for n in GRID_SIZES
    )
    steps = "".join(
        f"<option{' selected' if n == 10 else ''}>{n}</option>"
        for n in WALK_STEPS
    )
    return PAGE.format(
        name=html.escape(name),
        classes="".join(options),
        class_hidden="" if model.num_classes else " hidden",
        sizes=sizes,
        steps=steps,
        max_seed=MAX_SEED - 1,
        style=STYLE,
        script=SCRIPT,
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 48em;
  padding: 0 1em; color: #222; }
form { display: flex; flex-wrap: wrap; gap: 0.6em 1.2em; align-items: center;
  margin: 0.8em 0; }
input[type=number] { width: 8em; }
img { image-rendering: pixelated; width: 100%; border: 1px solid #ccc;
  background: #eee; }
#grid { max-width: 36em; }
.error { color: #b00020; font-family: ui-monospace, monospace; }
"""

SCRIPT = """
const $ = (id) => document.getElementById(id);

// Shows `url` in `img`, or the server's one-line message instead.
function show(img, url) {
  const error = $(img.id + "-error");
  img.onload = () => { img.hidden = false; error.hidden = true; };
  img.onerror = () => {
    fetch(url).then((r) => r.text()).then((text) => {
      error.textContent = text;
      error.hidden = false;
      img.hidden = true;
    });
  };
  img.src = url;
}

function common() {
  const query = new URLSearchParams({ seed: $("seed").value });
  if (Number($("truncation").value) > 0) {
    query.set("truncation", $("truncation").value);
  }
  if ($("label").value !== "random") query.set("label", $("label").value);
  return query;
}

function drawGrid() {
  const query = common();
  query.set("num", $("num").value);
  const url = "grid.png?" + query;
  show($("grid"), url);
  $("download").href = url;
  $("download").download =
    document.body.dataset.name + "_seed" + $("seed").value + ".png";
  $("truncation-value").textContent =
    Number($("truncation").value) > 0 ? $("truncation").value : "off";
  history.replaceState(null, "", "#" + query + "&num=" + $("num").value);
}

function drawWalk() {
  if ($("to").value === "") {
    $("to").value = (Number($("seed").value) + 1) % 2147483648;
  }
  const query = common();
  query.set("to", $("to").value);
  query.set("num", $("steps").value);
  show($("walk"), "walk.png?" + query);
}

function newSamples() {
  $("seed").value = crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
  drawGrid();
}

$("new").addEventListener("click", newSamples);
$("walk-button").addEventListener("click", drawWalk);
for (const id of ["seed", "label", "truncation", "num"]) {
  $(id).addEventListener("change", drawGrid);
}
$("truncation").addEventListener("input", () => {
  $("truncation-value").textContent =
    Number($("truncation").value) > 0 ? $("truncation").value : "off";
});

// `#seed=5&label=1&truncation=0.5&num=16` opens the page with those values
// (each control's change event redraws), `&click=new` or `&click=walk`
// then presses that button.
const wanted = new URLSearchParams(location.hash.slice(1));
drawGrid();
for (const id of ["seed", "label", "truncation", "num", "to", "steps"]) {
  if (wanted.has(id)) {
    $(id).value = wanted.get(id);
    $(id).dispatchEvent(new Event("change"));
  }
}
for (const click of wanted.getAll("click")) {
  if (click === "new") $("new").click();
  if (click === "walk") $("walk-button").click();
}
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{name}: keras-dcgan demo</title>
<style>{style}</style></head><body data-name="{name}">
<h1>{name}</h1>
<form id="controls" onsubmit="return false">
<button type="button" id="new">New samples</button>
<label>Seed <input id="seed" type="number" min="0" max="{max_seed}"
 step="1" value="0"></label>
<label{class_hidden}>Class <select id="label">{classes}</select></label>
<label>Truncation <input id="truncation" type="range" min="0" max="2"
 step="0.05" value="0"> <output id="truncation-value">off</output></label>
<label>Images <select id="num">{sizes}</select></label>
<a id="download" href="grid.png" download>Download PNG</a>
</form>
<p id="grid-error" class="error" role="alert" hidden></p>
<img id="grid" alt="A grid of generated images" hidden>
<h2>Walk between two samples</h2>
<p>From the first image of this seed's grid to the first image of another
seed's (without truncation), along the sphere that the noise lies near
(slerp).</p>
<form onsubmit="return false">
<label>To seed <input id="to" type="number" min="0" max="{max_seed}"
 step="1"></label>
<label>Steps <select id="steps">{steps}</select></label>
<button type="button" id="walk-button">Walk</button>
</form>
<p id="walk-error" class="error" role="alert" hidden></p>
<img id="walk" alt="A walk between two generated images" hidden>
<script>{script}</script>
</body></html>
"""
