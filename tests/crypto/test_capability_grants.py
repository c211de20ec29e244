"""Signed capability grants: what a device refuses (PRODUCT.md, capabilities)."""

import json
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.capabilities import sign_grant, verify_capability
from sevenfold.crypto.certificate_authority import make_certificate_authority
from sevenfold.crypto.errors import CapabilityRefusedError
from sevenfold.protocol.capabilities import (
    CapabilityGrant,
    CapabilityKind,
    SignedCapability,
    parse_signed_capability,
)
from sevenfold.protocol.errors import CapabilityFormatError

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DEVICE = "a1" * 64
OTHER_DEVICE = "b2" * 64


def _ca(
    tenant_id: str = "tenant-1",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    made = make_certificate_authority(tenant_id=tenant_id, generation=1, now=NOW)
    return made.private_key, made.certificate


def _grant(device_id: str = DEVICE) -> CapabilityGrant:
    return CapabilityGrant(
        device_id=device_id,
        tenant_id="tenant-1",
        capabilities=frozenset({CapabilityKind.APP_DEVELOPMENT}),
        issued_at=NOW,
    )


def test_a_grant_signed_by_the_tenant_ca_for_this_device_is_accepted() -> None:
    key, certificate = _ca()
    signed = parse_signed_capability(sign_grant(_grant(), key).encode())
    grant = verify_capability(signed, ca_certificates=[certificate], device_id=DEVICE)
    assert grant.holds(CapabilityKind.APP_DEVELOPMENT)
    assert not grant.holds(CapabilityKind.FIELD_SERVICING)


def test_capability_copied_from_another_device_is_refused() -> None:
    key, certificate = _ca()
    signed = sign_grant(_grant(OTHER_DEVICE), key)
    with pytest.raises(CapabilityRefusedError, match="another device"):
        verify_capability(signed, ca_certificates=[certificate], device_id=DEVICE)


def test_capability_retargeted_to_this_device_by_editing_the_file_is_refused() -> None:
    key, certificate = _ca()
    document = json.loads(sign_grant(_grant(OTHER_DEVICE), key).encode())
    document["grant"]["device_id"] = DEVICE
    signed = parse_signed_capability(json.dumps(document).encode())
    with pytest.raises(CapabilityRefusedError, match="not signed"):
        verify_capability(signed, ca_certificates=[certificate], device_id=DEVICE)


def test_capability_signed_by_another_tenants_ca_is_refused() -> None:
    other_key, _ = _ca("tenant-2")
    _, certificate = _ca()
    signed = sign_grant(_grant(), other_key)
    with pytest.raises(CapabilityRefusedError, match="not signed"):
        verify_capability(signed, ca_certificates=[certificate], device_id=DEVICE)


def test_unsigned_capability_is_refused() -> None:
    key, _ = _ca()
    document = json.loads(sign_grant(_grant(), key).encode())
    document["signature"] = ""
    with pytest.raises(CapabilityFormatError, match="unsigned"):
        parse_signed_capability(json.dumps(document).encode())
    del document["signature"]
    with pytest.raises(CapabilityFormatError):
        parse_signed_capability(json.dumps(document).encode())


def test_capability_with_a_forged_signature_is_refused() -> None:
    _, certificate = _ca()
    forged = SignedCapability(
        grant=_grant(), signature=b"\x30\x06\x02\x01\x01\x02\x01\x01"
    )
    with pytest.raises(CapabilityRefusedError):
        verify_capability(forged, ca_certificates=[certificate], device_id=DEVICE)


@given(st.binary(max_size=2048))
def test_garbage_capability_files_raise_only_format_errors(data: bytes) -> None:
    with pytest.raises(CapabilityFormatError):
        parse_signed_capability(data)


@given(
    st.dictionaries(
        st.sampled_from(
            ["format", "device_id", "tenant_id", "capabilities", "issued_at", "x"]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=20),
            st.lists(st.text(max_size=5)),
        ),
    )
)
def test_malformed_grants_raise_only_format_errors(grant: dict[str, object]) -> None:
    data = json.dumps({"grant": grant, "signature": "AAAA"}).encode()
    with pytest.raises(CapabilityFormatError):
        parse_signed_capability(data)
