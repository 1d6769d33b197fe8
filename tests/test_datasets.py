import gzip
import hashlib
import os
import stat
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from keras_dcgan import datasets
from keras_dcgan.datasets import decoding, pokemon, sources

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def batches(dataset):
    out = list(dataset.as_numpy_iterator())
    for element in out:
        for array in element if isinstance(element, tuple) else (element,):
            assert isinstance(array, np.ndarray)
    return out


def all_images(dataset):
    return np.concatenate(batches(dataset))


def to_pixels(x):
    return np.rint((x + 1.0) * 127.5).astype(int)


# ---------------------------------------------------------------------------
# Synthetic image files.


def palette_sprite(size=8):
    """Palette PNG: transparent index 0 around a red centre."""
    image = Image.new("P", (size, size), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (2, 2, size - 2, size - 2))
    return image


def rgba_sprite(size=8):
    """RGBA with fully transparent *black* pixels around a green centre."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste(GREEN + (255,), (2, 2, size - 2, size - 2))
    return image


def write_classes(root):
    """Two class folders holding every kind of file the loader handles."""
    a, b = root / "a", root / "b"
    a.mkdir(parents=True)
    b.mkdir()
    palette_sprite().save(a / "palette.png", transparency=0)
    rgba_sprite().save(a / "rgba.png")
    la = Image.new("LA", (8, 8), (0, 0))
    la.paste((50, 255), (2, 2, 6, 6))
    la.save(a / "la.png")
    Image.new("L", (8, 8), 100).save(a / "gray.png")
    Image.new("RGB", (16, 16), GREEN).save(b / "photo.jpg", quality=95)
    Image.new("RGB", (8, 8), BLUE).save(b / "blue.bmp")
    frames = [Image.new("RGB", (8, 8), c).convert("P") for c in (RED, BLUE)]
    frames[0].save(b / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (8, 4), RED).save(b / "wide.png")
    (b / "nested").mkdir()
    Image.new("RGB", (8, 8), RED).save(b / "nested" / "deep.png")
    # Files that are not loaded.
    (b / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8), RED).save(b / ".hidden.png")
    return 9


def write_corrupt(folder):
    (folder / "bad.png").write_bytes(b"\x89PNG not really")
    png = folder / "whole.png"
    Image.new("RGB", (32, 32), RED).save(png)
    data = png.read_bytes()
    png.unlink()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    return 2


def by_name(dataset, images):
    return {os.path.basename(p): x for p, x in zip(dataset.file_paths, images)}


def load(folder, **kwargs):
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("image_size", 8)
    kwargs.setdefault("shuffle", False)
    return datasets.image_folder_dataset(folder, **kwargs)


# ---------------------------------------------------------------------------
# image_folder_dataset.


def test_image_folder_classes_shapes_and_range(tmp_path):
    count = write_classes(tmp_path)
    dataset = load(tmp_path, with_labels=True)
    assert dataset.class_names == ["a", "b"]
    assert len(dataset.file_paths) == count
    elements = batches(dataset)
    assert [len(x) for x, _ in elements] == [4, 4, 1]
    images = np.concatenate([x for x, _ in elements])
    labels = np.concatenate([y for _, y in elements])
    assert images.shape == (count, 8, 8, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert labels.dtype == np.int32
    expected = [int("/b/" in p) for p in dataset.file_paths]
    assert labels.tolist() == expected
    assert not any("notes" in p or "hidden" in p for p in dataset.file_paths)


def test_image_folder_composites_transparency(tmp_path):
    write_classes(tmp_path)
    images = by_name(*_named(tmp_path))
    for name, colour in (("palette.png", RED), ("rgba.png", GREEN)):
        pixels = to_pixels(images[name])
        assert pixels[0, 0].tolist() == [255, 255, 255], name
        assert pixels[4, 4].tolist() == list(colour), name
    la = to_pixels(images["la.png"])
    assert la[0, 0].tolist() == [255] * 3 and la[4, 4].tolist() == [50] * 3
    images = by_name(*_named(tmp_path, background=(0, 0, 255)))
    assert to_pixels(images["rgba.png"])[0, 0].tolist() == list(BLUE)


def _named(folder, **kwargs):
    dataset = load(folder, **kwargs)
    return dataset, all_images(dataset)


def test_image_folder_modes_formats_and_gif_first_frame(tmp_path):
    write_classes(tmp_path)
    images = by_name(*_named(tmp_path))
    assert (to_pixels(images["gray.png"]) == 100).all()
    assert (to_pixels(images["blue.bmp"]) == BLUE).all()
    assert (to_pixels(images["anim.gif"]) == RED).all()
    assert np.abs(to_pixels(images["photo.jpg"]) - GREEN).max() <= 3
    gray = by_name(*_named(tmp_path, channels=1))
    assert gray["gray.png"].shape == (8, 8, 1)
    assert (to_pixels(gray["gray.png"]) == 100).all()
    assert to_pixels(gray["rgba.png"])[0, 0, 0] == 255


def test_image_folder_sixteen_bit_cmyk_and_opaque_palette(tmp_path):
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(tmp_path / "a.png")
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "b.jpg")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    palette.save(tmp_path / "c.png")
    images = by_name(*_named(tmp_path))
    assert (to_pixels(images["a.png"]) == 255).all()
    assert np.abs(to_pixels(images["b.jpg"]) - RED).max() <= 3
    assert (to_pixels(images["c.png"]) == BLUE).all()


def test_image_folder_non_square_pad_and_crop(tmp_path):
    Image.new("RGB", (16, 8), RED).save(tmp_path / "wide.png")
    padded = to_pixels(all_images(load(tmp_path, resize_mode="pad"))[0])
    assert (padded[:2] == 255).all() and (padded[6:] == 255).all()
    assert (padded[2:6] == RED).all()
    cropped = to_pixels(all_images(load(tmp_path, resize_mode="crop"))[0])
    assert (cropped == RED).all()
    black = to_pixels(all_images(load(tmp_path, background="black"))[0])
    assert (black[:2] == 0).all()


def test_image_folder_flat_and_upscaling(tmp_path):
    for i in range(3):
        Image.new("RGB", (4, 4), (i * 50, 0, 0)).save(tmp_path / f"{i}.png")
    dataset = load(tmp_path, image_size=12, with_labels=True)
    assert dataset.class_names == []
    ((x, y),) = batches(
        load(tmp_path, image_size=12, with_labels=True, batch_size=8)
    )
    assert x.shape == (3, 12, 12, 3) and y.tolist() == [0, 0, 0]
    assert (to_pixels(x[2])[..., 0] == 100).all()


def test_image_folder_skips_corrupt_with_one_warning(tmp_path):
    write_classes(tmp_path)
    write_corrupt(tmp_path / "a")
    with pytest.warns(UserWarning, match=r"Skipped 2 .*'a/bad.png'") as rec:
        dataset = load(tmp_path)
    skipped = [w for w in rec if "Skipped" in str(w.message)]
    assert len(skipped) == 1
    assert len(all_images(dataset)) == 9
    assert not any("bad" in p for p in dataset.file_paths)


def test_image_folder_skips_oversized_images(tmp_path, monkeypatch):
    Image.new("RGB", (8, 8), RED).save(tmp_path / "ok.png")
    Image.new("RGB", (12, 12), RED).save(tmp_path / "warns.png")  # 1x-2x.
    Image.new("RGB", (20, 20), RED).save(tmp_path / "bomb.png")  # > 2x.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.warns(UserWarning, match="Skipped 2 "):
        dataset = load(tmp_path)
    assert [os.path.basename(p) for p in dataset.file_paths] == ["ok.png"]


def test_image_folder_ignores_root_images_beside_classes(tmp_path):
    write_classes(tmp_path)
    Image.new("RGB", (8, 8), RED).save(tmp_path / "stray.png")
    with pytest.warns(UserWarning, match="Ignored 1 image"):
        dataset = load(tmp_path)
    assert len(dataset.file_paths) == 9


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Received: directory="):
        load(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match="No image file found in"):
        load(empty)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    write_corrupt(corrupt)
    with pytest.warns(UserWarning, match="Skipped 2"):
        with pytest.raises(ValueError, match="No readable image found in"):
            load(corrupt)
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    for kwargs, match in (
        ({"image_size": 0}, "Received: image_size=0"),
        ({"image_size": -3}, "Received: image_size=-3"),
        ({"batch_size": 0}, "Received: batch_size=0"),
        ({"channels": 2}, "Received: channels=2"),
        ({"resize_mode": "stretch"}, "Received: resize_mode='stretch'"),
        ({"background": "nocolour"}, "Received: background='nocolour'"),
        ({"background": (300, 0, 0)}, "Received: background="),
    ):
        with pytest.raises(ValueError, match=match):
            load(tmp_path, **kwargs)


def test_image_folder_disk_cache_reused_and_invalidated(tmp_path, monkeypatch):
    folder = tmp_path / "images"
    write_classes(folder)
    cache = tmp_path / "cache" / "pixels.npy"
    in_memory = all_images(load(folder))
    first = all_images(load(folder, cache_file=cache))
    np.testing.assert_array_equal(first, in_memory)
    assert cache.exists() and Path(str(cache) + ".json").exists()

    real_decode = decoding.decode_image
    monkeypatch.setattr(decoding, "decode_image", _no_decode)
    dataset = load(folder, cache_file=cache, with_labels=True, shuffle=True)
    assert dataset.class_names == ["a", "b"]
    np.testing.assert_array_equal(
        np.sort(all_images(dataset.map(lambda x, y: x)), axis=0),
        np.sort(in_memory, axis=0),
    )
    # A changed source folder (or decoding argument) invalidates the cache.
    Image.new("RGB", (8, 8), RED).save(folder / "a" / "new.png")
    monkeypatch.setattr(decoding, "decode_image", real_decode)
    assert len(all_images(load(folder, cache_file=cache))) == 10
    assert len(all_images(load(folder, cache_file=cache, image_size=4))) == 10
    leftovers = [p for p in os.listdir(cache.parent) if "tmp" in p]
    assert leftovers == []


def _no_decode(*args, **kwargs):
    raise AssertionError("decoded again instead of using the cache")


# ---------------------------------------------------------------------------
# The pipeline: shuffle, batch, determinism, fit().


def fake(seed=3, **kwargs):
    kwargs.setdefault("batch_size", 5)
    return datasets.fake_dataset(
        20, image_shape=(1, 1, 1), seed=seed, with_labels=True, **kwargs
    )


def epoch_ids(dataset):
    # Image pixels are random; use them with the labels as the identity.
    return [
        [tuple(v) for v in np.c_[x.reshape(len(x), -1), y]]
        for x, y in dataset.as_numpy_iterator()
    ]


def test_shuffle_changes_every_epoch_and_is_seeded():
    dataset = fake()
    first, second = epoch_ids(dataset), epoch_ids(dataset)
    assert sorted(sum(first, [])) == sorted(sum(second, []))
    # Batch composition changes between epochs (not just batch order).
    assert {frozenset(b) for b in first} != {frozenset(b) for b in second}
    again = fake()
    assert epoch_ids(again) == first and epoch_ids(again) == second
    assert epoch_ids(fake(seed=4)) != first


def test_no_shuffle_and_drop_remainder():
    dataset = datasets.fake_dataset(
        10, image_shape=(2, 2, 1), batch_size=4, shuffle=False
    )
    sizes = [len(b) for b in batches(dataset)]
    assert sizes == [4, 4, 2]
    assert batches(dataset)[0].tolist() == batches(dataset)[0].tolist()
    dropped = datasets.fake_dataset(
        10, image_shape=(2, 2, 1), batch_size=4, drop_remainder=True
    )
    assert [len(b) for b in batches(dropped)] == [4, 4]
    assert dropped.element_spec.shape.as_list() == [4, 2, 2, 1]


def test_fake_dataset_shapes_and_errors():
    x = batches(datasets.fake_dataset(3, image_shape=(5, 7, 2), batch_size=8))
    assert x[0].shape == (3, 5, 7, 2) and x[0].dtype == np.float32
    assert x[0].min() >= -1 and x[0].max() <= 1
    x, y = batches(fake(batch_size=32))[0]
    assert y.dtype == np.int32 and 0 <= y.min() and y.max() < 10
    with pytest.raises(ValueError, match=r"Received: image_shape=\(4, 0\)"):
        datasets.fake_dataset(image_shape=(4, 0))
    with pytest.raises(ValueError, match="Received: num_examples=0"):
        datasets.fake_dataset(0)


def test_batches_feed_keras_fit_on_current_backend():
    dataset = datasets.fake_dataset(
        8,
        image_shape=(4, 4, 3),
        batch_size=4,
        num_classes=2,
        with_labels=True,
    )
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    model.compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    x, _ = next(dataset.as_numpy_iterator())
    assert keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(x)).shape == (
        4,
        4,
        4,
        3,
    )


def test_preview_dataset_saves_grid(tmp_path):
    dataset = datasets.fake_dataset(30, image_shape=(4, 4, 3), batch_size=8)
    grid = datasets.preview_dataset(dataset, tmp_path / "real.png", 4, 5)
    assert grid.shape == (4 * 6 + 2, 5 * 6 + 2, 3)
    with Image.open(tmp_path / "real.png") as saved:
        assert saved.size == (32, 26)
    assert datasets.take_images(dataset, 20).shape == (20, 4, 4, 3)


# ---------------------------------------------------------------------------
# Pokemon: zips, safe extraction, download.


def make_pokemon_zip(path, per_class=(2, 1)):
    with zipfile.ZipFile(path, "w") as zf:
        for c, count in enumerate(per_class, start=1):
            for i in range(count):
                data = _png_bytes(palette_sprite(12), transparency=0)
                zf.writestr(f"pokemon/{c:03d}/{i}.png", data)
    return sum(per_class)


def _png_bytes(image, **kwargs):
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def test_load_pokemon_from_zip_and_folder(tmp_path, monkeypatch):
    _no_network(monkeypatch, tmp_path)
    archive = tmp_path / "pokemon.zip"
    count = make_pokemon_zip(archive)
    dataset = datasets.load_pokemon(4, 8, path=archive, with_labels=True)
    assert dataset.class_names == ["001", "002"]
    ((x, y),) = batches(dataset)
    assert x.shape == (count, 8, 8, 3) and sorted(y.tolist()) == [0, 0, 1]
    assert (to_pixels(x)[:, 0, 0] == 255).all()  # White, not black.
    extracted = tmp_path / "extracted"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(extracted)
    for folder in (extracted, extracted / "pokemon"):
        dataset = datasets.load_pokemon(2, 8, path=folder, shuffle=False)
        assert dataset.class_names == ["001", "002"]
        assert all_images(dataset).shape == (count, 8, 8, 3)


def _no_network(monkeypatch, tmp_path):
    # A download from this URL fails: any network use shows as an error.
    url = (tmp_path / "no-network" / "pokemon.zip").as_uri()
    monkeypatch.setattr(pokemon, "POKEMON_URL", url)


def _evil_zip(path, name, symlink=False):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pokemon/001/ok.png", _png_bytes(palette_sprite()))
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, b"/etc/passwd" if symlink else b"evil")


@pytest.mark.parametrize(
    "name, symlink, reason",
    [
        ("../evil.png", False, r"'\.\.'"),
        ("pokemon/../../evil.png", False, r"'\.\.'"),
        ("/tmp/evil.png", False, "absolute path"),
        ("pokemon/001/link.png", True, "symbolic link"),
    ],
)
def test_unsafe_zip_entries_are_refused(tmp_path, name, symlink, reason):
    archive = tmp_path / "work" / "evil.zip"
    archive.parent.mkdir()
    _evil_zip(archive, name, symlink)
    dest = tmp_path / "work" / "out" / "pokemon"
    with pytest.raises(ValueError, match=f"unsafe because it .*{reason}"):
        sources.safe_extract(archive, dest)
    with pytest.raises(ValueError, match="Refusing to read the archive"):
        datasets.load_pokemon(path=archive)
    assert not dest.exists()
    assert sorted(os.listdir(archive.parent)) == ["evil.zip", "out"]
    assert os.listdir(archive.parent / "out") == []
    assert not (tmp_path / "evil.png").exists()


def test_truncated_zip_and_missing_path(tmp_path):
    archive = tmp_path / "pokemon.zip"
    make_pokemon_zip(archive)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable zip archive"):
        datasets.load_pokemon(path=archive)
    with pytest.raises(ValueError, match="not a readable zip archive"):
        sources.safe_extract(archive, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["pokemon.zip"]
    with pytest.raises(FileNotFoundError, match="Received: path="):
        datasets.load_pokemon(path=tmp_path / "nothing.zip")
    with pytest.raises(ValueError, match="Received: image_size=0"):
        datasets.load_pokemon(image_size=0, path=archive)


def _serve(monkeypatch, path):
    # `keras.utils.get_file` downloads file:// URLs like https ones.
    monkeypatch.setattr(pokemon, "POKEMON_URL", Path(path).as_uri())


def test_download_hash_mismatch_leaves_nothing(tmp_path, monkeypatch):
    served = tmp_path / "served.zip"
    served.write_bytes(b"not the zip")
    _serve(monkeypatch, served)
    with pytest.raises(ValueError, match=r"sha1.*path=") as info:
        datasets.load_pokemon(cache_dir=tmp_path / "keras")
    assert datasets.POKEMON_SHA1 in str(info.value)
    assert os.listdir(tmp_path / "keras" / "datasets") == []


def test_download_without_network_mentions_path(tmp_path, monkeypatch):
    _no_network(monkeypatch, tmp_path)
    with pytest.raises(OSError, match=r"Could not download.*path=") as info:
        datasets.load_pokemon(cache_dir=tmp_path / "keras")
    assert isinstance(info.value.__cause__, Exception)
    assert os.listdir(tmp_path / "keras" / "datasets") == []


def test_download_verifies_extracts_and_reuses_cache(tmp_path, monkeypatch):
    archive = tmp_path / "served.zip"
    count = make_pokemon_zip(archive, per_class=(1, 1, 2))
    sha1 = hashlib.sha1(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(pokemon, "POKEMON_SHA1", sha1)
    cache = tmp_path / "keras"
    (cache / "datasets").mkdir(parents=True)
    # A stale, wrong zip in the cache is not trusted.
    (cache / "datasets" / "pokemon.zip").write_bytes(b"stale")
    _serve(monkeypatch, archive)
    dataset = datasets.load_pokemon(2, 8, cache_dir=cache)
    assert len(all_images(dataset)) == count
    assert dataset.class_names == ["001", "002", "003"]
    _no_network(monkeypatch, tmp_path)
    dataset = datasets.load_pokemon(2, 8, cache_dir=cache)
    assert len(all_images(dataset)) == count
    names = sorted(os.listdir(cache / "datasets"))
    assert names == ["pokemon-" + sha1[:12], "pokemon.zip"]


# ---------------------------------------------------------------------------
# Fashion-MNIST.


def write_idx(folder, split, images, labels):
    images_name, _, labels_name, _ = datasets.FASHION_MNIST_FILES[split]
    n = len(images)
    header = np.array([2051, n, 28, 28], ">u4").tobytes()
    with gzip.open(folder / images_name, "wb") as f:
        f.write(header + images.astype(np.uint8).tobytes())
    with gzip.open(folder / labels_name, "wb") as f:
        header = np.array([2049, n], ">u4").tobytes()
        f.write(header + labels.astype(np.uint8).tobytes())


@pytest.fixture
def idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("test", 10)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = labels * 20  # Tie each image to its label.
        write_idx(tmp_path, split, images, labels)
    return tmp_path


def mnist(folder, **kwargs):
    kwargs.setdefault("batch_size", 64)
    kwargs.setdefault("verify", False)
    return datasets.load_fashion_mnist(path=folder, **kwargs)


def test_fashion_mnist_from_idx_files(idx_folder):
    dataset = mnist(idx_folder, with_labels=True)
    assert dataset.class_names[7] == "Sneaker"
    ((x, y),) = batches(dataset)
    assert x.shape == (30, 32, 32, 1) and x.dtype == np.float32
    assert y.dtype == np.int32 and np.bincount(y).tolist() == [3] * 10
    # Padded by 2 black pixels each side: -1.
    assert (x[:, :2] == -1).all() and (x[:, :, -2:] == -1).all()
    assert (to_pixels(x[:, 2, 2, 0]) == y * 20).all()
    (x,) = batches(mnist(idx_folder, split="test", image_size=28))
    assert x.shape == (10, 28, 28, 1) and x.min() >= -1 and x.max() <= 1


def test_fashion_mnist_class_filter_resize_and_channels(idx_folder):
    dataset = mnist(
        idx_folder,
        classes=["sneaker", 0, "Ankle boot"],
        with_labels=True,
        image_size=16,
        resize_mode="resize",
        channels=3,
    )
    ((x, y),) = batches(dataset)
    assert sorted(set(y.tolist())) == [0, 7, 9] and len(y) == 9
    assert x.shape == (9, 16, 16, 3)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    ((x, y),) = batches(mnist(idx_folder, classes="T-shirt", with_labels=True))
    assert set(y.tolist()) == {0}


def test_fashion_mnist_errors(idx_folder, tmp_path):
    with pytest.raises(ValueError, match="Received: split='validation'"):
        mnist(idx_folder, split="validation")
    with pytest.raises(ValueError, match="unknown class 'sandals'"):
        mnist(idx_folder, classes=["sneaker", "sandals"])
    with pytest.raises(ValueError, match="unknown class 10"):
        mnist(idx_folder, classes=[10])
    with pytest.raises(ValueError, match="Received: image_size=0"):
        mnist(idx_folder, image_size=0)
    with pytest.raises(ValueError, match="Received: image_size=16"):
        mnist(idx_folder, image_size=16)  # Cannot pad 28 down to 16.
    with pytest.raises(ValueError, match=r"verify=False.*Received: md5="):
        mnist(idx_folder, verify=True)
    with pytest.raises(FileNotFoundError, match="Received: path="):
        mnist(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no train-images-idx3"):
        mnist(empty)
    name = datasets.FASHION_MNIST_FILES["train"][0]
    data = gzip.decompress((idx_folder / name).read_bytes())
    (idx_folder / name).write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(ValueError, match="truncated"):
        mnist(idx_folder)


def test_fashion_mnist_through_tfds_mock():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        dataset = datasets.load_fashion_mnist(batch_size=5, with_labels=True)
        (x, y), _, _ = batches(dataset)
    assert x.shape == (5, 32, 32, 1) and y.dtype == np.int32
    assert x.min() >= -1 and x.max() <= 1


# ---------------------------------------------------------------------------
# The real data sets (slow; each test is skipped when its data is absent).


def real_data():
    """`KERAS_DCGAN_TEST_DATA`: a folder holding `pokemon/pokemon.zip` (a
    sprite zip in d2l's layout) and `fashion-mnist/` (the four idx files)."""
    return Path(os.environ.get("KERAS_DCGAN_TEST_DATA", "real-data-not-set"))


@pytest.mark.slow
def test_real_pokemon_stand_in():
    archive = real_data() / "pokemon" / "pokemon.zip"
    if not archive.exists():
        pytest.skip(f"{archive} is absent")
    dataset = datasets.load_pokemon(path=archive, seed=0, with_labels=True)
    assert len(dataset.class_names) == 721
    assert len(dataset.file_paths) == 23035
    count, labels = 0, []
    for x, y in dataset.as_numpy_iterator():
        assert x.shape[1:] == (64, 64, 3) and x.dtype == np.float32
        assert x.min() >= -1.0 and x.max() <= 1.0
        count += len(x)
        labels.append(y)
    assert count == 23035
    assert len(np.unique(np.concatenate(labels))) == 721


@pytest.mark.slow
@pytest.mark.parametrize("split, per_class", [("train", 6000), ("test", 1000)])
def test_real_fashion_mnist(split, per_class):
    folder = real_data() / "fashion-mnist"
    if not folder.exists():
        pytest.skip(f"{folder} is absent")
    dataset = datasets.load_fashion_mnist(
        split, path=folder, with_labels=True, batch_size=1000
    )
    images, labels = zip(*dataset.as_numpy_iterator())
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert images.shape == (10 * per_class, 32, 32, 1)
    assert np.bincount(labels).tolist() == [per_class] * 10
    assert images.min() == -1.0 and images.max() == 1.0
    sneakers = datasets.load_fashion_mnist(
        split, path=folder, classes="sneaker", with_labels=True
    )
    labels = np.concatenate([y for _, y in sneakers.as_numpy_iterator()])
    assert len(labels) == per_class and set(labels.tolist()) == {7}
