"""Image sources: a folder or a zip archive, and safe zip extraction.

A source lists its images as relative posix paths (hidden files and
`__MACOSX` ignored) and reads their bytes. Archive entries that could
escape the target folder (absolute paths, `..`, symbolic links) are
refused before anything is read or written.
"""

import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
import warnings
import zipfile
import zlib

import numpy as np

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def is_image_name(relpath):
    parts = relpath.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return parts[-1].lower().endswith(IMAGE_EXTENSIONS)


class _Source:
    """A list of image paths (relative, posix) and a way to read them."""

    origin = ""
    prefix = ""  # Prepended to `names` when reading.
    names = ()

    def strip_common_folder(self):
        """Drops a single top folder shared by all paths (d2l's `pokemon/`).

        Returns the folder dropped ("" if none).
        """
        names = self.names
        if not names:
            return ""
        top = names[0].split("/")[0] + "/"
        if all(n.startswith(top) and n.count("/") >= 2 for n in names):
            self.names = [n[len(top) :] for n in names]
            self.prefix += top
            return top
        return ""

    def close(self):
        pass


class FolderSource(_Source):
    def __init__(self, directory):
        self.root = os.fspath(directory)
        self.origin = self.root
        names = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            names.extend(rel + f for f in sorted(filenames))
        self.names = [n for n in names if is_image_name(n)]

    def _path(self, name):
        return os.path.join(self.root, *(self.prefix + name).split("/"))

    def read(self, name):
        with open(self._path(name), "rb") as f:
            return f.read()

    def fingerprint(self, names):
        digest = hashlib.sha1(os.path.abspath(self.root).encode())
        for name in names:
            st = os.stat(self._path(name))
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def _unsafe_member_reason(info):
    """Returns why a zip entry is unsafe to extract, or None."""
    name = info.filename.replace("\\", "/")
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a symbolic link"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "it has an absolute path"
    if ".." in name.split("/"):
        return "it has a '..' component"
    if "\0" in name:
        return "it has a NUL character in its name"
    return None


def _check_members(zf, origin):
    for info in zf.infolist():
        reason = _unsafe_member_reason(info)
        if reason is not None:
            raise ValueError(
                f"Refusing to read the archive {origin}: entry "
                f"{info.filename!r} is unsafe because {reason}. Expected "
                "relative paths inside the archive and regular files only."
            )


def _open_zip(path):
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"The file is not a readable zip archive (truncated or corrupt?): "
            f"{e}. Received: path={os.fspath(path)!r}"
        ) from None


class ZipSource(_Source):
    """Reads images straight from a zip archive, without extracting it."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.origin = self.path
        self._local = threading.local()
        self._opened = []
        self._lock = threading.Lock()
        with _open_zip(self.path) as zf:
            _check_members(zf, self.path)
            self._infos = {
                i.filename: i
                for i in zf.infolist()
                if not i.is_dir() and is_image_name(i.filename)
            }
        self.names = sorted(self._infos)

    def _zip(self):
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = self._local.zf = zipfile.ZipFile(self.path)
            with self._lock:
                self._opened.append(zf)
        return zf

    def read(self, name):
        return self._zip().read(self._infos[self.prefix + name])

    def fingerprint(self, names):
        st = os.stat(self.path)
        path = os.path.abspath(self.path)
        digest = hashlib.sha1(
            f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        )
        for name in names:
            crc = self._infos[self.prefix + name].CRC
            digest.update(f"{name}\0{crc}\n".encode())
        return digest.hexdigest()

    def close(self):
        with self._lock:
            for zf in self._opened:
                zf.close()
            self._opened.clear()


def labels_from_names(names, origin):
    """ImageFolder rule: the first folder of a path is its class.

    Returns `(kept_names, labels, class_names)`. A flat folder has no
    classes (all labels 0). When class sub-folders exist, images lying
    directly in the root are ignored, with a warning.
    """
    class_names = sorted({n.split("/")[0] for n in names if "/" in n})
    if not class_names:
        return names, np.zeros(len(names), np.int32), []
    kept = [n for n in names if "/" in n]
    if len(kept) < len(names):
        warnings.warn(
            f"Ignored {len(names) - len(kept)} image(s) lying directly in "
            f"{origin}, which has class sub-folders (for example "
            f"{next(n for n in names if '/' not in n)!r}).",
            stacklevel=4,
        )
    index = {c: i for i, c in enumerate(class_names)}
    labels = np.array([index[n.split("/")[0]] for n in kept], np.int32)
    return kept, labels, class_names


# ---------------------------------------------------------------------------
# Decoding many images, and the on-disk cache.


def no_images_error(source, readable):
    what = "readable image" if readable else "image file"
    return ValueError(
        f"No {what} found in {source.origin}. Expected a folder (or zip) of "
        f"{', '.join(IMAGE_EXTENSIONS)} files, flat or in class sub-folders. "
        f"Received: directory={source.origin!r}"
    )


def safe_extract(zip_path, dest):
    """Extracts `zip_path` to the new folder `dest`, atomically.

    Every entry is checked before anything is written: absolute paths,
    `..` components and symbolic links are refused. Files are extracted to a
    temporary folder next to `dest`, which is renamed to `dest` at the end,
    so a half-extracted folder is never found at `dest`.
    """
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(
        dir=parent, prefix="." + os.path.basename(dest) + ".extract-"
    )
    try:
        root = os.path.realpath(tmp)
        with _open_zip(zip_path) as zf:
            _check_members(zf, os.fspath(zip_path))
            for info in zf.infolist():
                name = info.filename.replace("\\", "/")
                target = os.path.realpath(os.path.join(root, *name.split("/")))
                if target != root and not target.startswith(root + os.sep):
                    raise ValueError(
                        f"Refusing to extract {info.filename!r} outside the "
                        f"target folder. Received: path={zip_path!r}"
                    )
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except (zipfile.BadZipFile, EOFError, zlib.error) as e:
                    raise ValueError(
                        f"The zip archive is corrupt ({e}). "
                        f"Received: path={os.fspath(zip_path)!r}"
                    ) from None
        try:
            os.rename(tmp, dest)
        except OSError:
            if not os.path.isdir(dest):  # Not a concurrent extraction.
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
