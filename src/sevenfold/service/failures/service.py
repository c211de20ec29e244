"""Failure reports: storing what devices upload, once, and reading it back by tenant.

Invariants (docs/failures.md §2):
* A ``(device_id, event_id)`` is stored at most once (a unique constraint); a
  re-sent record is a duplicate, acknowledged but not counted again. Two concurrent
  uploads of the same record cannot both store it: the loser's insert fails on the
  constraint, and the batch is run once more on top of the winner's rows.
* The device's tenant, group and product are copied from its authenticated identity
  at ingestion, never taken from the body: a device writes only into its own tenant.
* ``dropped_total`` only grows (a conditional update keeps the highest reported).
* Every read is scoped to one tenant.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.failures import (
    FailureBatch,
    FailureEvent,
    FailureKind,
    event_class,
    event_type,
)
from sevenfold.protocol.updates import version_sort_key
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import InvalidRequestError, NotFoundError
from sevenfold.service.failures.models import (
    DeviceFailureQueueState,
    FailureEventRecord,
)
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts.judgement import note_failure_events

READ_CHUNK_ROWS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Reporter:
    """The authenticated device an upload comes from, with what is copied onto its
    events (from the device record, never from the body)."""

    device_id: str
    tenant_id: str
    product_id: str | None
    device_group_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    """What one upload changed: the records stored now (committed), and the ids of
    the batch's events that were stored before (re-sent duplicates)."""

    acknowledged: list[str]
    stored: list[FailureEventRecord] = field(default_factory=list)
    duplicate_ids: list[str] = field(default_factory=list)
    counted_failure: bool = False
    """A stored event newly failed a rollout member (the evaluator should run)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Filters of a failure-event query; None means any. ``since <= last_at <
    until``."""

    device_id: str | None = None
    device_group_id: str | None = None
    product_id: str | None = None
    os_release_id: str | None = None
    image_id: str | None = None
    kind: FailureKind | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventCursor:
    """Keyset position of a newest-first listing: the last row's (last_at, id)."""

    last_at: datetime
    row_id: int

    def encode(self) -> str:
        """The cursor's key (``service.api.pagination.encode_cursor`` wraps it)."""
        return f"{self.last_at.isoformat()}|{self.row_id}"

    @classmethod
    def decode(cls, key: str | None) -> "EventCursor | None":
        """Parse a key made by :meth:`encode`.

        Raises:
            InvalidRequestError: not such a key.
        """
        if key is None:
            return None
        moment_text, _, id_text = key.partition("|")
        try:
            moment = datetime.fromisoformat(moment_text)
        except ValueError as err:
            raise InvalidRequestError("the cursor is not valid") from err
        if moment.tzinfo is None or not id_text.isdigit() or len(id_text) > 18:
            raise InvalidRequestError("the cursor is not valid")
        return cls(last_at=moment, row_id=int(id_text))


def ingest_batch(
    *, session: Session, clock: Clock, reporter: Reporter, batch: FailureBatch
) -> IngestResult:
    """Store the batch's new events once and keep the highest dropped counter;
    commit. Returns the newly stored records (for the rollout evaluator, which
    judges them after this call).

    A concurrent upload of the same events (a device that re-sent a batch whose
    answer it did not see) can win the unique constraint; the batch is then run
    once more, and the winner's rows count as duplicates here.
    """
    try:
        result = _store(session, clock, reporter, batch)
        session.commit()
    except IntegrityError:
        session.rollback()
    else:
        return result
    result = _store(session, clock, reporter, batch)
    session.commit()
    return result


def _store(
    session: Session, clock: Clock, reporter: Reporter, batch: FailureBatch
) -> IngestResult:
    now = clock.now()
    batch_ids = [event.event_id for event in batch.events]
    known = set(
        session.scalars(
            select(FailureEventRecord.event_id).where(
                FailureEventRecord.device_id == reporter.device_id,
                FailureEventRecord.event_id.in_(batch_ids),
            )
        )
        if batch_ids
        else ()
    )
    releases = _release_ids(session, {e.os_version for e in batch.events})
    stored = [
        _record(event, reporter, releases, now)
        for event in batch.events
        if event.event_id not in known
    ]
    session.add_all(stored)
    _note_queue(session, reporter, batch.dropped_total, now)
    session.flush()
    return IngestResult(
        acknowledged=batch_ids,
        stored=stored,
        duplicate_ids=[event_id for event_id in batch_ids if event_id in known],
        counted_failure=note_failure_events(session, reporter.device_id, stored, now),
    )


def _release_ids(session: Session, versions: set[str | None]) -> dict[str, str]:
    """Reported OS versions → OS release ids (versions no release has are left
    out). ``26.1`` and ``26.1.0`` are the same version (``version_sort_key``)."""
    keys: dict[str, str] = {}
    for version in versions:
        if version is None:
            continue
        try:
            keys[version_sort_key(version)] = version
        except ProtocolError:
            continue
    if not keys:
        return {}
    rows = session.execute(
        select(OsRelease.version_key, OsRelease.id).where(
            OsRelease.version_key.in_(list(keys))
        )
    )
    return {keys[version_key]: release_id for version_key, release_id in rows}


