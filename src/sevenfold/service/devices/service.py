"""Device registration (factory), claiming, listing, moving and revocation.

Invariants:
* A device ID is a valid P-256 public key (checked at the API edge).
* A device is registered only from a record signed by a trusted manufacturer key.
* A device is claimed at most once, by one tenant, irreversibly: the claim is a
  conditional UPDATE, so two concurrent claims cannot both succeed.
* A device belongs to at most one group, and only of its own product.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import RowMapping, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.registration import RegistrationRecord
from sevenfold.protocol.vocabulary import ClaimOutcome, DeviceStatus
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import ConflictError, NotFoundError
from sevenfold.service.manufacturing import service as manufacturing
from sevenfold.service.products import service as product_service
from sevenfold.service.products.models import DeviceGroup

_CHUNK = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceFilter:
    """Filters of a device listing; None means any."""

    product_id: str | None = None
    device_group_id: str | None = None
    status: DeviceStatus | None = None


def register_devices(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    records: Sequence[RegistrationRecord],
) -> tuple[int, int]:
    """Register identity keys; return (newly registered, already registered).

    Every record must be signed by a trusted manufacturer key, or nothing is
    registered. Idempotent: registering a known key again changes nothing.
    """
    manufacturing.verify_records(session=session, records=records)
    wanted = list(dict.fromkeys(record.device_id for record in records))
    key_ids = sorted({record.manufacturer_key_id for record in records})
    for _attempt in range(3):
        existing = _existing_ids(session, wanted)
        fresh = [device_id for device_id in wanted if device_id not in existing]
        now = clock.now()
        session.add_all(
            Device(id=device_id, registered_at=now, registered_by=principal.token_id)
            for device_id in fresh
        )
        try:
            session.flush()
        except IntegrityError:
            # A concurrent registration of the same key won the race: look again.
            session.rollback()
            continue
        if fresh:
            audit.record(
                session=session,
                clock=clock,
                principal=principal,
                tenant_id=None,
                action="device.register",
                target_type="device-batch",
                target_id=f"{len(fresh)} device(s)",
                details={"count": len(fresh), "manufacturer_key_ids": key_ids},
            )
        session.commit()
        return len(fresh), len(wanted) - len(fresh)
    raise ConflictError("registration kept racing with another; retry")


def _existing_ids(session: Session, device_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(device_ids), _CHUNK):
        chunk = device_ids[start : start + _CHUNK]
        found.update(session.scalars(select(Device.id).where(Device.id.in_(chunk))))
    return found


def claim_outcome(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    device_id: str,
    group: DeviceGroup | None,
) -> ClaimOutcome:
    """Try to claim one device; return what happened (adds to the session only)."""
    tenant_id = principal.require_tenant()
    result = session.execute(
        update(Device)
        .where(Device.id == device_id, Device.tenant_id.is_(None))
        .values(
            tenant_id=tenant_id,
            status=DeviceStatus.CLAIMED.value,
            claimed_at=clock.now(),
            product_id=group.product_id if group else None,
            device_group_id=group.id if group else None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        audit.record(
            session=session,
            clock=clock,
            principal=principal,
            tenant_id=tenant_id,
            action="device.claim",
            target_type="device",
            target_id=device_id,
            details={"device_group_id": group.id if group else None},
        )
        return ClaimOutcome.CLAIMED
    owner = session.scalar(select(Device.tenant_id).where(Device.id == device_id))
    if owner is None:
        exists = session.scalar(select(Device.id).where(Device.id == device_id))
        if exists is None:
            return ClaimOutcome.NOT_REGISTERED
    if owner == tenant_id:
        return ClaimOutcome.ALREADY_CLAIMED_BY_THIS_TENANT
    return ClaimOutcome.ALREADY_CLAIMED


def claim_device(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    device_id: str,
    device_group_id: str | None,
) -> Device:
    """Claim one registered device into the caller's tenant, once and for good.

    Raises:
        NotFoundError: the device is not registered, or the group is not the tenant's.
        ConflictError: the device is already claimed (by any tenant).
    """
    group = _group_or_none(session, principal, device_group_id)
    outcome = claim_outcome(
        session=session,
        clock=clock,
        principal=principal,
        device_id=device_id,
        group=group,
    )
    if outcome is ClaimOutcome.NOT_REGISTERED:
        raise NotFoundError(
            f"device {device_id[:16]}… is not registered by a manufacturer",
            code=ProblemCode.DEVICE_NOT_REGISTERED,
        )
    if outcome is not ClaimOutcome.CLAIMED:
        raise ConflictError(
            f"device {device_id[:16]}… is already claimed; a claim cannot be repeated",
            code=ProblemCode.DEVICE_ALREADY_CLAIMED,
            extra={"outcome": outcome.value},
        )
    session.commit()
    return get_device(session=session, principal=principal, device_id=device_id)


def _group_or_none(
    session: Session, principal: Principal, device_group_id: str | None
) -> DeviceGroup | None:
    if device_group_id is None:
        return None
    return product_service.get_group(
        session=session, principal=principal, group_id=device_group_id
    )


def get_device(*, session: Session, principal: Principal, device_id: str) -> Device:
    """Return one of the tenant's devices.

    Raises:
        NotFoundError: not claimed by the caller's tenant.
    """
    device = session.get(Device, device_id)
    if device is None or device.tenant_id != principal.require_tenant():
        raise NotFoundError(f"no device {device_id[:16]}… in this tenant")
    return device


def list_devices(
    *,
    session: Session,
    principal: Principal,
    filters: DeviceFilter,
    after_id: str | None,
    limit: int,
) -> Sequence[RowMapping]:
    """Return a page of the tenant's devices in device-ID order (keyset pagination).

    Each row maps every column of ``devices`` by name. A listing only reads, so it
    skips the ORM's per-object bookkeeping (identity map, instance state), which
    costs about as much as the query itself for a page of 100.
    """
    query = select(Device.__table__).where(
        Device.tenant_id == principal.require_tenant()
    )
    if filters.product_id is not None:
        query = query.where(Device.product_id == filters.product_id)
    if filters.device_group_id is not None:
        query = query.where(Device.device_group_id == filters.device_group_id)
    if filters.status is not None:
        query = query.where(Device.status == filters.status.value)
    if after_id is not None:
        query = query.where(Device.id > after_id)
    return session.execute(query.order_by(Device.id).limit(limit)).mappings().all()


def move_device(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    device_id: str,
    device_group_id: str,
) -> Device:
    """Move a device to a group of its product (any product's group if it has none).

    Raises:
        ConflictError: the group belongs to another product, or the device is revoked.
    """
    device = get_device(session=session, principal=principal, device_id=device_id)
    group = product_service.get_group(
        session=session, principal=principal, group_id=device_group_id
    )
    if device.status == DeviceStatus.REVOKED.value:
        raise ConflictError(
            "a revoked device cannot be moved", code=ProblemCode.DEVICE_REVOKED
        )
    if device.product_id is not None and group.product_id != device.product_id:
        raise ConflictError(
            "a device moves only between groups of its own product",
            code=ProblemCode.WRONG_PRODUCT,
        )
    previous = device.device_group_id
    device.product_id = group.product_id
    device.device_group_id = group.id
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=device.tenant_id,
        action="device.move",
        target_type="device",
        target_id=device.id,
        details={"from": previous, "to": group.id},
    )
    session.commit()
    return device


def revoke_device(
    *, session: Session, clock: Clock, principal: Principal, device_id: str
) -> Device:
    """Revoke a device: no certificate and no update from now on (idempotent)."""
    device = get_device(session=session, principal=principal, device_id=device_id)
    if device.status != DeviceStatus.REVOKED.value:
        device.status = DeviceStatus.REVOKED.value
        device.revoked_at = clock.now()
        audit.record(
            session=session,
            clock=clock,
            principal=principal,
            tenant_id=device.tenant_id,
            action="device.revoke",
            target_type="device",
            target_id=device.id,
        )
        session.commit()
    return device
