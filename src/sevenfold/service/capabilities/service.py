"""Granting and taking away device capabilities (PRODUCT.md "Device capabilities").

``enable-development`` signs a grant of ``app-development`` for one device with the
tenant CA key: with it the device accepts sideloaded apps and the director gives it
no cloud app deployments. ``enable-cloud-test`` signs a grant with no capabilities,
which a device applies to drop development mode; cloud deployments apply again.
``issued_at`` only goes up, so a device can refuse an older grant replayed to it.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from sevenfold.crypto.capabilities import sign_grant
from sevenfold.protocol.capabilities import (
    CapabilityGrant,
    CapabilityKind,
)
from sevenfold.protocol.clock import Clock
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.ca import service as ca_service
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.ca.service import CaCreated
from sevenfold.service.capabilities.models import DeviceCapabilityGrant
from sevenfold.service.devices import service as device_service
from sevenfold.service.errors import NotFoundError


def _issued_at(previous: DeviceCapabilityGrant | None, now: datetime) -> datetime:
    if previous is not None and now <= previous.issued_at:
        # The clock went back (or two grants in one tick): still strictly newer.
        return previous.issued_at + timedelta(microseconds=1)
    return now


def set_capabilities(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    on_created: CaCreated | None,
    principal: Principal,
    device_id: str,
    capabilities: frozenset[CapabilityKind],
) -> DeviceCapabilityGrant:
    """Sign and store a grant of exactly ``capabilities`` for one of the tenant's
    devices; audited. The caller commits.

    Raises:
        NotFoundError: not the tenant's device.
        CaUnavailableError: the service has no KEK, so it cannot sign.
    """
    device = device_service.get_device(
        session=session, principal=principal, device_id=device_id
    )
    tenant_id = principal.require_tenant()
    previous = session.get(DeviceCapabilityGrant, device.id)
    grant = CapabilityGrant(
        device_id=device.id,
        tenant_id=tenant_id,
        capabilities=capabilities,
        issued_at=_issued_at(previous, clock.now()),
    )
    ca = ca_service.active_ca(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=tenant_id,
        on_created=on_created,
    )
    signed = sign_grant(grant, ca.private_key)
    row = previous or DeviceCapabilityGrant(device_id=device.id, tenant_id=tenant_id)
    row.capabilities = sorted(kind.value for kind in capabilities)
    row.issued_at = grant.issued_at
    row.granted_by = principal.token_id
    row.signed = signed.encode()
    if previous is None:
        session.add(row)
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action=(
            "device.enable-development"
            if CapabilityKind.APP_DEVELOPMENT in capabilities
            else "device.enable-cloud-test"
        ),
        target_type="device",
        target_id=device.id,
        details={"capabilities": row.capabilities},
    )
    return row


def current_grant(
    *, session: Session, principal: Principal, device_id: str
) -> DeviceCapabilityGrant:
    """The tenant's device's newest grant.

    Raises:
        NotFoundError: not the tenant's device, or never granted anything.
    """
    device = device_service.get_device(
        session=session, principal=principal, device_id=device_id
    )
    row = session.get(DeviceCapabilityGrant, device.id)
    if row is None:
        raise NotFoundError("this device has never been granted a capability")
    return row


def device_grant(session: Session, device_id: str) -> DeviceCapabilityGrant | None:
    """A device's own newest grant (device route)."""
    return session.get(DeviceCapabilityGrant, device_id)


def signed_document(row: DeviceCapabilityGrant) -> dict[str, Any]:
    """The stored file form, as JSON for API answers."""
    loaded: dict[str, Any] = json.loads(row.signed)
    return loaded
