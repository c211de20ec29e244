"""Device update status: what a device reports, what the director targets, and the
operator's check-now (docs/updates.md §4).

A check-now sets ``check_requested_at``; the device learns of it from the answer to
its next status report (``check_requested``) and it is cleared once the device has
fetched its director timestamp at or after the request, i.e. has really checked.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.updates import UpdateState
from sevenfold.service.access.principal import Principal
from sevenfold.service.attestation.models import DeviceEvent
from sevenfold.service.audit import service as audit
from sevenfold.service.devices import service as device_service
from sevenfold.service.rollouts.judgement import note_status_report
from sevenfold.service.updates.models import DeviceUpdateStatus, DirectorDeviceState

UPDATE_FAILURE_EVENT = "update-failure"
LAST_CHECK_RESOLUTION = timedelta(minutes=1)
"""How stale ``last_check_at`` (and an unchanged report's ``reported_at``) may be:
checks or repeated reports closer together write it once."""
_FAILED_STATES = {UpdateState.FAILED.value, UpdateState.ROLLED_BACK.value}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReport:
    """A validated status report (the device route's body)."""

    state: UpdateState
    os_version: str | None
    installed: list[dict[str, Any]]
    targeted: list[dict[str, Any]]
    detail: str | None
    rolled_back_from: str | None


@dataclass(frozen=True, slots=True)
class UpdateStatusView:
    """A device's update status for operators."""

    device_id: str
    status: DeviceUpdateStatus | None
    director: DirectorDeviceState | None


def _status_row(
    session: Session, *, device_id: str, tenant_id: str
) -> DeviceUpdateStatus:
    row = session.get(DeviceUpdateStatus, device_id)
    if row is None:
        row = DeviceUpdateStatus(
            device_id=device_id,
            tenant_id=tenant_id,
            state=UpdateState.IDLE.value,
            installed=[],
            reported_targeted=[],
        )
        session.add(row)
    return row


def _os_image_id(installed: list[dict[str, Any]]) -> str | None:
    for image in installed:
        if image.get("kind") == "os":
            image_id = image.get("image_id")
            return image_id if isinstance(image_id, str) else None
    return None


def _moved(recorded: datetime | None, now: datetime) -> bool:
    """Whether a recorded time is worth rewriting: unset, older than
    ``LAST_CHECK_RESOLUTION``, or ahead of ``now`` (the clock went back)."""
    return recorded is None or now < recorded or now - recorded >= LAST_CHECK_RESOLUTION


def record_report(
    *,
    session: Session,
    clock: Clock,
    device_id: str,
    tenant_id: str,
    report: StatusReport,
) -> bool:
    """Store a device's report; answer whether an operator asked for a check.

    Entering ``failed`` or ``rolled-back`` also records an ``update-failure`` device
    event (reason: the state), beside attestation failures. The device's open
    rollout memberships note that it ran or succeeded (``rollouts.judgement``).
    The caller commits.
    """
    now = clock.now()
    row = _status_row(session, device_id=device_id, tenant_id=tenant_id)
    entering_failure = (
        report.state.value in _FAILED_STATES and row.state != report.state.value
    )
    repeated = (
        row.state,
        row.os_version,
        row.installed,
        row.reported_targeted,
        row.detail,
    ) == (
        report.state.value,
        report.os_version,
        report.installed,
        report.targeted,
        report.detail,
    )
    row.state = report.state.value
    row.os_version = report.os_version
    row.os_image_id = _os_image_id(report.installed)
    row.installed = report.installed
    row.reported_targeted = report.targeted
    row.detail = report.detail
    # Assigning equal values writes nothing (the ORM compares on flush); an idle
    # device repeating its report within LAST_CHECK_RESOLUTION writes nothing at all.
    if not repeated or _moved(row.reported_at, now):
        row.reported_at = now
    if entering_failure:
        session.add(
            DeviceEvent(
                device_id=device_id,
                tenant_id=tenant_id,
                kind=UPDATE_FAILURE_EVENT,
                reason=report.state.value,
                at=now,
            )
        )
    if not repeated:  # a repeat says nothing new to the rollouts (and stays cheap)
        note_status_report(session, device_id, report, now)
    return row.check_requested_at is not None


def note_director_check(
    session: Session, *, device_id: str, tenant_id: str, now: datetime
) -> DeviceUpdateStatus:
    """The device fetched its director timestamp: record it, clear a check-now made
    before it. The caller commits.

    ``last_check_at`` is kept to ``LAST_CHECK_RESOLUTION``: a device checking again
    within it leaves the row alone, so a no-op check writes nothing (a fleet checks
    often; a write per check is the dominant cost on PostgreSQL). A pending
    check-now is always cleared at once. Returns the row (held by the caller, the
    director then reads it from the session instead of the database).
    """
    row = _status_row(session, device_id=device_id, tenant_id=tenant_id)
    if _moved(row.last_check_at, now):
        row.last_check_at = now
    if row.check_requested_at is not None and row.check_requested_at <= now:
        row.check_requested_at = None
    return row


def request_check(
    *, session: Session, clock: Clock, principal: Principal, device_id: str
) -> datetime:
    """Ask a device to check for updates at its next report; commits, audited."""
    device = device_service.get_device(
        session=session, principal=principal, device_id=device_id
    )
    tenant_id = principal.require_tenant()
    now = clock.now()
    row = _status_row(session, device_id=device.id, tenant_id=tenant_id)
    row.check_requested_at = now
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="device.update-check-request",
        target_type="device",
        target_id=device.id,
    )
    session.commit()
    return now


def update_status(
    *, session: Session, principal: Principal, device_id: str
) -> UpdateStatusView:
    """A device of the caller's tenant: its report, its targets and its last check."""
    device = device_service.get_device(
        session=session, principal=principal, device_id=device_id
    )
    return UpdateStatusView(
        device_id=device.id,
        status=session.get(DeviceUpdateStatus, device.id),
        director=session.get(DirectorDeviceState, device.id),
    )
