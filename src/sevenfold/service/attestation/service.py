"""The attestation protocol: a single-use nonce, then evidence, then a certificate.

Checks run in this order and stop at the first failure, which is recorded (an
attempt row and an ``attestation-failure`` device event) and returned as the reason:

1. the device is registered (otherwise nothing is recorded: no device, no history);
2. the nonce was issued to this device, has not expired and was not used. It is
   consumed by one conditional ``UPDATE ... WHERE used_at IS NULL AND expires_at >
   now`` committed at once, so of two racing requests with one nonce only one wins,
   and a nonce is spent even if a later check fails;
3. the evidence verifies against the registered device ID (``verification``): for
   DICE, the Alias certificate chains to it, the Alias key signed the evidence and
   the signed measurements are the certified ones; for a TPM, the identity key
   vouched for the AK, the AK signed a TPM-generated quote of this nonce, and the
   quoted PCR is the replay of the reported measurements;
4. the device is claimed and not revoked;
5. the OS image and the agent are approved for the device's product, and so is every
   app image (a released OS image and the tenant's own app images are approved
   without a manual entry, docs/updates.md §3);
6. the tenant CA signs a 24-hour certificate, naming the device ID and carrying the
   attested OS version, for the DICE Alias key (a software change changes that key,
   so it needs a new attestation) or the TPM identity key (it never leaves the TPM).

Only SHA-256 digests of nonces are stored; nonces and keys are never logged.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from sevenfold.crypto.certificate_authority import (
    certificate_pem,
    issue_device_certificate,
)
from sevenfold.crypto.key_wrapping import KeyUnwrapError
from sevenfold.protocol.attestation import (
    ATTESTATION_NONCE_BYTES,
    ATTESTED_OS_VERSION_OID,
    AttestationFailure,
    AttestationOutcome,
    Evidence,
    MeasurementKind,
    Measurements,
    encode_os_version,
)
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.tpm_evidence import TpmEvidence
from sevenfold.protocol.updates import ImageType
from sevenfold.protocol.vocabulary import DeviceStatus
from sevenfold.service.attestation.models import (
    ApprovedMeasurement,
    AttestationAttempt,
    AttestationNonce,
    DeviceEvent,
)
from sevenfold.service.attestation.verification import Attested, verified
from sevenfold.service.ca import service as ca_service
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import (
    AttestationCheckError,
    AttestationFailedError,
    CaUnavailableError,
)
from sevenfold.service.images.models import Image
from sevenfold.service.releases import service as releases

ATTESTATION_FAILURE_EVENT = "attestation-failure"
_OS_VERSION_OID = x509.ObjectIdentifier(ATTESTED_OS_VERSION_OID)


@dataclass(frozen=True, slots=True)
class IssuedNonce:
    """A fresh challenge: the nonce (returned once, stored only hashed)."""

    nonce: bytes
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """The device certificate and the CA bundle it chains to (PEM)."""

    certificate_pem: str
    chain_pem: str
    not_after: datetime


def _nonce_digest(nonce: bytes) -> str:
    return hashlib.sha256(nonce).hexdigest()


def _registered(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise AttestationFailedError(
            "the device is not registered",
            reason=AttestationFailure.UNKNOWN_DEVICE.value,
        )
    return device


def issue_nonce(
    *,
    session: Session,
    clock: Clock,
    device_id: str,
    lifetime: timedelta,
    per_device: int,
) -> IssuedNonce:
    """Make a single-use challenge for a registered device.

    At most ``per_device`` unexpired nonces are kept per device: older ones (and
    expired ones) are dropped, so nobody can fill the table by asking.

    Raises:
        AttestationFailedError: the device is not registered (``unknown-device``).
    """
    device = _registered(session, device_id)
    now = clock.now()
    nonce = secrets.token_bytes(ATTESTATION_NONCE_BYTES)
    session.add(
        AttestationNonce(
            device_id=device.id,
            nonce_sha256=_nonce_digest(nonce),
            issued_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    stale = session.scalars(
        select(AttestationNonce.id)
        .where(AttestationNonce.device_id == device.id)
        .order_by(AttestationNonce.id.desc())
        .offset(per_device)
    ).all()
    session.execute(
        delete(AttestationNonce)
        .where(
            AttestationNonce.device_id == device.id,
            or_(AttestationNonce.id.in_(stale), AttestationNonce.expires_at <= now),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return IssuedNonce(nonce=nonce, expires_at=now + lifetime)


def _consume_nonce(
    session: Session, device_id: str, nonce: bytes, now: datetime
) -> None:
    digest = _nonce_digest(nonce)
    consumed = session.execute(
        update(AttestationNonce)
        .where(
            AttestationNonce.device_id == device_id,
            AttestationNonce.nonce_sha256 == digest,
            AttestationNonce.used_at.is_(None),
            AttestationNonce.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if consumed.rowcount == 1:  # type: ignore[attr-defined]
        return
    row = session.scalar(
        select(AttestationNonce).where(
            AttestationNonce.device_id == device_id,
            AttestationNonce.nonce_sha256 == digest,
        )
    )
    if row is None:
        raise AttestationCheckError(
            AttestationFailure.UNKNOWN_NONCE, "the nonce was not issued to this device"
        )
    if row.used_at is not None:
        raise AttestationCheckError(
            AttestationFailure.NONCE_USED, "the nonce was already used"
        )
    raise AttestationCheckError(
        AttestationFailure.NONCE_EXPIRED, "the nonce has expired"
    )


def _check_standing(device: Device) -> str:
    if device.tenant_id is None:
        raise AttestationCheckError(
            AttestationFailure.NOT_CLAIMED, "the device is not claimed"
        )
    if device.status == DeviceStatus.REVOKED.value:
        raise AttestationCheckError(AttestationFailure.REVOKED, "the device is revoked")
    return device.tenant_id


def _approved_os_version(
    session: Session, device: Device, measurements: Measurements
) -> str:
    """Return the version of the approved OS image, if all the software is approved.

    Approved (docs/updates.md §3): the OS image of ANY published OS release, or one
    on the product's manual list; an app image the device's tenant uploaded, or one
    on the manual list; the agent only from the manual list.
    """
    approved = (
        session.scalars(
            select(ApprovedMeasurement).where(
                ApprovedMeasurement.product_id == device.product_id
            )
        ).all()
        if device.product_id is not None
        else []
    )
    by_kind: dict[str, dict[str, ApprovedMeasurement]] = {}
    for row in approved:
        by_kind.setdefault(row.kind, {})[row.sha256] = row
    os_version = _os_version(session, by_kind, measurements.os_image_sha256.hex())
    agents = by_kind.get(MeasurementKind.AGENT.value, {})
    if measurements.agent_sha256.hex() not in agents:
        raise AttestationCheckError(
            AttestationFailure.UNAPPROVED_SOFTWARE, "unapproved agent"
        )
    apps = set(by_kind.get(MeasurementKind.APP.value, {}))
    reported_apps = {app.hex() for app in measurements.app_image_sha256s}
    if reported_apps - apps:
        apps |= _tenant_app_digests(session, device.tenant_id, reported_apps - apps)
    if reported_apps - apps:
        raise AttestationCheckError(
            AttestationFailure.UNAPPROVED_SOFTWARE, "unapproved app image"
        )
    return os_version


def _os_version(
    session: Session,
    by_kind: dict[str, dict[str, ApprovedMeasurement]],
    os_sha256_hex: str,
) -> str:
    # Released images of every state count, cancelled and withdrawn included: a
    # device running a bad release must still attest, or it could never be given
    # the newer good release that moves it on (versions only go up).
    released = releases.released_os_image(session, os_sha256_hex)
    if released is not None:
        return released.version
    os_row = by_kind.get(MeasurementKind.OS.value, {}).get(os_sha256_hex)
    if os_row is None or os_row.version is None:
        raise AttestationCheckError(
            AttestationFailure.UNAPPROVED_SOFTWARE, "unapproved OS image"
        )
    return os_row.version


def _tenant_app_digests(
    session: Session, tenant_id: str | None, digests: set[str]
) -> set[str]:
    """Which of ``digests`` are app images of the device's tenant (never another's)."""
    if tenant_id is None:
        return set()
    return set(
        session.scalars(
            select(Image.sha256).where(
                Image.tenant_id == tenant_id,
                Image.kind == ImageType.APP.value,
                Image.sha256.in_(sorted(digests)),
            )
        ).all()
    )


def _issue(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    on_created: ca_service.CaCreated | None,
    tenant_id: str,
    attested: Attested,
    os_version: str,
) -> IssuedCertificate:
    try:
        signing = ca_service.active_ca(
            session=session,
            clock=clock,
            kek=kek,
            tenant_id=tenant_id,
            on_created=on_created,
        )
        chain = ca_service.chain(
            session=session,
            clock=clock,
            kek=kek,
            tenant_id=tenant_id,
            on_created=on_created,
        )
    except (CaUnavailableError, KeyUnwrapError) as err:
        raise AttestationCheckError(
            AttestationFailure.CA_UNAVAILABLE, "the tenant CA cannot sign now"
        ) from err
    extension = x509.Extension(
        _OS_VERSION_OID,
        False,  # not critical: relying parties may ignore it
        x509.UnrecognizedExtension(_OS_VERSION_OID, encode_os_version(os_version)),
    )
    certificate = issue_device_certificate(
        signing.private_key,
        signing.certificate,
        attested.public_key,
        attested.device_id,
        clock.now(),
        extra_extensions=(extension,),
    )
    return IssuedCertificate(
        certificate_pem=certificate_pem(certificate),
        chain_pem="".join(ca.certificate_pem for ca in chain),
        not_after=certificate.not_valid_after_utc,
    )


def _record(
    session: Session,
    clock: Clock,
    device: Device,
    reason: AttestationFailure | None,
    os_version: str | None,
) -> None:
    now = clock.now()
    session.add(
        AttestationAttempt(
            device_id=device.id,
            tenant_id=device.tenant_id,
            at=now,
            outcome=(
                AttestationOutcome.REFUSED if reason else AttestationOutcome.CERTIFIED
            ).value,
            reason=reason.value if reason else None,
            os_version=os_version,
        )
    )
    if reason is not None:
        session.add(
            DeviceEvent(
                device_id=device.id,
                tenant_id=device.tenant_id,
                kind=ATTESTATION_FAILURE_EVENT,
                reason=reason.value,
                at=now,
            )
        )
    session.commit()


def attest(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    device_id: str,
    evidence: Evidence | TpmEvidence,
    on_created: ca_service.CaCreated | None = None,
) -> IssuedCertificate:
    """Check a device's evidence; certify it, or record and raise why not.

    Raises:
        AttestationFailedError: a check failed; its ``reason`` names which.
    """
    device = _registered(session, device_id)
    os_version: str | None = None
    try:
        _consume_nonce(session, device.id, evidence.nonce, clock.now())
        attested = verified(evidence, device.id, clock.now())
        tenant_id = _check_standing(device)
        os_version = _approved_os_version(session, device, attested.measurements)
        issued = _issue(
            session=session,
            clock=clock,
            kek=kek,
            on_created=on_created,
            tenant_id=tenant_id,
            attested=attested,
            os_version=os_version,
        )
    except AttestationCheckError as refused:
        session.rollback()
        _record(session, clock, device, refused.reason, os_version)
        raise AttestationFailedError(
            refused.detail, reason=refused.reason.value
        ) from None
    _record(session, clock, device, None, os_version)
    return issued
