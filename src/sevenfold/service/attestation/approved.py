"""The software a product's devices may run, and what their attestations came to.

Operators keep a per-product list of approved measurements (OS images with their
version, agents, app images); attestation certifies a device only when everything it
reports is on its product's list. Every change is audited; everything is inside the
caller's tenant.
"""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.protocol.attestation import MeasurementKind
from sevenfold.protocol.clock import Clock
from sevenfold.service.access.principal import Principal
from sevenfold.service.attestation.models import (
    ApprovedMeasurement,
    AttestationAttempt,
    DeviceEvent,
)
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import ConflictError, NotFoundError
from sevenfold.service.products import service as products


def approve_measurement(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    product_id: str,
    kind: MeasurementKind,
    sha256: str,
    version: str | None,
    label: str,
) -> ApprovedMeasurement:
    """Add a digest to a product's approved software.

    Raises:
        NotFoundError: no such product in the tenant.
        ConflictError: this product already approves this digest for this kind.
    """
    product = products.get_product(
        session=session, principal=principal, product_id=product_id
    )
    approved = ApprovedMeasurement(
        id=new_id(),
        tenant_id=product.tenant_id,
        product_id=product.id,
        kind=kind.value,
        sha256=sha256,
        version=version,
        label=label,
        created_at=clock.now(),
    )
    session.add(approved)
    try:
        session.flush()
    except IntegrityError as err:
        session.rollback()
        raise ConflictError(
            f"this product already approves that {kind.value} measurement"
        ) from err
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=product.tenant_id,
        action="approved-measurement.create",
        target_type="approved-measurement",
        target_id=approved.id,
        details={
            "product_id": product.id,
            "kind": kind.value,
            "sha256": sha256,
            "version": version,
        },
    )
    session.commit()
    return approved


def list_approved(
    *, session: Session, principal: Principal, product_id: str
) -> Sequence[ApprovedMeasurement]:
    """A product's approved measurements, by kind then digest."""
    product = products.get_product(
        session=session, principal=principal, product_id=product_id
    )
    query = (
        select(ApprovedMeasurement)
        .where(ApprovedMeasurement.product_id == product.id)
        .order_by(ApprovedMeasurement.kind, ApprovedMeasurement.sha256)
    )
    return session.scalars(query).all()


def remove_approved(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    product_id: str,
    measurement_id: str,
) -> None:
    """Take a digest off a product's list (devices running it then get refused).

    Raises:
        NotFoundError: no such product or measurement in the tenant.
    """
    product = products.get_product(
        session=session, principal=principal, product_id=product_id
    )
    approved = session.get(ApprovedMeasurement, measurement_id)
    if approved is None or approved.product_id != product.id:
        raise NotFoundError(f"no approved measurement '{measurement_id}'")
    session.delete(approved)
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=product.tenant_id,
        action="approved-measurement.delete",
        target_type="approved-measurement",
        target_id=approved.id,
        details={
            "product_id": product.id,
            "kind": approved.kind,
            "sha256": approved.sha256,
        },
    )
    session.commit()


def attestation_history(
    *, session: Session, principal: Principal, device_id: str, limit: int
) -> tuple[Sequence[AttestationAttempt], Sequence[DeviceEvent]]:
    """A device's latest attempts and failure events in the caller's tenant.

    Attempts made before the device was claimed belong to no tenant and are not
    shown.

    Raises:
        NotFoundError: no such device in the tenant.
    """
    tenant_id = principal.require_tenant()
    device = session.get(Device, device_id)
    if device is None or device.tenant_id != tenant_id:
        raise NotFoundError(f"no device '{device_id}'")
    attempts = session.scalars(
        select(AttestationAttempt)
        .where(
            AttestationAttempt.device_id == device.id,
            AttestationAttempt.tenant_id == tenant_id,
        )
        .order_by(AttestationAttempt.id.desc())
        .limit(limit)
    ).all()
    events = session.scalars(
        select(DeviceEvent)
        .where(DeviceEvent.device_id == device.id, DeviceEvent.tenant_id == tenant_id)
        .order_by(DeviceEvent.id.desc())
        .limit(limit)
    ).all()
    return attempts, events
