"""The ``dir`` install backend: A/B OS slots, an emulated U-Boot, atomic app sets.

Layout under ``root`` (docs/updates.md §6)::

    slots/a/, slots/b/     package + slot.json (target, package sha256)
    bootloader.json        boot_slot, upgrade_available, bootcount, bootlimit
    committed.json         committed slot + target, security floor, app floors
    committed.backup.json  second copy, read when committed.json is corrupt
    update.json            the transaction in flight, written before its effects
    apps/sets/<digest>/    one complete app set; apps/current -> sets/<digest>

Power loss at any step leaves a state ``boot()`` recovers: the bootloader only
boots a slot whose package matches its slot.json, a trial that never commits rolls
back after ``bootlimit`` boots, and an interrupted transaction is finished or
undone. Corrupt files: ``bootloader.json`` is rebuilt from committed.json (the
committed slot, disarmed), as is one that is disarmed on an uncommitted slot
outside an interrupted commit of that slot; ``committed.json`` falls back to its
backup copy (both corrupt: ``InstallStateCorruptError``); ``update.json`` is
treated as no transaction, after the bootloader has run, and whatever no committed
state references (a half-staged slot, unused app sets) is cleaned away.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sevenfold.agent.errors import (
    AntiRollbackError,
    InstallRefusedError,
    InstallStateCorruptError,
    SlotCorruptError,
    TrialPendingError,
)
from sevenfold.agent.install.app_sets import AppSets
from sevenfold.agent.install.checkpoints import Checkpoint, no_checkpoint
from sevenfold.agent.install.packages import (
    app_set_digest,
    fsync_directory,
    verify_package,
)
from sevenfold.agent.install.records import (
    SLOT_NAMES,
    BootloaderEnv,
    CommittedState,
    Operation,
    Transaction,
    bootloader_from_json,
    bootloader_to_json,
    committed_from_json,
    committed_to_json,
    read_record,
    transaction_from_json,
    transaction_to_json,
    write_record,
)
from sevenfold.agent.install.rejections import RejectedImages
from sevenfold.agent.install.slots import SLOTS_DIR, OsSlots
from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.updates import ImageType, TargetDescription, parse_version

DEFAULT_BOOTLIMIT = 3
BOOTLOADER_FILE = "bootloader.json"
COMMITTED_FILE = "committed.json"
COMMITTED_BACKUP_FILE = "committed.backup.json"
UPDATE_FILE = "update.json"
APPS_DIR = "apps"


@dataclass(frozen=True, slots=True)
class BootOutcome:
    """What one emulated boot came to."""

    slot: str
    trial: TargetDescription | None  # booting a not-yet-committed slot on trial
    rolled_back_from: TargetDescription | None  # the bootloader gave up on it
    bootcount: int


class DirInstallBackend:
    """Installs OS images into A/B slots and app sets into directories."""

    def __init__(
        self,
        root: Path,
        *,
        bootlimit: int = DEFAULT_BOOTLIMIT,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self._root = root
        self._bootlimit = bootlimit
        self._checkpoint = checkpoint
        self._apps = AppSets(root / APPS_DIR)
        self._slots = OsSlots(root / SLOTS_DIR, checkpoint)
        self._rejected = RejectedImages(root)
        self._booted_slot: str | None = None

    @classmethod
    def initialize(
        cls, root: Path, os_package: Path, target: TargetDescription
    ) -> "DirInstallBackend":
        """Lay out ``root`` with slot ``a`` committed to this OS.

        Refuses a root that is already initialised (committed.json exists); a
        half-finished initialisation is redone, as committed.json is written last.

        Raises:
            InstallRefusedError: already initialised, or not an OS image.
            PackageMismatchError: the package is not the target.
        """
        backend = cls(root)
        if backend._committed_path.exists() or backend._backup_path.exists():
            raise InstallRefusedError(f"{root} is already initialised")
        _require_kind(target, ImageType.OS)
        verify_package(os_package, target)
        for slot in SLOT_NAMES:
            backend._slots.discard(slot)
        backend._slots.copy_into("a", os_package, target)
        backend._write_bootloader(backend._disarmed("a"))
        backend._write_committed(
            CommittedState(slot="a", os=target, security_floor=target.security_version)
        )
        return backend

    # -- the emulated bootloader and recovery ------------------------------------

    def boot(self) -> BootOutcome:
        """Run the emulated bootloader, then finish or undo an interrupted step.

        Raises:
            SlotCorruptError: the committed slot itself does not verify.
            InstallStateCorruptError: both copies of committed.json are corrupt.
        """
        committed = self._read_committed()
        try:
            transaction = read_record(self._update_path, transaction_from_json)
            transaction_unreadable = False
        except InstallStateCorruptError:
            transaction, transaction_unreadable = None, True
        env = self._read_bootloader_or_repair(committed, transaction)
        rolled_back_from: TargetDescription | None = None
        if env.upgrade_available:
            # U-Boot: count the attempt and persist it before booting the trial.
            env = replace(env, bootcount=env.bootcount + 1)
            self._write_bootloader(env)
            self._checkpoint("boot.count-incremented")
            if env.bootcount > env.bootlimit:
                rolled_back_from = self._slots.target_or_none(env.boot_slot)
                if rolled_back_from is not None:
                    # Durable before the switch: a power cut must not lose it.
                    self._rejected.record(rolled_back_from)
                    self._checkpoint("boot.rejected-recorded")
                env = self._disarmed(committed.slot)
                self._write_bootloader(env)
                self._checkpoint("boot.rollback")
        if not self._slots.verifies(env.boot_slot):
            if env.boot_slot == committed.slot:
                raise SlotCorruptError(f"committed slot {committed.slot} is corrupt")
            rolled_back_from = self._slots.target_or_none(env.boot_slot)
            env = self._disarmed(committed.slot)
            self._write_bootloader(env)
            self._checkpoint("boot.fallback")
        self._booted_slot = env.boot_slot
        self._recover(committed, env, transaction, transaction_unreadable)
        on_trial = env.upgrade_available and env.boot_slot != committed.slot
        return BootOutcome(
            slot=env.boot_slot,
            trial=self._slots.record(env.boot_slot).target if on_trial else None,
            rolled_back_from=rolled_back_from,
            bootcount=env.bootcount,
        )

    def _read_bootloader_or_repair(
        self, committed: CommittedState, transaction: Transaction | None
    ) -> BootloaderEnv:
        """bootloader.json, or the committed slot disarmed when it is unusable.

        Unusable: unreadable; armed for the committed slot; or disarmed on a slot
        that is not committed outside an interrupted commit of that very slot
        (otherwise a damaged file could commit a rolled-back image).
        """
        try:
            env = read_record(self._bootloader_path, bootloader_from_json)
        except InstallStateCorruptError:
            env = None
        committing_slot = (
            transaction.slot
            if transaction is not None and transaction.operation is Operation.COMMIT_OS
            else None
        )
        if (
            env is None
            or (env.upgrade_available and env.boot_slot == committed.slot)
            or (
                not env.upgrade_available
                and env.boot_slot not in (committed.slot, committing_slot)
            )
        ):
            # The last committed slot, recorded in committed.json, is the safe boot.
            env = self._disarmed(committed.slot)
            self._write_bootloader(env)
            self._checkpoint("boot.repaired")
        return env

    def _recover(
        self,
        committed: CommittedState,
        env: BootloaderEnv,
        transaction: Transaction | None,
        transaction_unreadable: bool,
    ) -> None:
        if not env.upgrade_available and env.boot_slot != committed.slot:
            # A commit cleared the bootloader but was cut before recording itself.
            committed = self._record_commit(committed, env.boot_slot)
            self._checkpoint("recover.commit-completed")
        staging = transaction_unreadable or (
            transaction is not None and transaction.operation is Operation.STAGE_OS
        )
        if staging and env.boot_slot == committed.slot:
            # The stage never armed the bootloader: its slot is half-made garbage.
            self._slots.discard(_other_slot(committed.slot))
            self._checkpoint("recover.os-discarded")
        if transaction is not None and transaction.operation is Operation.INSTALL_APPS:
            if self._apps.current_digest() == transaction.app_set:
                self._record_app_floors(self._read_committed())
                self._checkpoint("recover.apps-completed")
            elif self._apps.remove_unused():
                self._checkpoint("recover.apps-reverted")
        self._apps.remove_unused()
        if transaction is not None or transaction_unreadable:
            self._clear_transaction()
            self._checkpoint("recover.cleared")

    # -- what runs ----------------------------------------------------------------

    def current_os(self) -> TargetDescription:
        """The target the booted slot runs."""
        return self._slots.record(self._require_booted()).target

    def committed_os(self) -> TargetDescription:
        return self._read_committed().os

    def committed_security_version(self) -> int:
        """The anti-rollback floor: the highest committed OS security version."""
        return self._read_committed().security_floor

    def current_apps(self) -> tuple[TargetDescription, ...]:
        return self._apps.current_apps()

    def os_image_path(self) -> Path:
        """The booted slot's package (the agent measures it)."""
        return self._slots.package_path(self._require_booted())

    def app_image_paths(self) -> tuple[Path, ...]:
        return self._apps.current_paths()

    def is_rejected(self, sha256: str) -> bool:
        """True if this OS image failed its trial boots here (never retried)."""
        return self._rejected.contains(sha256)

    def unreported_rollback(self) -> TargetDescription | None:
        """The newest rolled-back image the service has not acknowledged."""
        return self._rejected.unreported()

    def acknowledge_rollback(self, sha256: str) -> None:
        """Record that the service has the rollback report for ``sha256``."""
        self._rejected.acknowledge(sha256)

    def pending_trial(self) -> TargetDescription | None:
        """The OS booted on trial, waiting for ``commit_os``; ``None`` otherwise."""
        slot = self._require_booted()
        env = read_record(self._bootloader_path, bootloader_from_json)
        committed = self._read_committed()
        if env is None or not env.upgrade_available or env.boot_slot != slot:
            return None
        return None if slot == committed.slot else self._slots.record(slot).target

    # -- OS: stage, then (after a reboot into the trial) commit ------------------

    def stage_os(self, package: Path, target: TargetDescription) -> None:
        """Copy a verified OS package into the inactive slot and arm a trial boot.

        The caller then restarts the agent, whose ``boot()`` boots the trial.

        Raises:
            PackageMismatchError: the package is not the target (nothing changed).
            AntiRollbackError: security version below the floor, or a version not
                above the committed one (nothing changed).
            TrialPendingError: a trial is booted and neither committed nor
                rolled back.
        """
        booted = self._require_booted()
        _require_kind(target, ImageType.OS)
        verify_package(package, target)
        committed = self._read_committed()
        self._check_os_rollback(committed, target)
        if booted != committed.slot:
            raise TrialPendingError(f"slot {booted} is on trial; commit it first")
        slot = _other_slot(committed.slot)
        self._begin(Transaction(operation=Operation.STAGE_OS, slot=slot))
        self._checkpoint("os.begin")
        self._write_bootloader(self._disarmed(committed.slot))
        self._checkpoint("os.bootloader-disarmed")
        self._slots.discard(slot)
        self._checkpoint("os.slot-cleared")
        self._slots.copy_into(slot, package, target)
        self._write_bootloader(
            BootloaderEnv(
                boot_slot=slot,
                upgrade_available=True,
                bootcount=0,
                bootlimit=self._bootlimit,
            )
        )
        self._checkpoint("os.bootloader-armed")
        self._clear_transaction()
        self._checkpoint("os.done")

    def commit_os(self) -> None:
        """Make the healthy trial the committed OS and raise the floor.

        Raises:
            InstallRefusedError: not booted on a trial.
            SlotCorruptError: the trial's package no longer matches its slot.json.
        """
        slot = self._require_booted()
        if self.pending_trial() is None:
            raise InstallRefusedError("no trial boot to commit")
        if not self._slots.verifies(slot):
            raise SlotCorruptError(f"trial slot {slot} changed since it was booted")
        committed = self._read_committed()
        self._begin(Transaction(operation=Operation.COMMIT_OS, slot=slot))
        self._checkpoint("commit.begin")
        self._write_bootloader(self._disarmed(slot))
        self._checkpoint("commit.bootloader-cleared")
        self._record_commit(committed, slot)
        self._checkpoint("commit.recorded")
        self._clear_transaction()
        self._checkpoint("commit.done")

    def _check_os_rollback(
        self, committed: CommittedState, target: TargetDescription
    ) -> None:
        if target.security_version < committed.security_floor:
            raise AntiRollbackError(
                f"security version {target.security_version} is below the floor "
                f"{committed.security_floor}"
            )
        if _version(target) <= _version(committed.os):
            raise AntiRollbackError(
                f"version {target.version} is not above the committed "
                f"{committed.os.version}"
            )

    def _record_commit(self, committed: CommittedState, slot: str) -> CommittedState:
        target = self._slots.record(slot).target
        updated = CommittedState(
            slot=slot,
            os=target,
            security_floor=max(committed.security_floor, target.security_version),
            app_floors=committed.app_floors,
        )
        self._write_committed(updated)
        return updated

    # -- apps -----------------------------------------------------------------------

    def install_apps(self, apps: Sequence[tuple[Path, TargetDescription]]) -> None:
        """Verify every package, then switch to the whole set at once.

        Raises:
            PackageMismatchError: a package is not its target (nothing changed).
            AntiRollbackError: an app's security version is below the one committed
                for its component (nothing changed).
            InstallRefusedError: not app images, or two images of one component.
        """
        self._require_booted()
        targets = tuple(target for _, target in apps)
        components = [target.component_id for target in targets]
        if len(set(components)) != len(components):
            raise InstallRefusedError("an app set holds one image per component")
        committed = self._read_committed()
        for package, target in apps:
            _require_kind(target, ImageType.APP)
            verify_package(package, target)
            floor = committed.app_floors.get(target.component_id, 0)
            if target.security_version < floor:
                raise AntiRollbackError(
                    f"{target.component_id} security version "
                    f"{target.security_version} is below its floor {floor}"
                )
        digest = app_set_digest(targets)
        if self._apps.current_digest() == digest:
            return
        self._begin(Transaction(operation=Operation.INSTALL_APPS, app_set=digest))
        self._checkpoint("apps.begin")
        self._apps.build(
            digest, apps, after_first_chunk=lambda: self._checkpoint("apps.copying")
        )
        self._checkpoint("apps.copied")
        self._apps.switch(digest)
        self._checkpoint("apps.switched")
        self._record_app_floors(committed)
        self._checkpoint("apps.recorded")
        self._apps.remove_unused()
        self._clear_transaction()
        self._checkpoint("apps.done")

    def _record_app_floors(self, committed: CommittedState) -> None:
        floors = dict(committed.app_floors)
        for app in self._apps.current_apps():
            floors[app.component_id] = max(
                floors.get(app.component_id, 0), app.security_version
            )
        if floors != committed.app_floors:
            self._write_committed(replace(committed, app_floors=floors))

    # -- state files ------------------------------------------------------------------

    @property
    def _bootloader_path(self) -> Path:
        return self._root / BOOTLOADER_FILE

    @property
    def _committed_path(self) -> Path:
        return self._root / COMMITTED_FILE

    @property
    def _backup_path(self) -> Path:
        return self._root / COMMITTED_BACKUP_FILE

    @property
    def _update_path(self) -> Path:
        return self._root / UPDATE_FILE

    def _disarmed(self, slot: str) -> BootloaderEnv:
        return BootloaderEnv(
            boot_slot=slot,
            upgrade_available=False,
            bootcount=0,
            bootlimit=self._bootlimit,
        )

    def _write_bootloader(self, env: BootloaderEnv) -> None:
        write_record(self._bootloader_path, bootloader_to_json(env))

    def _read_committed(self) -> CommittedState:
        """committed.json, or its backup when it is corrupt (then repaired).

        Raises:
            InstallStateCorruptError: neither copy is readable.
            InstallRefusedError: the root was never initialised.
        """
        try:
            state = read_record(self._committed_path, committed_from_json)
        except InstallStateCorruptError:
            state = None
        if state is not None:
            return state
        backup = read_record(self._backup_path, committed_from_json)
        if backup is None:
            raise InstallRefusedError(f"{self._root} is not initialised")
        write_record(self._committed_path, committed_to_json(backup))
        return backup

    def _write_committed(self, state: CommittedState) -> None:
        """The primary copy first, then the backup: one of them is always whole."""
        write_record(self._committed_path, committed_to_json(state))
        write_record(self._backup_path, committed_to_json(state))

    def _begin(self, transaction: Transaction) -> None:
        write_record(self._update_path, transaction_to_json(transaction))

    def _clear_transaction(self) -> None:
        self._update_path.unlink(missing_ok=True)
        fsync_directory(self._root)

    def _require_booted(self) -> str:
        if self._booted_slot is None:
            raise InstallRefusedError("call boot() first: no slot is booted")
        return self._booted_slot


def _other_slot(slot: str) -> str:
    return SLOT_NAMES[1 - SLOT_NAMES.index(slot)]


def _require_kind(target: TargetDescription, kind: ImageType) -> None:
    if target.kind is not kind:
        raise InstallRefusedError(f"{target.image_id} is not an {kind.value} image")


def _version(target: TargetDescription) -> tuple[int, int, int]:
    try:
        return parse_version(target.version)
    except ProtocolError as err:
        raise InstallRefusedError(f"{target.image_id}: {err}") from err
