"""Who a verified device certificate belongs to, checked against the database.

Candidate CAs are found by the certificate's issuer name (a tenant CA's subject names
its tenant and generation, so it is one tenant's), and only those valid now are
trusted; a forged CA with the same name fails the signature check. The device must
then exist, be claimed by the CA's own tenant, and not be revoked. Nothing is cached:
every request reads the device row, so a revocation cuts the device off at once,
not at its certificate's expiry (the database is the deny-list).
"""

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.crypto.certificate_authority import certificate_thumbprint
from sevenfold.crypto.device_certificates import verify_device_certificate
from sevenfold.crypto.errors import DeviceCertificateError
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.vocabulary import DeviceStatus
from sevenfold.service.ca.models import TenantCa
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import DeviceRevokedError, DeviceUnauthenticatedError


@dataclass(frozen=True, slots=True)
class AuthenticatedDevice:
    """A device that proved itself with a certificate from its tenant's CA."""

    device_id: str
    tenant_id: str
    product_id: str | None
    device_group_id: str | None
    certificate_not_after: datetime


def _trusted_cas(
    session: Session, issuer: x509.Name, now: datetime
) -> dict[str, tuple[str, x509.Certificate]]:
    """Tenant CAs valid now whose subject is ``issuer``: thumbprint → (tenant, cert)."""
    rows = session.scalars(
        select(TenantCa).where(
            TenantCa.subject == issuer.rfc4514_string(),
            TenantCa.not_before <= now,
            TenantCa.not_after > now,
        )
    )
    return {
        row.thumbprint_sha256: (
            row.tenant_id,
            x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii")),
        )
        for row in rows
    }


def authenticate_device(
    *, session: Session, clock: Clock, chain: list[x509.Certificate]
) -> AuthenticatedDevice:
    """The device a client chain (leaf first) proves, if it may use the service now.

    Raises:
        DeviceUnauthenticatedError: the certificate is not from a valid tenant CA, or
            names a device that is not claimed by that CA's tenant.
        DeviceRevokedError: the device has been revoked.
    """
    now = clock.now()
    leaf = chain[0]
    cas = _trusted_cas(session, leaf.issuer, now)
    try:
        verified = verify_device_certificate(
            chain, [cert for _, cert in cas.values()], now
        )
    except DeviceCertificateError as err:
        raise DeviceUnauthenticatedError(str(err), reason=err.reason) from err
    tenant_id, _ = cas[certificate_thumbprint(verified.issuer)]
    device = session.get(Device, verified.device_id)
    if device is None or device.tenant_id != tenant_id:
        raise DeviceUnauthenticatedError(
            "the certificate names a device that is not claimed by its CA's tenant",
            reason="unknown-device",
        )
    if device.status == DeviceStatus.REVOKED.value or device.revoked_at is not None:
        raise DeviceRevokedError("the device is revoked")
    if device.status != DeviceStatus.CLAIMED.value:
        raise DeviceUnauthenticatedError(
            "the device is not claimed", reason="unknown-device"
        )
    return AuthenticatedDevice(
        device_id=device.id,
        tenant_id=tenant_id,
        product_id=device.product_id,
        device_group_id=device.device_group_id,
        certificate_not_after=verified.not_after,
    )
