"""Routes for device capabilities.

* ``POST /devices/{id}/enable-development``: grant ``app-development`` (contributor);
  answers the signed grant, which the device applies (``sevenfold agent capability
  apply``) or fetches itself.
* ``POST /devices/{id}/enable-cloud-test``: a signed grant of nothing; cloud app
  deployments apply again.
* ``GET /devices/{id}/capabilities``: the newest grant (reader).
* ``GET /device/capabilities``: the calling device's own newest grant (device
  certificate).
"""

from fastapi import APIRouter

from sevenfold.protocol.capabilities import CapabilityKind
from sevenfold.service.api.deps import (
    CaCreatedDep,
    CanRead,
    CanWrite,
    ClockDep,
    SessionDep,
)
from sevenfold.service.ca.router import KekDep
from sevenfold.service.capabilities import service
from sevenfold.service.capabilities.models import DeviceCapabilityGrant
from sevenfold.service.capabilities.schemas import CapabilityGrantOut
from sevenfold.service.device_auth.dependency import DeviceDep
from sevenfold.service.device_auth.router import DEVICE_AUTH_RESPONSES
from sevenfold.service.devices.router import DeviceIdPath, canonical_device_id
from sevenfold.service.errors import NotFoundError

router = APIRouter(tags=["device capabilities"])
device_router = APIRouter(
    prefix="/device", tags=["device capabilities"], responses=DEVICE_AUTH_RESPONSES
)


def _out(row: DeviceCapabilityGrant) -> CapabilityGrantOut:
    return CapabilityGrantOut(
        device_id=row.device_id,
        capabilities=row.capabilities,
        issued_at=row.issued_at,
        signed=service.signed_document(row),
    )


def _grant(
    device_id: str,
    capabilities: frozenset[CapabilityKind],
    *,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    on_created: CaCreatedDep,
    principal: CanWrite,
) -> CapabilityGrantOut:
    row = service.set_capabilities(
        session=session,
        clock=clock,
        kek=kek,
        on_created=on_created,
        principal=principal,
        device_id=canonical_device_id(device_id),
        capabilities=capabilities,
    )
    session.commit()
    return _out(row)


@router.post(
    "/devices/{device_id}/enable-development", response_model=CapabilityGrantOut
)
def enable_development(
    device_id: DeviceIdPath,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    on_created: CaCreatedDep,
    principal: CanWrite,
) -> CapabilityGrantOut:
    """Grant the device ``app-development``: sideloading on, cloud apps off."""
    return _grant(
        device_id,
        frozenset({CapabilityKind.APP_DEVELOPMENT}),
        session=session,
        clock=clock,
        kek=kek,
        on_created=on_created,
        principal=principal,
    )


@router.post(
    "/devices/{device_id}/enable-cloud-test", response_model=CapabilityGrantOut
)
def enable_cloud_test(
    device_id: DeviceIdPath,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    on_created: CaCreatedDep,
    principal: CanWrite,
) -> CapabilityGrantOut:
    """Take the device's capabilities away: cloud app deployments apply again."""
    return _grant(
        device_id,
        frozenset(),
        session=session,
        clock=clock,
        kek=kek,
        on_created=on_created,
        principal=principal,
    )


@router.get("/devices/{device_id}/capabilities", response_model=CapabilityGrantOut)
def show_capabilities(
    device_id: DeviceIdPath, session: SessionDep, principal: CanRead
) -> CapabilityGrantOut:
    """The device's newest grant."""
    row = service.current_grant(
        session=session, principal=principal, device_id=canonical_device_id(device_id)
    )
    return _out(row)


@device_router.get("/capabilities", response_model=CapabilityGrantOut)
def own_capabilities(device: DeviceDep, session: SessionDep) -> CapabilityGrantOut:
    """The calling device's newest grant."""
    row = service.device_grant(session, device.device_id)
    if row is None:
        raise NotFoundError("this device has never been granted a capability")
    return _out(row)
