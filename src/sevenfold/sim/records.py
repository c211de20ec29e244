"""Typed views of the service's JSON answers, as far as the simulator needs them.

They are parsed from the wire with pydantic and ignore fields they do not use, so the
simulator keeps working when the service adds fields.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from sevenfold.protocol.attestation import MeasurementKind
from sevenfold.protocol.vocabulary import ClaimOutcome, OperationStatus, OsFeed


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ProductRecord(_Record):
    """A product."""

    id: str
    name: str


class DeviceGroupRecord(_Record):
    """A device group of a product."""

    id: str
    product_id: str
    name: str
    os_feed: OsFeed


class DeviceRecord(_Record):
    """A claimed device as its tenant sees it."""

    id: str
    status: str
    product_id: str | None
    device_group_id: str | None


class DevicePageRecord(_Record):
    """One page of a device listing."""

    items: list[DeviceRecord]
    next_cursor: str | None


class RegistrationRecord(_Record):
    """What a factory registration changed."""

    registered: int
    already_registered: int


class OperationResultRecord(_Record):
    """One device's outcome in a bulk claim."""

    item: str
    outcome: ClaimOutcome
    detail: str


class OperationRecord(_Record):
    """An asynchronous operation and its per-item results."""

    id: str
    kind: str
    status: OperationStatus
    total: int
    processed: int
    counts: dict[str, int]
    results: list[OperationResultRecord]


class ApprovedMeasurementRecord(_Record):
    """Software a product's devices may run."""

    id: str
    product_id: str
    kind: MeasurementKind
    sha256: str
    version: str | None


class ImageRecord(_Record):
    """An uploaded, verified image package (``sha256`` of the whole package)."""

    id: str
    kind: str
    version: str
    sha256: str
    size_bytes: int


class OsReleaseRecord(_Record):
    """An OS release; ``effective_state`` is what the feeds see."""

    id: str
    version: str
    image_id: str
    state: str
    effective_state: str
    promote_at: datetime


class OsReleaseDetailRecord(OsReleaseRecord):
    """An OS release with the caller's devices running it, by update state."""

    device_counts: dict[str, int]


class RolloutWaveRecord(_Record):
    """A rollout wave's progress."""

    position: int
    devices: int
    opened_at: datetime | None
    ran: int
    succeeded: int
    failed: int


class RolloutRecord(_Record):
    """A rollout and its waves; ``halt_reason`` says why the policy paused it."""

    id: str
    state: str
    halted_at: datetime | None
    halt_reason: str | None
    waves: list[RolloutWaveRecord]
