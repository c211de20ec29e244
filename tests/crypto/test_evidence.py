"""Evidence verification: each test is named after the attack it stops."""

import contextlib
import dataclasses
import hashlib
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.dice_chain import issue_alias_certificate, verify_alias_chain
from sevenfold.crypto.dice_derivation import device_id_key
from sevenfold.crypto.errors import (
    AttestationError,
    CertificateNotValidNowError,
    EvidenceSignatureError,
    InvalidDeviceIdError,
    MalformedCertificateError,
    MeasurementsMismatchError,
    NonceMismatchError,
    UntrustedAliasCertificateError,
)
from sevenfold.crypto.evidence import verify_evidence
from sevenfold.crypto.tcb_info import SHA256_OID
from sevenfold.protocol.attestation import Evidence, signed_evidence_bytes
from tests.support.dice import NONCE, NOW, measurements, software_device


def _verify(evidence: Evidence, device_id: str, nonce: bytes = NONCE) -> object:
    return verify_evidence(
        evidence, registered_device_id=device_id, expected_nonce=nonce, now=NOW
    )


def _resign(evidence: Evidence, key: ec.EllipticCurvePrivateKey) -> Evidence:
    signature = key.sign(evidence.signed_bytes(), ec.ECDSA(hashes.SHA256()))
    return dataclasses.replace(evidence, signature=signature)


def test_genuine_evidence_is_accepted() -> None:
    device = software_device()
    attested = verify_evidence(
        device.evidence(),
        registered_device_id=device.device_id,
        expected_nonce=NONCE,
        now=NOW,
    )
    assert attested.device_id == device.device_id
    assert attested.measurements == device.measurements
    assert attested.tcb_info.layer == 1
    assert [f.hash_algorithm for f in attested.tcb_info.fwids or ()] == [SHA256_OID] * 3


def test_forged_evidence_signature_is_refused() -> None:
    device = software_device()
    forged = _resign(device.evidence(), ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(EvidenceSignatureError):
        _verify(forged, device.device_id)
    with pytest.raises(EvidenceSignatureError):
        _verify(dataclasses.replace(forged, signature=b"\x30\x00"), device.device_id)


def test_evidence_from_another_device_key_is_refused() -> None:
    registered = software_device(uds=b"\x01" * 32)
    impostor = software_device(uds=b"\x02" * 32)
    with pytest.raises(UntrustedAliasCertificateError):
        _verify(impostor.evidence(), registered.device_id)


def test_self_signed_alias_certificate_is_refused() -> None:
    device = software_device()
    self_signed = issue_alias_certificate(
        device_id_key=device.alias,
        alias_public_key=device.alias.public_key(),
        measurements=device.measurements,
        not_before=NOW - timedelta(minutes=5),
        not_after=NOW + timedelta(days=1),
    )
    evidence = dataclasses.replace(device.evidence(), alias_certificate=self_signed)
    with pytest.raises(UntrustedAliasCertificateError):
        _verify(evidence, device.device_id)


def test_tampered_os_measurement_is_refused() -> None:
    device = software_device()
    tampered = dataclasses.replace(
        device.evidence(), measurements=measurements(os_image=b"os with a rootkit")
    )
    with pytest.raises(EvidenceSignatureError):
        _verify(tampered, device.device_id)
    # Even the holder of the Alias key cannot claim other software than the DeviceID
    # certified for it.
    with pytest.raises(MeasurementsMismatchError):
        _verify(_resign(tampered, device.alias), device.device_id)


def test_replayed_nonce_mismatch_is_refused() -> None:
    device = software_device()
    old_answer = device.evidence(nonce=b"\xaa" * 32)
    with pytest.raises(NonceMismatchError):
        _verify(old_answer, device.device_id, nonce=b"\xbb" * 32)


def test_malformed_nonce_is_refused() -> None:
    device = software_device()
    short = dataclasses.replace(device.evidence(), nonce=b"\x01")
    with pytest.raises(NonceMismatchError):
        _verify(short, device.device_id, nonce=b"\x01")


def test_expired_alias_certificate_is_refused() -> None:
    device = software_device(
        not_before=NOW - timedelta(days=2), lifetime=timedelta(days=1)
    )
    with pytest.raises(CertificateNotValidNowError):
        _verify(device.evidence(), device.device_id)


def test_alias_certificate_from_the_future_is_refused() -> None:
    device = software_device(not_before=NOW + timedelta(hours=1))
    with pytest.raises(CertificateNotValidNowError):
        _verify(device.evidence(), device.device_id)


def test_garbage_alias_certificate_is_refused() -> None:
    device = software_device()
    for garbage in (b"", b"\x30\x03\x02\x01\x01", device.alias_certificate[:-1]):
        evidence = dataclasses.replace(device.evidence(), alias_certificate=garbage)
        with pytest.raises(MalformedCertificateError):
            _verify(evidence, device.device_id)


def test_alias_certificate_with_a_negative_serial_is_refused() -> None:
    """RFC 5280 wants a positive serial; cryptography only warns, we refuse."""
    device = software_device()
    der = bytearray(device.alias_certificate)
    certificate = x509.load_der_x509_certificate(device.alias_certificate)
    encoded = certificate.serial_number.to_bytes(
        (certificate.serial_number.bit_length() + 8) // 8, "big"
    )
    start = der.index(bytes([0x02, len(encoded)]) + encoded) + 2
    der[start] |= 0x80  # the same length, now a negative INTEGER
    evidence = dataclasses.replace(device.evidence(), alias_certificate=bytes(der))
    with pytest.raises(MalformedCertificateError):
        _verify(evidence, device.device_id)


def test_alias_certificate_without_measurements_is_refused() -> None:
    device = software_device(uds=b"\x05" * 32)
    identity = device_id_key(b"\x05" * 32)
    name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "00")])
    bare = (
        x509.CertificateBuilder()
        .issuer_name(name)
        .subject_name(name)
        .public_key(device.alias.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(minutes=5))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(identity, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(MalformedCertificateError):
        verify_alias_chain(bare, device.device_id, NOW)


def test_malformed_registered_device_id_is_refused() -> None:
    device = software_device()
    with pytest.raises(InvalidDeviceIdError):
        _verify(device.evidence(), "00" * 64)


def test_signed_bytes_separate_nonce_from_measurements() -> None:
    software = measurements()
    assert signed_evidence_bytes(b"\x00" * 16, software) != signed_evidence_bytes(
        b"\x00" * 17, software
    )
    assert hashlib.sha256(signed_evidence_bytes(NONCE, software)).digest() == (
        hashlib.sha256(signed_evidence_bytes(NONCE, measurements())).digest()
    )


@given(st.binary(max_size=600), st.integers(0, 10_000), st.integers(0, 255))
def test_corrupted_alias_certificates_raise_only_attestation_errors(
    prefix: bytes, position: int, value: int
) -> None:
    device = software_device()
    corrupted = bytearray(device.alias_certificate)
    corrupted[position % len(corrupted)] = value
    for candidate in (bytes(corrupted), prefix):
        with contextlib.suppress(AttestationError):
            verify_alias_chain(candidate, device.device_id, NOW)
