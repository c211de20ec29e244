"""Content-addressed storage for image packages (docs/updates.md §2).

``FileArtifactStore`` keeps ``<root>/blobs/<sha256 hex>``: a write goes to a temp file
in the same directory, is hashed while written, fsync'd and renamed, so a reader
never sees a partial blob and a blob's name is always its content's SHA-256. Served
by any plain HTTP server the ``blobs/`` directory is a mirror; TUF metadata makes
mirrors untrusted.

An S3-compatible store implements the same :class:`ArtifactStore` Protocol: put is a
multipart upload to a temporary key (hashing the parts as they pass, aborting the
upload past ``max_bytes``) followed by a server-side copy to ``blobs/<sha256>`` and a
delete of the temporary key; ``open_range`` is a ranged GET; ``size_bytes``/``exists``
are HEAD; ``path_of`` returns None, so callers stream with ``open_range`` instead of
handing a local file to the web server.
"""

import hashlib
import os
import uuid
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import anyio

from sevenfold.protocol.updates import is_sha256_hex
from sevenfold.service.errors import ArtifactTooLargeError, NotFoundError

READ_CHUNK_BYTES = 256 * 1024
WRITE_BATCH_BYTES = 1024 * 1024
_TEMP_PREFIX = ".incoming-"


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """A blob now in the store, named by its SHA-256."""

    sha256: str
    size_bytes: int


class ArtifactStore(Protocol):
    """Where artifact bytes live; every method takes the blob's SHA-256 hex."""

    def put_stream(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredArtifact:
        """Store a byte stream; past ``max_bytes`` raise and keep nothing."""
        ...

    async def put_async_stream(
        self, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> StoredArtifact:
        """As :meth:`put_stream`, from an async stream (an HTTP request body)."""
        ...

    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        """Yield bytes ``start`` to ``end`` (exclusive) of a blob, in chunks."""
        ...

    def read_head(self, sha256: str, max_bytes: int) -> bytes:
        """The first ``max_bytes`` bytes of a blob (fewer if it is shorter)."""
        ...

    def size_bytes(self, sha256: str) -> int:
        """The blob's size."""
        ...

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove a blob (nothing happens if it is absent)."""
        ...

    def path_of(self, sha256: str) -> Path | None:
        """A local file holding the blob, or None for a remote store."""
        ...


class _BlobWriter:
    """A temp file being filled and hashed; commits by rename, or is discarded."""

    def __init__(self, blobs: Path, max_bytes: int) -> None:
        self._blobs = blobs
        self._max_bytes = max_bytes
        self._temp = blobs / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
        self._file: BinaryIO = self._temp.open("xb")
        self._digest = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._max_bytes:
            raise ArtifactTooLargeError(
                f"the artifact is larger than {self._max_bytes} bytes; "
                "nothing was stored"
            )
        self._digest.update(data)
        self._file.write(data)

    def commit(self) -> StoredArtifact:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha256 = self._digest.hexdigest()
        os.replace(self._temp, self._blobs / sha256)
        _fsync_directory(self._blobs)
        return StoredArtifact(sha256=sha256, size_bytes=self._size)

    def discard(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


class FileArtifactStore:
    """An :class:`ArtifactStore` on a local directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"

    def _writer(self, max_bytes: int) -> _BlobWriter:
        self.blobs.mkdir(parents=True, exist_ok=True)
        return _BlobWriter(self.blobs, max_bytes)

    def put_stream(self, chunks: Iterable[bytes], *, max_bytes: int) -> StoredArtifact:
        """Store a byte stream (temp file, hash, fsync, rename)."""
        writer = self._writer(max_bytes)
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.discard()
            raise

    async def put_async_stream(
        self, chunks: AsyncIterable[bytes], *, max_bytes: int
    ) -> StoredArtifact:
        """Store an async byte stream; file work runs in worker threads, in batches."""
        writer = await anyio.to_thread.run_sync(self._writer, max_bytes)
        try:
            batch: list[bytes] = []
            batched = 0
            async for chunk in chunks:
                batch.append(chunk)
                batched += len(chunk)
                if batched >= WRITE_BATCH_BYTES:
                    await anyio.to_thread.run_sync(writer.write, b"".join(batch))
                    batch, batched = [], 0
            await anyio.to_thread.run_sync(writer.write, b"".join(batch))
            return await anyio.to_thread.run_sync(writer.commit)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(writer.discard)
            raise

    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        """Yield bytes ``start`` to ``end`` (exclusive), a chunk at a time."""
        path = self._existing(sha256)
        with path.open("rb") as file:
            file.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = file.read(min(READ_CHUNK_BYTES, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def read_head(self, sha256: str, max_bytes: int) -> bytes:
        """The first ``max_bytes`` bytes of a blob."""
        with self._existing(sha256).open("rb") as file:
            return file.read(max_bytes)

    def size_bytes(self, sha256: str) -> int:
        """The blob's size."""
        return self._existing(sha256).stat().st_size

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        """Remove a blob if it is there."""
        self._path(sha256).unlink(missing_ok=True)

    def path_of(self, sha256: str) -> Path | None:
        """The blob's file."""
        return self._existing(sha256)

    def _path(self, sha256: str) -> Path:
        # The name is checked so no caller can point the store outside blobs/.
        if not is_sha256_hex(sha256):
            raise NotFoundError("an artifact is named by its SHA-256")
        return self.blobs / sha256

    def _existing(self, sha256: str) -> Path:
        path = self._path(sha256)
        if not path.is_file():
            raise NotFoundError("no such artifact")
        return path


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX: the directory entry must be synced too)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
