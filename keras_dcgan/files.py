"""Files: atomic writes (a reader or a killed process never sees half a
file) and content hashes."""

import hashlib
import os
import tempfile


def fsync_dir(folder):
    """Flushes a folder's entries (a rename) to disk, where supported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def usual_permissions(path, mode):
    """Gives a file (`mode` 0o666) or folder (0o777) made by `tempfile`,
    which only its owner may read, the permissions of any the user makes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def atomic_replace(path, write_file, suffix=".tmp"):
    """Calls `write_file(temporary_path)`, then renames the file to `path`.

    The temporary file lies in the same folder (so the rename is atomic),
    ends with `suffix` (a `.keras` model needs its extension), is flushed to
    disk before the rename, and is removed if anything fails. Returns
    `path`.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path) + ".", suffix=suffix
    )
    os.close(fd)
    try:
        usual_permissions(tmp_path, 0o666)
        write_file(tmp_path)
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    fsync_dir(folder)
    return path


def atomic_write(path, write):
    """Calls `write(file_object)` on a temporary file, then renames it.

    See `atomic_replace`. Returns `path`.
    """

    def write_file(tmp_path):
        with open(tmp_path, "wb") as f:
            write(f)

    return atomic_replace(path, write_file)


def write_bytes_atomic(path, data):
    """Writes `data` (bytes) to `path` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def file_hash(path, algorithm="sha256"):
    """The hex digest of a file's content.

    Args:
        path: the file.
        algorithm: string. A `hashlib` algorithm name, such as `"sha256"`,
            `"sha1"` or `"md5"`. Defaults to `"sha256"`.

    Returns:
        A string of hex digits.
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
