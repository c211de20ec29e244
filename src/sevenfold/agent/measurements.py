"""What the agent measures: SHA-256 digests of the OS image, itself and app images.

Real devices hash files; the simulator gives digests directly. Either way the result
is a ``Measurements`` for the key store.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sevenfold.agent.errors import MeasurementError
from sevenfold.protocol.attestation import Measurements

READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class FileMeasurementSource:
    """Files to hash at start: the OS image, the agent and app images, in order."""

    os_image: Path
    agent: Path
    app_images: tuple[Path, ...] = ()

    def measure(self) -> Measurements:
        """Hash every file.

        Raises:
            MeasurementError: a file cannot be read.
        """
        return Measurements(
            os_image_sha256=sha256_of_file(self.os_image),
            agent_sha256=sha256_of_file(self.agent),
            app_image_sha256s=tuple(sha256_of_file(path) for path in self.app_images),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedMeasurementSource:
    """Digests given up front (simulation and tests)."""

    measurements: Measurements

    def measure(self) -> Measurements:
        """Return the given digests."""
        return self.measurements


MeasurementSource = FileMeasurementSource | FixedMeasurementSource


def sha256_of_file(path: Path) -> bytes:
    """Return the SHA-256 digest of a file, read in chunks.

    Raises:
        MeasurementError: the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as err:
        raise MeasurementError(f"cannot measure {path}: {err.strerror}") from err
    return digest.digest()
