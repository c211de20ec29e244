"""The tenant CA certificate and the device certificates it issues."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from sevenfold.crypto.certificate_authority import (
    NewCertificateAuthority,
    issue_device_certificate,
    make_certificate_authority,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DEVICE_ID = "ab" * 64


@pytest.fixture(scope="module")
def ca() -> NewCertificateAuthority:
    return make_certificate_authority(tenant_id="tenant-1", generation=1, now=NOW)


def _device_certificate(
    ca: NewCertificateAuthority, not_before: datetime = NOW
) -> x509.Certificate:
    device_key = ec.generate_private_key(ec.SECP256R1())
    return issue_device_certificate(
        ca.private_key, ca.certificate, device_key.public_key(), DEVICE_ID, not_before
    )


def _verify(
    leaf: x509.Certificate, roots: list[x509.Certificate], at: datetime
) -> None:
    verifier = PolicyBuilder().store(Store(roots)).time(at).build_client_verifier()
    verifier.verify(leaf, [])


def test_ca_certificate_is_a_p256_ca_for_two_years(
    ca: NewCertificateAuthority,
) -> None:
    cert = ca.certificate
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    assert cert.subject == cert.issuer
    assert "tenant tenant-1" in cert.subject.rfc4514_string()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=730)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    cert.verify_directly_issued_by(cert)


def test_device_certificate_chains_to_the_ca_with_san_eku_and_24_hours(
    ca: NewCertificateAuthority,
) -> None:
    leaf = _device_certificate(ca)
    _verify(leaf, [ca.certificate], NOW + timedelta(hours=1))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"urn:sevenfold:device:{DEVICE_ID}"
    ]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=24)
    assert leaf.issuer == ca.certificate.subject


def test_expired_device_certificate_is_refused(ca: NewCertificateAuthority) -> None:
    leaf = _device_certificate(ca)
    with pytest.raises(VerificationError):
        _verify(leaf, [ca.certificate], NOW + timedelta(hours=24, seconds=1))


def test_certificate_from_another_tenants_ca_is_refused(
    ca: NewCertificateAuthority,
) -> None:
    other = make_certificate_authority(tenant_id="tenant-2", generation=1, now=NOW)
    with pytest.raises(VerificationError):
        _verify(_device_certificate(other), [ca.certificate], NOW)


def test_device_certificate_never_outlives_its_ca(ca: NewCertificateAuthority) -> None:
    late = ca.certificate.not_valid_after_utc - timedelta(hours=2)
    leaf = _device_certificate(ca, not_before=late)
    assert leaf.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_device_certificate_outside_the_ca_validity_is_refused(
    ca: NewCertificateAuthority,
) -> None:
    with pytest.raises(ValueError, match="not valid"):
        _device_certificate(ca, not_before=NOW - timedelta(seconds=1))


def test_extra_extensions_are_carried(ca: NewCertificateAuthority) -> None:
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
    extension = x509.Extension(
        oid, False, x509.UnrecognizedExtension(oid, b"\x0c\x0526.11")
    )
    device_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_device_certificate(
        ca.private_key,
        ca.certificate,
        device_key.public_key(),
        DEVICE_ID,
        NOW,
        extra_extensions=[extension],
    )
    carried = leaf.extensions.get_extension_for_oid(oid).value
    assert isinstance(carried, x509.UnrecognizedExtension)
    assert carried.value == b"\x0c\x0526.11"
