"""Routes for device registration (platform), claiming and device management.

The two hot routes (claiming one device, listing devices) are ``async def`` and hand
their whole database work, up to closing the session, to the threadpool in one call
(``run_in_session``). A plain ``def`` route costs more thread hand-offs per request:
FastAPI then also runs the response-model check in the threadpool (here it only
confirms the model the route just built), and closes the session in another.
"""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.errors import RecordFormatError
from sevenfold.protocol.vocabulary import DeviceStatus
from sevenfold.service.access.principal import Principal
from sevenfold.service.api.deps import (
    CanRead,
    CanRegisterDevices,
    CanWrite,
    ClockDep,
    SessionDep,
    run_in_session,
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

DEVICE_LIST = TypeAdapter(list[DeviceOut])
"""Validates a whole page of device rows in one call."""

DeviceIdPath = Annotated[
    str, Path(min_length=128, max_length=128, pattern=r"^[0-9a-fA-F]+$")
]


def canonical_device_id(device_id: str) -> str:
    """The device ID in canonical (lower-case) form, or a 400 problem."""
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
    """Register devices from records signed by trusted manufacturer keys.

    Idempotent; all-or-nothing: one malformed or untrusted record refuses the request.
    """
    records = []
    for index, item in enumerate(body.records):
        try:
            records.append(item.to_record())
        except RecordFormatError as err:
            raise InvalidRequestError(
                f"record {index} is malformed: {err}; nothing was registered",
                extra={"index": index},
            ) from err
    registered, known = service.register_devices(
        session=session, clock=clock, principal=principal, records=records
    )
    return RegistrationOut(registered=registered, already_registered=known)


@router.post("/devices/{device_id}/claim", response_model=DeviceOut)
async def claim_device(
    device_id: DeviceIdPath,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
    body: ClaimIn | None = None,
) -> DeviceOut:
    """Claim a registered device into this tenant: once, irreversibly."""
    work = partial(
        _claim,
        session,
        clock,
        principal,
        device_id,
        body.device_group_id if body else None,
    )
    return await run_in_session(session, work)


def _claim(
    session: Session,
    clock: Clock,
    principal: Principal,
    device_id: str,
    device_group_id: str | None,
) -> DeviceOut:
    device = service.claim_device(
        session=session,
        clock=clock,
        principal=principal,
        device_id=canonical_device_id(device_id),
        device_group_id=device_group_id,
    )
    return DeviceOut.model_validate(device)


@router.get("/devices", response_model=DevicePage)
async def list_devices(
    session: SessionDep,
    principal: CanRead,
    product_id: OptionalIdQuery = None,
    device_group_id: OptionalIdQuery = None,
    status: DeviceStatus | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DevicePage:
    """List the tenant's devices in device-ID order, a page at a time."""
    filters = service.DeviceFilter(
        product_id=product_id, device_group_id=device_group_id, status=status
    )
    work = partial(
        _device_page, session, principal, filters, decode_cursor(cursor), limit
    )
    return await run_in_session(session, work)


def _device_page(
    session: Session,
    principal: Principal,
    filters: service.DeviceFilter,
    after_id: str | None,
    limit: int,
) -> DevicePage:
    devices = service.list_devices(
        session=session,
        principal=principal,
        filters=filters,
        after_id=after_id,
        limit=limit,
    )
    items = DEVICE_LIST.validate_python(devices)
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return DevicePage(items=items, next_cursor=next_cursor)


@router.get("/devices/{device_id}", response_model=DeviceOut)
def show_device(
    device_id: DeviceIdPath, session: SessionDep, principal: CanRead
) -> DeviceOut:
    """Show one of the tenant's devices."""
    device = service.get_device(
        session=session, principal=principal, device_id=canonical_device_id(device_id)
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
        device_id=canonical_device_id(device_id),
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
        device_id=canonical_device_id(device_id),
    )
    return DeviceOut.model_validate(device)
