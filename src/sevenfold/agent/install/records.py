"""The install backend's state files: versioned JSON, parsed strictly.

* ``bootloader.json``: the emulated U-Boot environment (``boot_slot``,
  ``upgrade_available``, ``bootcount``, ``bootlimit``);
* ``committed.json`` (and its second copy ``committed.backup.json``): the committed
  slot, its target, the security-version floor, the per-component app floors;
* ``update.json``: the transaction in flight, written before its first side effect;
* ``slots/<x>/slot.json``: the target a slot holds and its package's sha256;
* ``apps/sets/<digest>/set.json``: the targets of one app set.

Every file is ``{"format": 1, ...}`` with exactly the keys listed; anything else is
an ``InstallStateCorruptError``, never a crash.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sevenfold.agent.errors import InstallStateCorruptError, StateCorruptError
from sevenfold.agent.state import read_bounded, write_atomically
from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.updates import (
    MAX_SECURITY_VERSION,
    ImageType,
    TargetDescription,
    is_sha256_hex,
    parse_version,
)

RECORD_FORMAT = 1
MAX_RECORD_BYTES = 256 * 1024
SLOT_NAMES = ("a", "b")
MAX_BOOTLIMIT = 100
MAX_COMPONENT_ID_CHARS = 200

_Record = TypeVar("_Record")
_TARGET_KEYS = frozenset(
    {
        "kind",
        "component_id",
        "image_id",
        "name",
        "version",
        "security_version",
        "sha256",
        "length",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BootloaderEnv:
    """The emulated U-Boot environment."""

    boot_slot: str
    upgrade_available: bool
    bootcount: int
    bootlimit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CommittedState:
    """What the device last committed; the anti-rollback floors live here."""

    slot: str
    os: TargetDescription
    security_floor: int
    app_floors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotRecord:
    """What one slot holds."""

    target: TargetDescription
    package_sha256: str


class Operation(StrEnum):
    """The transactions ``update.json`` can record."""

    STAGE_OS = "stage-os"
    COMMIT_OS = "commit-os"
    INSTALL_APPS = "install-apps"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """The operation in flight: ``slot`` for OS operations, ``app_set`` for apps."""

    operation: Operation
    slot: str | None = None
    app_set: str | None = None


def target_to_json(target: TargetDescription) -> dict[str, Any]:
    """A target's JSON object (the keys of ``TargetDescription``)."""
    return {
        "kind": target.kind.value,
        "component_id": target.component_id,
        "image_id": target.image_id,
        "name": target.name,
        "version": target.version,
        "security_version": target.security_version,
        "sha256": target.sha256,
        "length": target.length,
    }


def target_from_json(data: object) -> TargetDescription:
    """Parse a target strictly.

    Raises:
        ValueError: a key is missing, extra or of the wrong type or range.
    """
    obj = _object(data, set(_TARGET_KEYS))
    version = _string(obj, "version")
    try:
        parse_version(version)
    except ProtocolError as err:
        raise ValueError(str(err)) from err
    sha256 = _string(obj, "sha256")
    if not is_sha256_hex(sha256):
        raise ValueError("sha256 is 64 lower-case hex characters")
    return TargetDescription(
        kind=ImageType(_string(obj, "kind")),
        component_id=_string(obj, "component_id"),
        image_id=_string(obj, "image_id"),
        name=_string(obj, "name"),
        version=version,
        security_version=_integer(obj, "security_version", MAX_SECURITY_VERSION),
        sha256=sha256,
        length=_integer(obj, "length", 2**63),
    )


def bootloader_to_json(env: BootloaderEnv) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "boot_slot": env.boot_slot,
        "upgrade_available": int(env.upgrade_available),
        "bootcount": env.bootcount,
        "bootlimit": env.bootlimit,
    }


def bootloader_from_json(data: object) -> BootloaderEnv:
    obj = _versioned(data, {"boot_slot", "upgrade_available", "bootcount", "bootlimit"})
    return BootloaderEnv(
        boot_slot=_slot(obj, "boot_slot"),
        upgrade_available=_integer(obj, "upgrade_available", 1) == 1,
        bootcount=_integer(obj, "bootcount", 2**31),
        bootlimit=_integer(obj, "bootlimit", MAX_BOOTLIMIT),
    )


def committed_to_json(state: CommittedState) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "slot": state.slot,
        "os": target_to_json(state.os),
        "security_floor": state.security_floor,
        "app_floors": dict(sorted(state.app_floors.items())),
    }


