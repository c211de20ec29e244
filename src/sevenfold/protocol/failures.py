"""The failure-report vocabulary both ends share (docs/failures.md).

A device records failures into a durable queue; repeats of one event key within a
window aggregate into one record (Event Count, Start Time, End Time, as Azure
Sphere's error reports). Each record has a random idempotency id: the service stores
a record once however often the device re-sends it, and a record, once sent, is
sealed (later repeats start a new record), so re-sent content never differs.

Pure: no I/O. ``parse_failure_batch`` is the one strict parser of the wire form.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sevenfold.protocol.errors import FailureReportError

MAX_BATCH_EVENTS = 100
MAX_DESCRIPTION_CHARS = 200
MAX_EVENT_KEY_CHARS = 200
MAX_HOST_CHARS = 253
MAX_EVENT_COUNT = 2**31 - 1
MAX_DROPPED_TOTAL = 2**62
EVENT_ID_HEX_CHARS = 32
_EVENT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_ID_RE = re.compile(r"^[0-9a-zA-Z-]{1,36}$")
_VERSION_RE = re.compile(r"^[0-9]{1,6}\.[0-9]{1,6}(?:\.[0-9]{1,6})?$")
_HOST_RE = re.compile(r"^[0-9A-Za-z.:\-\[\]_]{1,253}$")


class FailureKind(StrEnum):
    """What failed (Azure Sphere's EventCategory)."""

    APP_CRASH = "app-crash"  # an app exited non-zero or on a signal
    UPDATE_FAILURE = "update-failure"  # a download, verification or install failed
    ROLLBACK = "rollback"  # the bootloader went back to the old slot
    BAD_SLOT_BOOT = "bad-slot-boot"  # a trial boot failed its health check
    ATTESTATION_FAILURE = "attestation-failure"  # refused or failed attestation
    NETWORK_FAILURE = "network-failure"  # a connection to the service failed


class EventType(StrEnum):
    """Azure Sphere's Event Type: updates are planned, errors are unplanned."""

    PLANNED = "planned"
    UNPLANNED = "unplanned"


class EventClass(StrEnum):
    """Azure Sphere's Event Class: which component failed."""

    OS = "os"
    APPLICATION = "application"


class NetworkFailureKind(StrEnum):
    """How a connection failed (``network-failure`` events)."""

    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TLS = "tls"
    PROXY = "proxy"
    RESET = "reset"
    HTTP = "http"  # the service answered with a 5xx


def event_class(kind: FailureKind) -> EventClass:
    """Apps crash in the application class; everything else is the OS's."""
    return EventClass.APPLICATION if kind is FailureKind.APP_CRASH else EventClass.OS


def event_type(kind: FailureKind) -> EventType:  # noqa: ARG001 - all failures
    """Every failure kind is unplanned (an update itself would be planned)."""
    return EventType.UNPLANNED


CSV_COLUMNS = (
    "Device ID",
    "Event Type",
    "Event Class",
    "Event Category",
    "Event Count",
    "Description",
    "Start Time",
    "End Time",
)
"""Azure Sphere's error-report columns (plus Event Category, its API's field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureEvent:
    """One aggregated failure record as a device sends it.

    ``key`` is the aggregation key (kind plus what tells repeats apart, e.g. the
    component and exit code); ``count`` occurrences happened from ``first_at`` to
    ``last_at``.
    """

    event_id: str
    kind: FailureKind
    key: str
    count: int
    first_at: datetime
    last_at: datetime
    description: str = ""
    component_id: str | None = None
    image_id: str | None = None
    os_version: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    network_kind: NetworkFailureKind | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        _check_event(self)

    def to_json(self) -> dict[str, Any]:
        """The wire form."""
        return {
            "event_id": self.event_id,
            "kind": self.kind.value,
            "key": self.key,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "description": self.description,
            "component_id": self.component_id,
            "image_id": self.image_id,
            "os_version": self.os_version,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "network_kind": (
                None if self.network_kind is None else self.network_kind.value
            ),
            "host": self.host,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureBatch:
    """What one upload carries: sealed records and the queue's dropped counter
    (cumulative since the queue was created; the service keeps the highest)."""

    events: tuple[FailureEvent, ...]
    dropped_total: int = 0

    def __post_init__(self) -> None:
        if len(self.events) > MAX_BATCH_EVENTS:
            raise FailureReportError(f"a batch holds at most {MAX_BATCH_EVENTS} events")
        if not 0 <= self.dropped_total <= MAX_DROPPED_TOTAL:
            raise FailureReportError("dropped_total is a non-negative count")

    def to_json(self) -> dict[str, Any]:
        """The wire form (``POST /api/v1/device/failure-reports``)."""
        return {
            "events": [event.to_json() for event in self.events],
            "dropped_total": self.dropped_total,
        }


def _check_event(event: FailureEvent) -> None:
    if not _EVENT_ID_RE.match(event.event_id):
        raise FailureReportError("an event_id is 32 lower-case hex characters")
    if not event.key or len(event.key) > MAX_EVENT_KEY_CHARS:
        raise FailureReportError(f"an event key is 1-{MAX_EVENT_KEY_CHARS} characters")
    if not 1 <= event.count <= MAX_EVENT_COUNT:
        raise FailureReportError("an event count is at least 1")
    if event.first_at.tzinfo is None or event.last_at.tzinfo is None:
        raise FailureReportError("event times carry a time zone")
    if event.last_at < event.first_at:
        raise FailureReportError("an event's last_at is not before its first_at")
    if len(event.description) > MAX_DESCRIPTION_CHARS:
        raise FailureReportError(
            f"a description is at most {MAX_DESCRIPTION_CHARS} characters"
        )
    _check_context(event)


def _check_context(event: FailureEvent) -> None:
    for name in ("component_id", "image_id"):
        value = getattr(event, name)
        if value is not None and not _ID_RE.match(value):
            raise FailureReportError(f"{name} is an identifier of 1-36 characters")
    if event.os_version is not None and not _VERSION_RE.match(event.os_version):
        raise FailureReportError("os_version is MAJOR.MINOR[.PATCH]")
    if event.exit_code is not None and not -(2**31) <= event.exit_code < 2**31:
        raise FailureReportError("exit_code is a 32-bit integer")
    if event.signal is not None and not 1 <= event.signal <= 128:
        raise FailureReportError("signal is 1-128")
    if event.host is not None and not _HOST_RE.match(event.host):
        raise FailureReportError("host is a host name or address")


def _field(raw: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(name)
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    ):
        raise FailureReportError(f"{name} has the wrong type")
    return value


def _time(raw: dict[str, Any], name: str) -> datetime:
    text = _field(raw, name, str)
    if text is None:
        raise FailureReportError(f"{name} is required")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise FailureReportError(f"{name} is not an ISO 8601 time") from err
    if moment.tzinfo is None:
        raise FailureReportError(f"{name} carries a time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError as err:  # year 1 east of UTC, year 9999 west of it
        raise FailureReportError(f"{name} is out of range") from err


_EVENT_FIELDS = frozenset(
    {
        "event_id", "kind", "key", "count", "first_at", "last_at", "description",
        "component_id", "image_id", "os_version", "exit_code", "signal",
        "network_kind", "host",
    }
)  # fmt: skip


def parse_failure_event(raw: object) -> FailureEvent:
    """Parse one event's wire form strictly (unknown fields are refused).

    Raises:
        FailureReportError: not a well-formed event.
    """
    if not isinstance(raw, dict):
        raise FailureReportError("an event is a JSON object")
    unknown = set(raw) - _EVENT_FIELDS
    if unknown:
        raise FailureReportError(f"unknown event fields: {', '.join(sorted(unknown))}")
    try:
        kind = FailureKind(_field(raw, "kind", str))
        network_text = _field(raw, "network_kind", str)
        network_kind = (
            None if network_text is None else NetworkFailureKind(network_text)
        )
    except ValueError as err:
        raise FailureReportError(str(err)) from err
    event_id = _field(raw, "event_id", str)
    key = _field(raw, "key", str)
    count = _field(raw, "count", int)
    if event_id is None or key is None or count is None:
        raise FailureReportError("event_id, key and count are required")
    return FailureEvent(
        event_id=event_id,
        kind=kind,
        key=key,
        count=count,
        first_at=_time(raw, "first_at"),
        last_at=_time(raw, "last_at"),
        description=_field(raw, "description", str) or "",
        component_id=_field(raw, "component_id", str),
        image_id=_field(raw, "image_id", str),
        os_version=_field(raw, "os_version", str),
        exit_code=_field(raw, "exit_code", int),
        signal=_field(raw, "signal", int),
        network_kind=network_kind,
        host=_field(raw, "host", str),
    )


def parse_failure_batch(raw: object) -> FailureBatch:
    """Parse a batch's wire form strictly; event ids must be unique in it.

    Raises:
        FailureReportError: not a well-formed batch.
    """
    if not isinstance(raw, dict) or set(raw) - {"events", "dropped_total"}:
        raise FailureReportError("a batch is {events: [...], dropped_total: N}")
    events_raw = raw.get("events")
    if not isinstance(events_raw, list):
        raise FailureReportError("events is a list")
    if len(events_raw) > MAX_BATCH_EVENTS:
        raise FailureReportError(f"a batch holds at most {MAX_BATCH_EVENTS} events")
    events = tuple(parse_failure_event(item) for item in events_raw)
    if len({event.event_id for event in events}) != len(events):
        raise FailureReportError("event ids repeat within the batch")
    dropped = _field(raw, "dropped_total", int)
    return FailureBatch(events=events, dropped_total=dropped or 0)
