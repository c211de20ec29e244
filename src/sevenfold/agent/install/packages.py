"""Package files: verify against a target, copy with verification, digest a set.

A package is checked by streaming it through SHA-256 and never reading past the
target's length plus one byte, so an oversized file cannot exhaust memory or time
(threat: endless or swapped download).
"""

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from sevenfold.agent.errors import PackageMismatchError
from sevenfold.agent.install.records import target_to_json
from sevenfold.protocol.updates import TargetDescription

CHUNK_BYTES = 64 * 1024


def package_matches(path: Path, sha256_hex: str, length: int) -> bool:
    """True when the file exists with exactly ``length`` bytes hashing to ``sha256``."""
    digest = hashlib.sha256()
    read_bytes = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(min(CHUNK_BYTES, length + 1 - read_bytes)):
                digest.update(chunk)
                read_bytes += len(chunk)
                if read_bytes > length:
                    return False
    except OSError:
        return False
    return read_bytes == length and hmac.compare_digest(digest.hexdigest(), sha256_hex)


def verify_package(path: Path, target: TargetDescription) -> None:
    """Refuse a package whose length or sha256 is not the target's.

    Raises:
        PackageMismatchError: missing, wrong length or wrong hash.
    """
    if not package_matches(path, target.sha256, target.length):
        raise PackageMismatchError(
            f"{path} is not {target.image_id} {target.version} "
            f"({target.length} bytes, sha256 {target.sha256})"
        )


def copy_verified(
    source: Path,
    destination: Path,
    target: TargetDescription,
    *,
    after_first_chunk: Callable[[], None],
) -> None:
    """Copy ``source`` to a new ``destination``, hashing what is written, and fsync.

    The copy is verified as written, so a source swapped after ``verify_package``
    is still caught (threat: time-of-check to time-of-use).

    Raises:
        PackageMismatchError: what was copied is not the target; ``destination``
            is removed.
    """
    digest = hashlib.sha256()
    copied_bytes = 0
    descriptor = os.open(
        destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
    )
    with os.fdopen(descriptor, "wb") as output, source.open("rb") as handle:
        while chunk := handle.read(min(CHUNK_BYTES, target.length + 1 - copied_bytes)):
            digest.update(chunk)
            output.write(chunk)
            output.flush()
            if copied_bytes == 0:
                after_first_chunk()
            copied_bytes += len(chunk)
            if copied_bytes > target.length:
                break
        os.fsync(output.fileno())
    if copied_bytes != target.length or not hmac.compare_digest(
        digest.hexdigest(), target.sha256
    ):
        destination.unlink(missing_ok=True)
        raise PackageMismatchError(f"{source} changed while it was copied")


def app_set_digest(apps: Sequence[TargetDescription]) -> str:
    """The name of an app set: SHA-256 of its targets' canonical JSON."""
    canonical = json.dumps(
        [target_to_json(app) for app in apps], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
