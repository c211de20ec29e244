"""Routes: approved measurements and attestation history (operators, API tokens) and
the device-facing attestation protocol under ``/device`` (no API token: a device
proves itself with its evidence, and an Authorization header there is refused, so an
operator's token is never sent to a device route by mistake)."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.service.api.deps import (
    CaCreatedDep,
    CanDelete,
    CanRead,
    CanWrite,
    ClockDep,
    SessionDep,
    SettingsDep,
    app_state,
)
from sevenfold.service.api.params import Limit, ResourceId
from sevenfold.service.api.problems import PROBLEM_RESPONSES
from sevenfold.service.attestation import approved, service
from sevenfold.service.attestation.schemas import (
    ApprovedMeasurementIn,
    ApprovedMeasurementOut,
    AttestationAttemptOut,
    AttestationHistoryOut,
    CertificateOut,
    DeviceEventOut,
    EvidenceIn,
    NonceIn,
    NonceOut,
    TpmEvidenceIn,
    encode_nonce,
)
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.errors import AuthorizationNotAcceptedError, InvalidRequestError

router = APIRouter(tags=["attestation"])

DeviceIdPath = Annotated[
    str, Path(min_length=128, max_length=128, pattern=r"^[0-9a-fA-F]+$")
]


async def _kek(request: Request) -> KeyEncryptionKey | None:
    return app_state(request).key_encryption_key


async def refuse_authorization(request: Request) -> None:
    """Device routes take no API token: refuse any Authorization header."""
    if "authorization" in request.headers:
        raise AuthorizationNotAcceptedError(
            "device routes take no Authorization header; do not send API tokens here"
        )


KekDep = Annotated[KeyEncryptionKey | None, Depends(_kek)]
_DEVICE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "An Authorization header was sent to a device route",
        "content": PROBLEM_RESPONSES[401]["content"],
    },
    403: {
        "description": "Attestation refused; the problem's `reason` says why",
        "content": PROBLEM_RESPONSES[403]["content"],
    },
}
device_router = APIRouter(
    prefix="/device/attestation",
    tags=["device attestation"],
    dependencies=[Depends(refuse_authorization)],
    responses=_DEVICE_RESPONSES,
)


@router.post(
    "/products/{product_id}/approved-measurements",
    response_model=ApprovedMeasurementOut,
    status_code=status.HTTP_201_CREATED,
)
def approve_measurement(
    product_id: ResourceId,
    body: ApprovedMeasurementIn,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
) -> ApprovedMeasurementOut:
    """Approve an OS image (with its version), agent or app image for a product."""
    row = approved.approve_measurement(
        session=session,
        clock=clock,
        principal=principal,
        product_id=product_id,
        kind=body.kind,
        sha256=body.sha256,
        version=body.version,
        label=body.label,
    )
    return ApprovedMeasurementOut.model_validate(row)


@router.get(
    "/products/{product_id}/approved-measurements",
    response_model=list[ApprovedMeasurementOut],
)
def list_approved_measurements(
    product_id: ResourceId, session: SessionDep, principal: CanRead
) -> list[ApprovedMeasurementOut]:
    """List a product's approved measurements."""
    rows = approved.list_approved(
        session=session, principal=principal, product_id=product_id
    )
    return [ApprovedMeasurementOut.model_validate(row) for row in rows]


@router.delete(
    "/products/{product_id}/approved-measurements/{measurement_id}",
    status_code=status.HTTP_204_NO_CONTENT,
)
def remove_approved_measurement(
    product_id: ResourceId,
    measurement_id: ResourceId,
    session: SessionDep,
    clock: ClockDep,
    principal: CanDelete,
) -> Response:
    """Withdraw an approval; devices running that software are then refused."""
    approved.remove_approved(
        session=session,
        clock=clock,
        principal=principal,
        product_id=product_id,
        measurement_id=measurement_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/devices/{device_id}/attestations", response_model=AttestationHistoryOut)
def attestation_history(
    device_id: DeviceIdPath,
    session: SessionDep,
    principal: CanRead,
    limit: Limit = 100,
) -> AttestationHistoryOut:
    """A device's latest attestation attempts and failure events, newest first."""
    try:
        canonical = normalize_device_id(device_id)
    except InvalidDeviceIdError as err:
        raise InvalidRequestError(str(err)) from err
    attempts, events = approved.attestation_history(
        session=session, principal=principal, device_id=canonical, limit=limit
    )
    return AttestationHistoryOut(
        attempts=[AttestationAttemptOut.model_validate(a) for a in attempts],
        events=[DeviceEventOut.model_validate(e) for e in events],
    )


@device_router.post(
    "/nonces", response_model=NonceOut, status_code=status.HTTP_201_CREATED
)
def request_nonce(
    body: NonceIn, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> NonceOut:
    """A single-use challenge for a registered device, valid for 60 seconds."""
    issued = service.issue_nonce(
        session=session,
        clock=clock,
        device_id=body.device_id,
        lifetime=timedelta(seconds=settings.attestation_nonce_lifetime_s),
        per_device=settings.attestation_nonces_per_device,
    )
    return NonceOut(nonce=encode_nonce(issued.nonce), expires_at=issued.expires_at)


@device_router.post("/evidence", response_model=CertificateOut)
def submit_evidence(
    body: EvidenceIn,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    on_created: CaCreatedDep,
) -> CertificateOut:
    """Check DICE evidence; answer a 24-hour certificate for the Alias key, or the
    reason for refusal."""
    return _attest(body, session, clock, kek, on_created)


@device_router.post("/tpm-evidence", response_model=CertificateOut)
def submit_tpm_evidence(
    body: TpmEvidenceIn,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    on_created: CaCreatedDep,
) -> CertificateOut:
    """Check a TPM quote; answer a 24-hour certificate for the identity key (the
    registered device key), or the reason for refusal."""
    return _attest(body, session, clock, kek, on_created)


def _attest(
    body: EvidenceIn | TpmEvidenceIn,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    on_created: CaCreatedDep,
) -> CertificateOut:
    issued = service.attest(
        session=session,
        clock=clock,
        kek=kek,
        on_created=on_created,
        device_id=body.device_id,
        evidence=body.to_evidence(),
    )
    return CertificateOut(
        certificate=issued.certificate_pem,
        chain=issued.chain_pem,
        not_after=issued.not_after,
    )
