"""Who a verified device certificate belongs to, checked against the database.

Candidate CAs are found by the certificate's issuer name (a tenant CA's subject names
its tenant and generation, so it is one tenant's), and only those valid now are
trusted; a forged CA with the same name fails the signature check. The device must
then exist, be claimed by the CA's own tenant, and not be revoked. No decision is
cached: every request reads the valid CAs and the device row, so a revocation cuts
the device off at once, not at its certificate's expiry (the database is the
deny-list). Only the parsing of a CA certificate's PEM is remembered (keyed by the
PEM itself), and both reads fetch just the columns the decision needs.
"""

import functools
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

MAX_PARSED_CA_CERTIFICATES = 1024


@dataclass(frozen=True, slots=True)
class AuthenticatedDevice:
    """A device that proved itself with a certificate from its tenant's CA."""

    device_id: str
    tenant_id: str
    product_id: str | None
    device_group_id: str | None
    certificate_not_after: datetime


@functools.lru_cache(maxsize=MAX_PARSED_CA_CERTIFICATES)
def _parsed_certificate(certificate_pem: str) -> x509.Certificate:
    """A CA certificate parsed once per process: keyed by its own PEM, so the cache
    can never answer for a different certificate (which CAs are trusted is still read
    from the database on every request)."""
    return x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))


def _trusted_cas(
    session: Session, issuer: x509.Name, now: datetime
) -> dict[str, tuple[str, x509.Certificate]]:
    """Tenant CAs valid now whose subject is ``issuer``: thumbprint → (tenant, cert)."""
    rows = session.execute(
        select(
            TenantCa.thumbprint_sha256, TenantCa.tenant_id, TenantCa.certificate_pem
        ).where(
            TenantCa.subject == issuer.rfc4514_string(),
            TenantCa.not_before <= now,
            TenantCa.not_after > now,
        )
    )
    return {
        thumbprint: (tenant_id, _parsed_certificate(certificate_pem))
        for thumbprint, tenant_id, certificate_pem in rows
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
    device = session.execute(
        select(
            Device.id,
            Device.tenant_id,
            Device.status,
            Device.revoked_at,
            Device.product_id,
            Device.device_group_id,
        ).where(Device.id == verified.device_id)
    ).first()
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
