"""Routes for the manufacturer keys the platform trusts (platform administrators)."""

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from sevenfold.service.api.deps import CanManageManufacturerKeys, ClockDep, SessionDep
from sevenfold.service.manufacturing import service
from sevenfold.service.manufacturing.schemas import TrustedKeyIn, TrustedKeyOut

router = APIRouter(prefix="/manufacturing/trusted-keys", tags=["manufacturing"])

KeyIdPath = Annotated[str, Path(min_length=64, max_length=64, pattern=r"^[0-9a-f]+$")]


@router.post("", response_model=TrustedKeyOut, status_code=status.HTTP_201_CREATED)
def trust_key(
    body: TrustedKeyIn,
    session: SessionDep,
    clock: ClockDep,
    principal: CanManageManufacturerKeys,
) -> TrustedKeyOut:
    """Trust a manufacturer's Ed25519 public key to vouch for device registrations."""
    key = service.trust_key(
        session=session,
        clock=clock,
        principal=principal,
        name=body.name,
        pem=body.public_key_pem,
    )
    return TrustedKeyOut.model_validate(key)


@router.get("", response_model=list[TrustedKeyOut])
def list_keys(
    session: SessionDep,
    principal: CanManageManufacturerKeys,  # noqa: ARG001 - the permission check
) -> list[TrustedKeyOut]:
    """List the trusted manufacturer keys."""
    keys = service.list_keys(session=session)
    return [TrustedKeyOut.model_validate(key) for key in keys]


@router.get("/{key_id}", response_model=TrustedKeyOut)
def show_key(
    key_id: KeyIdPath,
    session: SessionDep,
    principal: CanManageManufacturerKeys,  # noqa: ARG001 - the permission check
) -> TrustedKeyOut:
    """Show one trusted manufacturer key."""
    return TrustedKeyOut.model_validate(service.get_key(session=session, key_id=key_id))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_key(
    key_id: KeyIdPath,
    session: SessionDep,
    clock: ClockDep,
    principal: CanManageManufacturerKeys,
) -> Response:
    """Stop trusting a manufacturer key (devices it registered stay registered)."""
    service.remove_key(session=session, clock=clock, principal=principal, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
