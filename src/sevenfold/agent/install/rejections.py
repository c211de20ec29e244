"""OS images that failed their trial on this device, kept across power loss.

When the emulated bootloader gives up on a trial (``bootcount > bootlimit``) the
backend records the image here *before* it switches back, so neither a power cut nor
an undelivered report loses the fact. Two uses: the agent reports each rollback
until the service has it (``unreported`` / ``acknowledge``), and the updater never
installs a rejected image again on its own — a release that bricks its trial boots
must not be retried every check (hawkBit and Mender also mark such a deployment
failed for the device); a newer release moves the device on.

``rejected.json`` is ``{"format": 1, "images": [{"target": {...}, "reported":
bool}, ...]}``, newest last, at most ``MAX_REJECTED_IMAGES`` entries.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sevenfold.agent.errors import InstallStateCorruptError
from sevenfold.agent.install.records import (
    RECORD_FORMAT,
    read_record,
    target_from_json,
    target_to_json,
    write_record,
)
from sevenfold.protocol.updates import TargetDescription

REJECTED_FILE = "rejected.json"
MAX_REJECTED_IMAGES = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedImage:
    """One image whose trial failed, and whether the service has been told."""

    target: TargetDescription
    reported: bool


def _to_json(images: tuple[RejectedImage, ...]) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "images": [
            {"target": target_to_json(image.target), "reported": image.reported}
            for image in images
        ],
    }


def _from_json(data: object) -> tuple[RejectedImage, ...]:
    if not isinstance(data, dict) or set(data) != {"format", "images"}:
        raise ValueError("rejected.json holds format and images")
    if data["format"] != RECORD_FORMAT or not isinstance(data["images"], list):
        raise ValueError("rejected.json is not format 1")
    images = []
    for entry in data["images"][:MAX_REJECTED_IMAGES]:
        if not isinstance(entry, dict) or set(entry) != {"target", "reported"}:
            raise ValueError("a rejected image holds target and reported")
        if not isinstance(entry["reported"], bool):
            raise TypeError("reported is a boolean")
        images.append(
            RejectedImage(
                target=target_from_json(entry["target"]), reported=entry["reported"]
            )
        )
    return tuple(images)


class RejectedImages:
    """The ``rejected.json`` file of one install root."""

    def __init__(self, root: Path) -> None:
        self._path = root / REJECTED_FILE

    def all(self) -> tuple[RejectedImage, ...]:
        """Every recorded image; an unreadable file counts as none (logged by the
        caller's report), never as a reason not to boot."""
        try:
            return read_record(self._path, _from_json) or ()
        except InstallStateCorruptError:
            return ()

    def contains(self, sha256: str) -> bool:
        """True if this exact image failed its trial here."""
        return any(image.target.sha256 == sha256 for image in self.all())

    def record(self, target: TargetDescription) -> None:
        """Add ``target`` (unreported); idempotent, oldest dropped beyond the cap."""
        kept = tuple(i for i in self.all() if i.target.sha256 != target.sha256)
        images = (*kept, RejectedImage(target=target, reported=False))
        write_record(self._path, _to_json(images[-MAX_REJECTED_IMAGES:]))

    def unreported(self) -> TargetDescription | None:
        """The newest rollback the service has not acknowledged, if any."""
        for image in reversed(self.all()):
            if not image.reported:
                return image.target
        return None

    def acknowledge(self, sha256: str) -> None:
        """Mark a rollback as delivered to the service."""
        images = tuple(
            RejectedImage(target=i.target, reported=True)
            if i.target.sha256 == sha256
            else i
            for i in self.all()
        )
        write_record(self._path, _to_json(images))
