"""The A/B OS slots: ``slots/<x>/os.pkg`` and the ``slot.json`` describing it.

A slot verifies when its package's length and sha256 are those its slot.json
records; the emulated bootloader boots nothing else (docs/updates.md §6). A slot is
written package first (through a temporary file) and slot.json last, and removed
slot.json first, so a half-written or half-removed slot never verifies.
"""

import shutil
from pathlib import Path

from sevenfold.agent.errors import InstallStateCorruptError, SlotCorruptError
from sevenfold.agent.install.checkpoints import Checkpoint
from sevenfold.agent.install.packages import (
    copy_verified,
    fsync_directory,
    package_matches,
)
from sevenfold.agent.install.records import (
    SlotRecord,
    read_record,
    slot_from_json,
    slot_to_json,
    write_record,
)
from sevenfold.protocol.updates import TargetDescription

SLOTS_DIR = "slots"
SLOT_FILE = "slot.json"
PACKAGE_FILE = "os.pkg"
_COPY_SUFFIX = ".partial"


class OsSlots:
    """The OS slots under one ``slots/`` directory."""

    def __init__(self, slots_dir: Path, checkpoint: Checkpoint) -> None:
        self._slots_dir = slots_dir
        self._checkpoint = checkpoint

    def package_path(self, slot: str) -> Path:
        return self._slots_dir / slot / PACKAGE_FILE

    def record(self, slot: str) -> SlotRecord:
        """The slot's slot.json.

        Raises:
            SlotCorruptError: the slot holds no image.
            InstallStateCorruptError: slot.json is malformed.
        """
        record = read_record(self._slots_dir / slot / SLOT_FILE, slot_from_json)
        if record is None:
            raise SlotCorruptError(f"slot {slot} holds no image")
        return record

    def target_or_none(self, slot: str) -> TargetDescription | None:
        try:
            return self.record(slot).target
        except (SlotCorruptError, InstallStateCorruptError):
            return None

    def verifies(self, slot: str) -> bool:
        """True when the slot's package matches its slot.json (the boot check)."""
        target = self.target_or_none(slot)
        return target is not None and package_matches(
            self.package_path(slot), target.sha256, target.length
        )

    def copy_into(self, slot: str, package: Path, target: TargetDescription) -> None:
        """Copy a package into an empty slot, verifying it as it is written."""
        directory = self._slots_dir / slot
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = directory / (PACKAGE_FILE + _COPY_SUFFIX)
        partial.unlink(missing_ok=True)
        copy_verified(
            package,
            partial,
            target,
            after_first_chunk=lambda: self._checkpoint("os.copying"),
        )
        partial.replace(directory / PACKAGE_FILE)
        fsync_directory(directory)
        self._checkpoint("os.copied")
        record = SlotRecord(target=target, package_sha256=target.sha256)
        write_record(directory / SLOT_FILE, slot_to_json(record))
        self._checkpoint("os.slot-recorded")

    def discard(self, slot: str) -> None:
        """Empty the slot, slot.json first, so a half-removed slot never verifies."""
        directory = self._slots_dir / slot
        if directory.exists():
            (directory / SLOT_FILE).unlink(missing_ok=True)
            fsync_directory(directory)
            shutil.rmtree(directory)
        directory.mkdir(mode=0o700, parents=True)
        fsync_directory(self._slots_dir)
