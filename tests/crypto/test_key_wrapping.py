"""Tenant CA keys at rest: AES-256-GCM under the KEK, bound to tenant and CA row."""

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.key_wrapping import (
    KEK_BYTES,
    KeyUnwrapError,
    ca_key_associated_data,
    seal,
    unseal,
    unwrap_private_key,
    wrap_private_key,
)

keys = st.binary(min_size=KEK_BYTES, max_size=KEK_BYTES)
ids = st.text(min_size=1, max_size=40)


@given(kek=keys, plaintext=st.binary(max_size=512), data=st.binary(max_size=64))
def test_seal_round_trips(kek: bytes, plaintext: bytes, data: bytes) -> None:
    assert unseal(kek, seal(kek, plaintext, data), data) == plaintext


@given(
    kek=keys,
    plaintext=st.binary(min_size=1, max_size=128),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_tampered_wrapped_key_is_refused(
    kek: bytes, plaintext: bytes, position: int, bit: int
) -> None:
    """Any flipped bit (version, nonce, ciphertext or tag) makes it not open."""
    wrapped = bytearray(seal(kek, plaintext, b"row"))
    wrapped[position % len(wrapped)] ^= 1 << bit
    with pytest.raises(KeyUnwrapError):
        unseal(kek, bytes(wrapped), b"row")


@given(kek=keys, other=keys, plaintext=st.binary(max_size=64))
def test_key_wrapped_under_another_kek_is_refused(
    kek: bytes, other: bytes, plaintext: bytes
) -> None:
    if kek == other:
        return
    with pytest.raises(KeyUnwrapError):
        unseal(other, seal(kek, plaintext, b"row"), b"row")


@given(kek=keys, plaintext=st.binary(max_size=64), cut=st.integers(0, 28))
def test_truncated_wrapped_key_is_refused(
    kek: bytes, plaintext: bytes, cut: int
) -> None:
    wrapped = seal(kek, plaintext, b"row")
    with pytest.raises(KeyUnwrapError):
        unseal(kek, wrapped[:cut], b"row")


@given(tenant=ids, ca=ids, other_tenant=ids, other_ca=ids)
def test_associated_data_is_unambiguous(
    tenant: str, ca: str, other_tenant: str, other_ca: str
) -> None:
    same = (tenant, ca) == (other_tenant, other_ca)
    encoded = ca_key_associated_data(tenant, ca)
    assert (encoded == ca_key_associated_data(other_tenant, other_ca)) is same


def test_kek_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(b"short", b"key", b"row")


def test_private_key_round_trips_for_its_own_row() -> None:
    kek = os.urandom(KEK_BYTES)
    key = ec.generate_private_key(ec.SECP256R1())
    wrapped = wrap_private_key(kek, key, tenant_id="t1", ca_id="c1")
    opened = unwrap_private_key(kek, wrapped, tenant_id="t1", ca_id="c1")
    assert opened.private_numbers() == key.private_numbers()


@pytest.mark.parametrize(
    ("tenant_id", "ca_id"),
    [("t2", "c1"), ("t1", "c2"), ("c1", "t1"), ("t1c", "1")],
)
def test_wrapped_key_swapped_into_another_row_is_refused(
    tenant_id: str, ca_id: str
) -> None:
    """Copying tenant t1's wrapped CA key into another tenant's or CA's row fails."""
    kek = os.urandom(KEK_BYTES)
    key = ec.generate_private_key(ec.SECP256R1())
    wrapped = wrap_private_key(kek, key, tenant_id="t1", ca_id="c1")
    with pytest.raises(KeyUnwrapError):
        unwrap_private_key(kek, wrapped, tenant_id=tenant_id, ca_id=ca_id)
