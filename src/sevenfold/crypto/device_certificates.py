"""Checking a device's TLS client certificate against its tenant's CAs (pure).

The caller supplies the chain (PEM from the TLS layer or a trusted proxy's header),
the CA certificates it trusts for the issuer, and the time. A certificate is accepted
when it chains to one of those CAs at that time (cryptography's X.509 client
verifier: signatures, validity, basic constraints), carries the clientAuth extended
key usage explicitly, and names exactly one device in a SAN URI
``urn:sevenfold:device:<id>``. Parsing is bounded: at most ``MAX_CHAIN_BYTES`` of PEM
and ``MAX_CHAIN_CERTIFICATES`` certificates.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from sevenfold.crypto.certificate_authority import DEVICE_URI_PREFIX
from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import DeviceCertificateError, InvalidDeviceIdError

MAX_CHAIN_BYTES = 16 * 1024
MAX_CHAIN_CERTIFICATES = 4
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True, slots=True)
class VerifiedDeviceCertificate:
    """What a verified client certificate proves."""

    device_id: str
    issuer: x509.Certificate
    not_after: datetime


def parse_chain(pems: Sequence[str]) -> list[x509.Certificate]:
    """Parse a client chain (leaf first) from PEM texts, each with one or more certs.

    Raises:
        DeviceCertificateError: too large, too many, or not PEM certificates
            (reason ``malformed-certificate``).
    """
    total = sum(len(pem) for pem in pems)
    if total > MAX_CHAIN_BYTES:
        raise DeviceCertificateError(
            f"the client certificate chain is larger than {MAX_CHAIN_BYTES} bytes",
            reason="malformed-certificate",
        )
    certificates: list[x509.Certificate] = []
    for pem in pems:
        if _PEM_BEGIN not in pem:
            raise DeviceCertificateError(
                "the client certificate is not a PEM certificate",
                reason="malformed-certificate",
            )
        try:
            certificates.extend(x509.load_pem_x509_certificates(pem.encode("ascii")))
        except (ValueError, UnicodeEncodeError) as err:
            raise DeviceCertificateError(
                "the client certificate cannot be parsed",
                reason="malformed-certificate",
            ) from err
    if not certificates or len(certificates) > MAX_CHAIN_CERTIFICATES:
        raise DeviceCertificateError(
            f"send 1 to {MAX_CHAIN_CERTIFICATES} client certificates",
            reason="malformed-certificate",
        )
    return certificates


def decode_header_value(value: str) -> list[x509.Certificate]:
    """Parse a URL-encoded PEM chain as nginx's ``$ssl_client_escaped_cert`` sends it.

    Raises:
        DeviceCertificateError: as :func:`parse_chain`.
    """
    # Checked before and after decoding: %XX triples shrink, never grow.
    if len(value) > 3 * MAX_CHAIN_BYTES:
        raise DeviceCertificateError(
            f"the client certificate header is larger than {MAX_CHAIN_BYTES} bytes",
            reason="malformed-certificate",
        )
    try:
        pem = unquote(value, errors="strict")
    except UnicodeDecodeError as err:
        raise DeviceCertificateError(
            "the client certificate header is not URL-encoded PEM",
            reason="malformed-certificate",
        ) from err
    return parse_chain([pem])


def _device_id(leaf: x509.Certificate) -> str:
    try:
        names = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        names = []
    devices = [name for name in names if name.startswith(DEVICE_URI_PREFIX)]
    if len(devices) != 1:
        raise DeviceCertificateError(
            "the certificate names no single device (SAN URI urn:sevenfold:device:)",
            reason="no-device-identity",
        )
    try:
        return normalize_device_id(devices[0].removeprefix(DEVICE_URI_PREFIX))
    except InvalidDeviceIdError as err:
        raise DeviceCertificateError(
            "the certificate's device ID is malformed", reason="no-device-identity"
        ) from err


def _require_client_auth(leaf: x509.Certificate) -> None:
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        raise DeviceCertificateError(
            "the certificate is not for TLS client authentication (no clientAuth EKU)",
            reason="not-client-certificate",
        )


def verify_device_certificate(
    chain: Sequence[x509.Certificate],
    trusted_cas: Sequence[x509.Certificate],
    now: datetime,
) -> VerifiedDeviceCertificate:
    """Verify a client chain (leaf first) against ``trusted_cas`` at ``now``.

    Raises:
        DeviceCertificateError: reason ``untrusted-certificate`` (no path to a trusted
            CA, expired, not yet valid, bad signature), ``not-client-certificate`` or
            ``no-device-identity``.
    """
    if not chain or not trusted_cas:
        raise DeviceCertificateError(
            "the certificate was not issued by a Sevenfold tenant CA",
            reason="untrusted-certificate",
        )
    leaf, intermediates = chain[0], list(chain[1:])
    _require_client_auth(leaf)
    verifier = (
        PolicyBuilder()
        .store(Store(list(trusted_cas)))
        .time(now)
        .max_chain_depth(1)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(leaf, intermediates)
    except (VerificationError, ValueError) as err:
        raise DeviceCertificateError(
            "the certificate does not chain to a valid tenant CA now "
            "(expired, not yet valid, or issued by another CA)",
            reason="untrusted-certificate",
        ) from err
    return VerifiedDeviceCertificate(
        device_id=_device_id(leaf),
        issuer=verified.chain[-1],
        not_after=leaf.not_valid_after_utc,
    )
