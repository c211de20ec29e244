"""Simulated device identities: real P-256 keys whose private halves stay in memory."""

import copy
import pickle

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import normalize_device_id, public_key_of
from sevenfold.sim.device import Fleet, SimDevice


def test_device_id_is_its_identity_public_key() -> None:
    device = SimDevice()
    assert normalize_device_id(device.device_id) == device.device_id
    assert public_key_of(device.device_id) == device.public_key


def test_signatures_verify_against_the_device_id() -> None:
    device = SimDevice()
    signature = device.sign(b"nonce")
    public_key_of(device.device_id).verify(
        signature, b"nonce", ec.ECDSA(hashes.SHA256())
    )


def test_private_key_is_not_shown_or_serialized() -> None:
    device = SimDevice()
    assert "private" not in repr(device).lower()
    assert repr(device) == f"SimDevice({device.device_id[:16]}…)"
    with pytest.raises(TypeError, match="private key"):
        pickle.dumps(device)
    with pytest.raises(TypeError, match="private key"):
        copy.deepcopy(device)


def test_fleet_has_distinct_devices() -> None:
    fleet = Fleet.create(5)
    assert len(fleet) == 5
    assert len(set(fleet.device_ids)) == 5
    assert [device.device_id for device in fleet] == fleet.device_ids
    assert fleet[0].device_id == fleet.device_ids[0]
    assert repr(fleet) == "Fleet(5 devices)"


def test_fleet_is_never_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Fleet.create(0)