def committed_from_json(data: object) -> CommittedState:
    obj = _versioned(data, {"slot", "os", "security_floor", "app_floors"})
    floors = obj["app_floors"]
    if not isinstance(floors, dict):
        raise TypeError("app_floors is an object")
    app_floors = {}
    for component_id in floors:
        if not 0 < len(component_id) <= MAX_COMPONENT_ID_CHARS:
            raise ValueError("an app floor names a component")
        app_floors[component_id] = _integer(floors, component_id, MAX_SECURITY_VERSION)
    os_target = target_from_json(obj["os"])
    floor = _integer(obj, "security_floor", MAX_SECURITY_VERSION)
    if os_target.kind is not ImageType.OS or floor < os_target.security_version:
        raise ValueError("the committed OS is an OS image at or above the floor")
    return CommittedState(
        slot=_slot(obj, "slot"),
        os=os_target,
        security_floor=floor,
        app_floors=app_floors,
    )


def slot_to_json(record: SlotRecord) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "target": target_to_json(record.target),
        "package_sha256": record.package_sha256,
    }


def slot_from_json(data: object) -> SlotRecord:
    obj = _versioned(data, {"target", "package_sha256"})
    target = target_from_json(obj["target"])
    if obj["package_sha256"] != target.sha256 or target.kind is not ImageType.OS:
        raise ValueError("a slot holds an OS package of its target's sha256")
    return SlotRecord(target=target, package_sha256=target.sha256)


def transaction_to_json(transaction: Transaction) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "operation": transaction.operation.value,
        "slot": transaction.slot,
        "app_set": transaction.app_set,
    }


def transaction_from_json(data: object) -> Transaction:
    obj = _versioned(data, {"operation", "slot", "app_set"})
    operation = Operation(_string(obj, "operation"))
    if operation is Operation.INSTALL_APPS:
        app_set = _string(obj, "app_set")
        if not is_sha256_hex(app_set) or obj["slot"] is not None:
            raise ValueError("an app transaction names its set's digest only")
        return Transaction(operation=operation, app_set=app_set)
    if obj["app_set"] is not None:
        raise ValueError("an OS transaction names its slot only")
    return Transaction(operation=operation, slot=_slot(obj, "slot"))


def app_set_to_json(apps: tuple[TargetDescription, ...]) -> dict[str, Any]:
    return {"format": RECORD_FORMAT, "apps": [target_to_json(app) for app in apps]}


def app_set_from_json(data: object) -> tuple[TargetDescription, ...]:
    obj = _versioned(data, {"apps"})
    entries = obj["apps"]
    if not isinstance(entries, list):
        raise TypeError("apps is a list")
    apps = tuple(target_from_json(entry) for entry in entries)
    if any(app.kind is not ImageType.APP for app in apps):
        raise ValueError("an app set holds app images only")
    return apps


def read_record(path: Path, parse: Callable[[object], _Record]) -> _Record | None:
    """Read and parse one state file; ``None`` when it does not exist.

    Raises:
        InstallStateCorruptError: too large, unreadable, not JSON or not format 1.
    """
    try:
        data = read_bounded(path, MAX_RECORD_BYTES)
        if data is None:
            return None
        return parse(json.loads(data))
    except (StateCorruptError, ValueError, TypeError, KeyError) as err:
        raise InstallStateCorruptError(f"{path} is not a valid record: {err}") from err


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Replace a state file atomically (temporary file, fsync, replace, fsync dir)."""
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_atomically(path, text.encode())


def _versioned(data: object, keys: set[str]) -> dict[str, Any]:
    obj = _object(data, keys | {"format"})
    if obj["format"] != RECORD_FORMAT or isinstance(obj["format"], bool):
        raise ValueError(f"unsupported format {obj['format']!r}")
    return obj


def _object(data: object, keys: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError("a record is a JSON object")
    if set(data) != keys:
        raise ValueError(f"keys are {sorted(data)}, expected {sorted(keys)}")
    return data


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} is a non-empty string")
    return value


def _integer(obj: dict[str, Any], key: str, maximum: int) -> int:
    value = obj[key]
    if type(value) is not int or not 0 <= value <= maximum:
        raise ValueError(f"{key} is an integer from 0 to {maximum}")
    return value


def _slot(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if value not in SLOT_NAMES:
        raise ValueError(f"{key} is one of {SLOT_NAMES}")
    return str(value)
