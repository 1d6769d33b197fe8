"""`keras-dcgan demo`: the page, its images and its guards, and the page in
a real browser."""

import contextlib
import http.client
import io
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse

import keras
import numpy as np
import pytest
from helpers import LATENT_DIM, chromium, screenshot, tiny_dcgan
from PIL import Image

import keras_dcgan
from keras_dcgan import cli, images
from keras_dcgan.demo import DemoServer

CLASS_NAMES = ["circles", "squares", "stars"]


def conditional_dcgan():
    keras.utils.set_random_seed(0)
    return keras_dcgan.DCGAN(
        keras_dcgan.build_generator(
            LATENT_DIM, (16, 16, 3), filters=4, num_classes=3
        ),
        keras_dcgan.build_discriminator((16, 16, 3), filters=4, num_classes=3),
        latent_dim=LATENT_DIM,
        num_classes=3,
        class_names=CLASS_NAMES,
    )


@contextlib.contextmanager
def serving(model, name):
    """A `DemoServer` answering on a thread of this process."""
    server = DemoServer(model, name=name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server():
    with serving(tiny_dcgan(), "tiny") as server:
        yield server


@pytest.fixture(scope="module")
def conditional_server():
    with serving(conditional_dcgan(), "shapes") as server:
        yield server


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "tiny.keras"
    tiny_dcgan().save(path)
    return path


def request(server, path, method="GET", headers=None):
    """`(status, headers, body)` of one request to `server`."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def png(server, path):
    """The pixels of a PNG that `server` answers with 200."""
    status, headers, body = request(server, path)
    assert status == 200, body
    assert headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def cells(grid, rows, cols, size=16, padding=2):
    """The images of a `make_grid` grid, as int arrays."""
    return [
        grid[
            padding + r * (size + padding) : padding
            + r * (size + padding)
            + size,
            padding + c * (size + padding) : padding
            + c * (size + padding)
            + size,
        ].astype(int)
        for r in range(rows)
        for c in range(cols)
    ]


def test_the_page_loads_with_its_controls(server, conditional_server):
    status, headers, body = request(server, "/")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>tiny: keras-dcgan demo</title>" in page
    for control in ('id="new"', 'id="seed"', 'id="truncation"', 'id="num"'):
        assert control in page
    assert 'id="download" href="grid.png" download' in page
    # Nothing from the network: every link is the server's own.
    for link in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert link in ("grid.png", "data:,"), link
    # An unconditional model has no class to choose.
    assert '<label hidden>Class <select id="label">' in page
    page = request(conditional_server, "/")[2].decode()
    assert "<label>Class <select id=" in page
    assert '<option value="random">random classes</option>' in page
    assert '<option value="2">2: stars</option>' in page


def test_grid_png_is_the_samples_of_the_seed(server):
    grid = png(server, "/grid.png?seed=3&num=5")
    # 5 images: 3 columns, 2 rows of 16x16 images with 2-pixel padding.
    assert grid.shape == (2 * 18 + 2, 3 * 18 + 2, 3)
    expected = images.make_grid(server.model.generate(5, seed=3), cols=3)
    np.testing.assert_allclose(grid, expected, atol=1)
    np.testing.assert_array_equal(grid, png(server, "/grid.png?seed=3&num=5"))
    assert not np.array_equal(grid, png(server, "/grid.png?seed=4&num=5"))
    assert png(server, "/grid.png?num=64").shape == (8 * 18 + 2,) * 2 + (3,)
    # Truncation changes the noise; 0 turns it off.
    truncated = png(server, "/grid.png?seed=3&num=5&truncation=0.5")
    assert not np.array_equal(grid, truncated)
    np.testing.assert_array_equal(
        grid, png(server, "/grid.png?seed=3&num=5&truncation=0")
    )


def test_label_chooses_the_class(conditional_server):
    server = conditional_server
    first = png(server, "/grid.png?seed=3&num=4&label=0")
    second = png(server, "/grid.png?seed=3&num=4&label=1")
    assert not np.array_equal(first, second)
    expected = server.model.generate(4, seed=3, labels=np.full(4, 1))
    np.testing.assert_allclose(
        second, images.make_grid(expected, cols=2), atol=1
    )
    np.testing.assert_array_equal(
        png(server, "/grid.png?seed=3&num=4"),
        png(server, "/grid.png?seed=3&num=4&label=random"),
    )


def test_walk_png_goes_from_one_seed_to_the_other(server, conditional_server):
    walk = png(server, "/walk.png?seed=3&to=8&num=4")
    assert walk.shape == (18 + 2, 4 * 18 + 2, 3)
    frames = cells(walk, 1, 4)
    # The ends are the first images of the two seeds' grids.
    start = cells(png(server, "/grid.png?seed=3&num=1"), 1, 1)[0]
    end = cells(png(server, "/grid.png?seed=8&num=1"), 1, 1)[0]
    assert np.abs(frames[0] - start).max() <= 1
    assert np.abs(frames[-1] - end).max() <= 1
    assert not np.array_equal(frames[1], frames[0])
    labelled = png(conditional_server, "/walk.png?seed=3&to=8&num=4&label=2")
    assert not np.array_equal(
        labelled, png(conditional_server, "/walk.png?seed=3&to=8&num=4&label=0")
    )


@pytest.mark.parametrize(
    "path, status, message",
    [
        (
            "/grid.png?seed=abc",
            400,
            "`seed` must be an integer in [0, 2147483648). Received: seed=abc",
        ),
        (
            "/grid.png?seed=2147483648",
            400,
            "`seed` must be an integer in [0, 2147483648). "
            "Received: seed=2147483648",
        ),
        (
            "/grid.png?num=257",
            400,
            "`num` must be an integer in [1, 256]. Received: num=257",
        ),
        (
            "/grid.png?truncation=-0.5",
            400,
            "`truncation` must be a non-negative number (0 turns it off). "
            "Received: truncation=-0.5",
        ),
        (
            "/grid.png?truncation=much",
            400,
            "`truncation` must be a non-negative number (0 turns it off). "
            "Received: truncation=much",
        ),
        (
            "/grid.png?label=1",
            400,
            "`label` only applies to a class-conditional model, and this one "
            "has no classes. Received: label=1",
        ),
        (
            "/walk.png?num=1",
            400,
            "`num` must be an integer in [2, 64]. Received: num=1",
        ),
        (
            "/grid.png?seed=1&seed=2",
            400,
            "`seed` must be given once. Received: seed=1 and seed=2",
        ),
        (
            "/grid.png?sed=1%0Aline",
            400,
            "The query takes seed, num, truncation, label. "
            "Received: sed='1\\nline'",
        ),
        (
            "/admin",
            404,
            "`path` must be one of /, /grid.png, /walk.png. "
            "Received: path=/admin",
        ),
    ],
)
def test_bad_requests_get_one_line(server, path, status, message):
    answer, headers, body = request(server, path)
    assert answer == status
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body.decode() == message + "\n"


def test_a_label_out_of_range(conditional_server):
    status, _, body = request(conditional_server, "/grid.png?label=3")
    assert status == 400
    assert body.decode() == (
        "`label` must be a class index in [0, 3) or `random`. "
        "Received: label=3\n"
    )


def test_other_hosts_origins_and_methods_are_refused(server):
    port = server.port
    for host, status in (
        (f"127.0.0.1:{port}", 200),
        (f"localhost:{port}", 200),
        (f"[::1]:{port}", 200),
        (f"attacker.example:{port}", 403),
        (f"127.0.0.1:{port + 1}", 403),
        ("127.0.0.1", 403),
    ):
        answer, _, body = request(server, "/", headers={"Host": host})
        assert answer == status, (host, body)
    answer, _, body = request(
        server, "/grid.png", headers={"Host": f"attacker.example:{port}"}
    )
    assert answer == 403
    assert body.decode().startswith("The `Host` header must name")
    assert body.decode().endswith(f"Received: Host=attacker.example:{port}\n")
    same = f"http://127.0.0.1:{port}"
    assert request(server, "/", headers={"Origin": same})[0] == 200
    answer, _, body = request(
        server, "/grid.png", headers={"Origin": "http://attacker.example"}
    )
    assert answer == 403
    assert "Received: Origin=http://attacker.example" in body.decode()
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "BREW"):
        answer, headers, body = request(server, "/", method=method)
        assert answer == 405, method
        assert headers["Allow"] == "GET, HEAD"
        assert body.decode() == (
            f"Only GET and HEAD are allowed. Received: method={method}\n"
        )
    answer, headers, body = request(server, "/grid.png?num=4", method="HEAD")
    assert (answer, headers["Content-Type"], body) == (200, "image/png", b"")
    assert int(headers["Content-Length"]) > 0


def test_command_errors_are_one_line(model_file, tmp_path, capsys):
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(b"not a zip file")
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    taken = str(listening.getsockname()[1])
    cases = [
        (["--preset", "no_such_preset"], "no_such_preset"),
        (["--model", str(damaged)], "--model must be a .keras file saved"),
        (["--model", str(tmp_path / "missing.keras")], "--model must be"),
        (["--model", str(model_file), "--port", "70000"], "--port"),
        (["--model", str(model_file), "--port", taken], "cannot serve on"),
    ]
    try:
        for args, words in cases:
            assert cli.main(["demo", *args]) == 2, args
            captured = capsys.readouterr()
            assert captured.out == ""
            lines = captured.err.strip().splitlines()
            assert len(lines) == 1, captured.err
            assert lines[0].startswith("keras-dcgan: error: ")
            assert words in lines[0]
    finally:
        listening.close()


# Runs argv[1:] with a terminal's Ctrl-C: SIGINT handled by default and not
# blocked (a test runner's worker may ignore it, and a child inherits that);
# exec keeps both, and unlike `preexec_fn` needs no fork of this process.
WITH_CTRL_C = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); "
    "os.execv(sys.executable, sys.argv[1:])"
)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_command_serves_until_ctrl_c_or_sigterm(model_file, stop):
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_BACKEND=keras.backend.backend(),
    )
    process = subprocess.Popen(
        # -X faulthandler: SIGABRT prints every thread's stack (see below).
        [sys.executable, "-c", WITH_CTRL_C, sys.executable]
        + ["-X", "faulthandler", "-m", "keras_dcgan", "demo"]
        + ["--model"]
        + [str(model_file), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready, "no address within 120 s"
        line = process.stdout.readline()
        match = re.fullmatch(
            r"Serving tiny at (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C stops\)\n",
            line,
        )
        assert match, (line, process.stderr.read() if not line else "")
        url = urllib.parse.urlsplit(match.group(1))
        connection = http.client.HTTPConnection(url.hostname, url.port)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        assert b"<title>tiny: keras-dcgan demo</title>" in response.read()
        connection.close()
        process.send_signal(stop)
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            out, err = process.communicate()
            raise AssertionError(f"no stop within 120 s; stacks:\n{err}")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == "Stopped.\n"
    assert "Traceback" not in err
    # The socket is closed: nothing listens on the port any more.
    with pytest.raises(OSError):
        socket.create_connection((url.hostname, url.port), timeout=5)


# The page in a real browser.


def grid_source(dom):
    """The `src` of the page's grid image, and whether it is shown."""
    tag = re.search(r'<img id="grid"[^>]*>', dom).group(0)
    source = re.search(r'src="([^"]*)"', tag)
    return source and source.group(1).replace("&amp;", "&"), "hidden" in tag


def test_browser_controls_make_the_requests(conditional_server, tmp_path):
    url = conditional_server.url
    dom = chromium(url, "--dump-dom", tmp_path=tmp_path)
    assert grid_source(dom) == ("grid.png?seed=0&num=36", False)
    assert 'id="grid-error" class="error" role="alert" hidden' in dom
    # The hash sets the controls, whose change events redraw the grid.
    dom = chromium(
        url + "#seed=5&label=1&truncation=0.5&num=16",
        "--dump-dom",
        tmp_path=tmp_path,
    )
    assert grid_source(dom) == (
        "grid.png?seed=5&truncation=0.5&label=1&num=16",
        False,
    )
    assert (
        'href="grid.png?seed=5&amp;truncation=0.5&amp;label=1&amp;num=16"'
        in dom
    )
    assert 'download="shapes_seed5.png"' in dom
    # "New samples" draws another seed; "Walk" shows the strip.
    dom = chromium(
        url + "#seed=5&to=9&steps=6&click=new&click=walk",
        "--dump-dom",
        tmp_path=tmp_path,
    )
    source, hidden = grid_source(dom)
    seed = re.fullmatch(r"grid\.png\?seed=(\d+)&num=36", source).group(1)
    assert int(seed) != 5 and not hidden
    walk = re.search(r'<img id="walk"[^>]*>', dom).group(0)
    assert f'src="walk.png?seed={seed}&amp;to=9&amp;num=6"' in walk
    assert "hidden" not in walk


def test_browser_shows_the_message_instead_of_the_image(server, tmp_path):
    dom = chromium(server.url + "#seed=-3", "--dump-dom", tmp_path=tmp_path)
    assert grid_source(dom) == ("grid.png?seed=-3&num=36", True)
    assert (
        '<p id="grid-error" class="error" role="alert">`seed` must be an '
        "integer in [0, 2147483648). Received: seed=-3\n</p>"
    ) in dom


def test_browser_screenshot_shows_the_images(server, tmp_path):
    page = server.url + "#num=64&to=1&click=walk"
    pixels = screenshot(page, 800, 1000, tmp_path)
    assert pixels.std() > 10  # Not a blank page.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # Images.
