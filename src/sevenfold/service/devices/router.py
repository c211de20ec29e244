"""Routes for device registration (platform), claiming and device management."""

from typing import Annotated

from fastapi import APIRouter, Path

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.protocol.vocabulary import DeviceStatus
from sevenfold.service.api.deps import (
    CanRead,
    CanRegisterDevices,
    CanWrite,
    ClockDep,
    SessionDep,
)
from sevenfold.service.api.pagination import decode_cursor, encode_cursor
from sevenfold.service.api.params import Cursor, Limit, OptionalIdQuery
from sevenfold.service.devices import service
from sevenfold.service.devices.schemas import (
    ClaimIn,
    DeviceOut,
    DevicePage,
    DevicePatch,
    RegistrationIn,
    RegistrationOut,
)
from sevenfold.service.errors import InvalidRequestError

router = APIRouter(tags=["devices"])

DeviceIdPath = Annotated[
    str, Path(min_length=128, max_length=128, pattern=r"^[0-9a-fA-F]+$")
]


def _canonical(device_id: str) -> str:
    try:
        return normalize_device_id(device_id)
    except InvalidDeviceIdError as err:
        raise InvalidRequestError(str(err)) from err


@router.post("/manufacturing/device-registrations", response_model=RegistrationOut)
def register_devices(
    body: RegistrationIn,
    session: SessionDep,
    clock: ClockDep,
    principal: CanRegisterDevices,
) -> RegistrationOut:
    """Register device identity public keys (idempotent; platform credential)."""
    registered, known = service.register_devices(
        session=session, clock=clock, principal=principal, device_ids=body.device_ids
    )
    return RegistrationOut(registered=registered, already_registered=known)


@router.post("/devices/{device_id}/claim", response_model=DeviceOut)
def claim_device(
    device_id: DeviceIdPath,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
    body: ClaimIn | None = None,
) -> DeviceOut:
    """Claim a registered device into this tenant: once, irreversibly."""
    device = service.claim_device(
        session=session,
        clock=clock,
        principal=principal,
        device_id=_canonical(device_id),
        device_group_id=body.device_group_id if body else None,
    )
    return DeviceOut.model_validate(device)


@router.get("/devices", response_model=DevicePage)
def list_devices(
    session: SessionDep,
    principal: CanRead,
    product_id: OptionalIdQuery = None,
    device_group_id: OptionalIdQuery = None,
    status: DeviceStatus | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DevicePage:
    """List the tenant's devices in device-ID order, a page at a time."""
    after_id = decode_cursor(cursor)
    devices = service.list_devices(
        session=session,
        principal=principal,
        filters=service.DeviceFilter(
            product_id=product_id, device_group_id=device_group_id, status=status
        ),
        after_id=after_id,
        limit=limit,
    )
    items = [DeviceOut.model_validate(device) for device in devices]
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return DevicePage(items=items, next_cursor=next_cursor)


@router.get("/devices/{device_id}", response_model=DeviceOut)
def show_device(
    device_id: DeviceIdPath, session: SessionDep, principal: CanRead
) -> DeviceOut:
    """Show one of the tenant's devices."""
    device = service.get_device(
        session=session, principal=principal, device_id=_canonical(device_id)
    )
    return DeviceOut.model_validate(device)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
def move_device(
    device_id: DeviceIdPath,
    body: DevicePatch,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
) -> DeviceOut:
    """Move a device to another device group of its product."""
    device = service.move_device(
        session=session,
        clock=clock,
        principal=principal,
        device_id=_canonical(device_id),
        device_group_id=body.device_group_id,
    )
    return DeviceOut.model_validate(device)


@router.post("/devices/{device_id}/revoke", response_model=DeviceOut)
def revoke_device(
    device_id: DeviceIdPath, session: SessionDep, clock: ClockDep, principal: CanWrite
) -> DeviceOut:
    """Revoke a device: no certificate and no update from now on."""
    device = service.revoke_device(
        session=session,
        clock=clock,
        principal=principal,
        device_id=_canonical(device_id),
    )
    return DeviceOut.model_validate(device)
