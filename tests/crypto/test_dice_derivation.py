"""DICE key derivation: deterministic, layered, and bound to the measured software."""

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import device_id_of
from sevenfold.crypto.dice_derivation import (
    alias_key,
    derive_cdi,
    device_id_key,
    key_from_cdi,
)

UDS = b"\x42" * 32
OS_1 = hashlib.sha256(b"os 1.0").digest()
OS_2 = hashlib.sha256(b"os 2.0").digest()
AGENT = hashlib.sha256(b"agent 1.0").digest()


def _scalar(key: ec.EllipticCurvePrivateKey) -> int:
    return key.private_numbers().private_value


def test_same_uds_and_measurement_give_the_same_keys() -> None:
    assert _scalar(device_id_key(UDS)) == _scalar(device_id_key(UDS))
    assert _scalar(alias_key(UDS, OS_1, AGENT)) == _scalar(alias_key(UDS, OS_1, AGENT))
    assert derive_cdi(UDS, OS_1) == derive_cdi(UDS, OS_1)


def test_device_id_is_stable_across_software_updates() -> None:
    before = device_id_of(device_id_key(UDS).public_key())
    # The DeviceID key takes no software measurement: an update cannot move it.
    assert _scalar(alias_key(UDS, OS_1, AGENT)) != _scalar(alias_key(UDS, OS_2, AGENT))
    assert device_id_of(device_id_key(UDS).public_key()) == before


def test_alias_key_changes_when_the_os_changes() -> None:
    assert _scalar(alias_key(UDS, OS_1, AGENT)) != _scalar(alias_key(UDS, OS_2, AGENT))


def test_alias_key_changes_when_the_agent_changes() -> None:
    other_agent = hashlib.sha256(b"agent 2.0").digest()
    assert _scalar(alias_key(UDS, OS_1, AGENT)) != _scalar(
        alias_key(UDS, OS_1, other_agent)
    )


def test_different_devices_get_different_keys() -> None:
    assert _scalar(device_id_key(UDS)) != _scalar(device_id_key(b"\x43" * 32))


def test_alias_and_device_id_keys_differ() -> None:
    assert _scalar(alias_key(UDS, OS_1, AGENT)) != _scalar(device_id_key(UDS))


def test_cdi_depends_on_the_measured_code() -> None:
    assert derive_cdi(UDS, OS_1) != derive_cdi(UDS, OS_2)
    assert len(derive_cdi(UDS, OS_1)) == 32


def test_keys_are_p256_with_an_in_range_scalar() -> None:
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    for seed in range(20):
        key = key_from_cdi(bytes([seed]) * 32)
        assert isinstance(key.curve, ec.SECP256R1)
        assert 1 <= _scalar(key) < order


def test_wrong_sized_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        derive_cdi(b"short", OS_1)
    with pytest.raises(ValueError, match="32 bytes"):
        derive_cdi(UDS, b"not a digest")
