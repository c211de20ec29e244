"""A tenant's ECDSA P-256 certificate authority and the device certificates it issues.

Pure: the caller passes the time (``now`` / ``not_before``) and stores the results.
The CA is self-signed (basicConstraints CA, pathlen 0: it signs only end entities);
device certificates name the device in a SAN URI ``urn:sevenfold:device:<id>``, are
for TLS client authentication, and live 24 hours unless told otherwise.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = timedelta(days=730)
DEVICE_CERTIFICATE_LIFETIME = timedelta(hours=24)
DEVICE_URI_PREFIX = "urn:sevenfold:device:"
ORGANIZATION = "Sevenfold"


@dataclass(frozen=True, slots=True)
class NewCertificateAuthority:
    """A freshly made CA: its private key and self-signed certificate."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
"""A CA certificate signs certificates (and CRLs), nothing else."""


def ca_subject(tenant_id: str, serial: int) -> x509.Name:
    """The CA's name: the tenant it belongs to and its generation."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"tenant {tenant_id}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Sevenfold tenant CA {serial}"),
        ]
    )


def make_certificate_authority(
    *,
    tenant_id: str,
    generation: int,
    now: datetime,
    lifetime: timedelta = CA_LIFETIME,
) -> NewCertificateAuthority:
    """Make a P-256 key and its self-signed CA certificate valid from ``now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = key.public_key()
    subject = ca_subject(tenant_id, generation)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            CA_KEY_USAGE,
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return NewCertificateAuthority(private_key=key, certificate=certificate)


def issue_device_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    device_public_key: ec.EllipticCurvePublicKey,
    device_id: str,
    not_before: datetime,
    lifetime: timedelta = DEVICE_CERTIFICATE_LIFETIME,
    extra_extensions: Sequence[x509.Extension[x509.ExtensionType]] = (),
) -> x509.Certificate:
    """Issue a TLS client certificate for one device, signed by the tenant CA.

    The certificate never outlives its CA: ``not_after`` is cut at the CA's own.

    Raises:
        ValueError: ``not_before`` is outside the CA's validity.
    """
    ca_not_before = ca_cert.not_valid_before_utc
    ca_not_after = ca_cert.not_valid_after_utc
    if not ca_not_before <= not_before < ca_not_after:
        raise ValueError("the CA is not valid at the certificate's not_before")
    ca_public_key = ca_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, device_id[:64]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(device_public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_before + lifetime, ca_not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(DEVICE_URI_PREFIX + device_id)]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(device_public_key),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public_key),
            critical=False,
        )
    )
    for extension in extra_extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(ca_key, hashes.SHA256())


def certificate_pem(certificate: x509.Certificate) -> str:
    """The certificate as PEM text."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()
