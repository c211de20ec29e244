"""Writing files atomically (downloads, the profile): readers see old or new, whole."""

import contextlib
import os
import tempfile
from pathlib import Path

DOWNLOAD_FILE_MODE = 0o644


def write_atomically(
    path: Path, data: bytes, *, mode: int = DOWNLOAD_FILE_MODE
) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync, then rename over it.

    Raises:
        OSError: the directory is missing or not writable.
    """
    directory = path.parent
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{path.name}-", suffix=".tmp", dir=directory
    )
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