def _record(
    event: FailureEvent, reporter: Reporter, releases: dict[str, str], now: datetime
) -> FailureEventRecord:
    return FailureEventRecord(
        tenant_id=reporter.tenant_id,
        device_id=reporter.device_id,
        event_id=event.event_id,
        kind=event.kind.value,
        event_type=event_type(event.kind).value,
        event_class=event_class(event.kind).value,
        event_key=event.key,
        count=event.count,
        first_at=event.first_at,
        last_at=event.last_at,
        description=event.description,
        component_id=event.component_id,
        image_id=event.image_id,
        os_version=event.os_version,
        os_release_id=(
            None if event.os_version is None else releases.get(event.os_version)
        ),
        device_group_id=reporter.device_group_id,
        product_id=reporter.product_id,
        exit_code=event.exit_code,
        signal=event.signal,
        network_kind=None if event.network_kind is None else event.network_kind.value,
        host=event.host,
        received_at=now,
    )


def _note_queue(
    session: Session, reporter: Reporter, dropped_total: int, now: datetime
) -> None:
    """Keep the highest dropped counter the device ever reported (a conditional
    update, so a late, lower report cannot lower it) and the upload's time."""
    column = DeviceFailureQueueState.dropped_total
    result = session.execute(
        update(DeviceFailureQueueState)
        .where(DeviceFailureQueueState.device_id == reporter.device_id)
        .values(
            dropped_total=case((column < dropped_total, dropped_total), else_=column),
            last_upload_at=now,
            tenant_id=reporter.tenant_id,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(
            DeviceFailureQueueState(
                device_id=reporter.device_id,
                tenant_id=reporter.tenant_id,
                dropped_total=dropped_total,
                last_upload_at=now,
            )
        )


def _filtered(tenant_id: str, filters: EventFilter) -> Select[FailureEventRecord]:
    """The tenant's events matching the filters (tenant scoping is never optional)."""
    query = select(FailureEventRecord).where(FailureEventRecord.tenant_id == tenant_id)
    for column, value in (
        (FailureEventRecord.device_id, filters.device_id),
        (FailureEventRecord.device_group_id, filters.device_group_id),
        (FailureEventRecord.product_id, filters.product_id),
        (FailureEventRecord.os_release_id, filters.os_release_id),
        (FailureEventRecord.image_id, filters.image_id),
        (FailureEventRecord.kind, None if filters.kind is None else filters.kind.value),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(FailureEventRecord.last_at >= filters.since)
    if filters.until is not None:
        query = query.where(FailureEventRecord.last_at < filters.until)
    return query


def list_events(
    *,
    session: Session,
    tenant_id: str,
    filters: EventFilter,
    after: EventCursor | None,
    limit: int,
) -> Sequence[FailureEventRecord]:
    """A page of the tenant's events, newest ``last_at`` first (then newest row)."""
    query = _filtered(tenant_id, filters)
    if after is not None:
        query = query.where(
            or_(
                FailureEventRecord.last_at < after.last_at,
                and_(
                    FailureEventRecord.last_at == after.last_at,
                    FailureEventRecord.id < after.row_id,
                ),
            )
        )
    query = query.order_by(
        FailureEventRecord.last_at.desc(), FailureEventRecord.id.desc()
    ).limit(limit)
    return session.scalars(query).all()


def iter_events(
    *, session: Session, tenant_id: str, filters: EventFilter, max_rows: int
) -> Iterator[FailureEventRecord]:
    """The tenant's events, newest first, at most ``max_rows``, read a chunk at a
    time (an error report of a large fleet is never held in memory whole)."""
    after: EventCursor | None = None
    remaining = max_rows
    while remaining > 0:
        chunk = list_events(
            session=session,
            tenant_id=tenant_id,
            filters=filters,
            after=after,
            limit=min(READ_CHUNK_ROWS, remaining),
        )
        yield from chunk
        remaining -= len(chunk)
        if len(chunk) < READ_CHUNK_ROWS:
            return
        after = EventCursor(last_at=chunk[-1].last_at, row_id=chunk[-1].id)


def queue_state(
    *, session: Session, tenant_id: str, device_id: str
) -> tuple[int, datetime | None]:
    """One of the tenant's devices' (dropped_total, last_upload_at); (0, None) for a
    device that never uploaded.

    Raises:
        NotFoundError: no such device in the tenant.
    """
    device = session.scalar(
        select(Device.id).where(Device.id == device_id, Device.tenant_id == tenant_id)
    )
    if device is None:
        raise NotFoundError("no such device in this tenant")
    state = session.get(DeviceFailureQueueState, device_id)
    if state is None or state.tenant_id != tenant_id:
        return 0, None
    return state.dropped_total, state.last_upload_at
