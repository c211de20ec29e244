"""Simulated devices: software-DICE devices on the agent's real key store."""

import copy
import os
import pickle
import stat
from pathlib import Path

import pytest

from sevenfold.agent.trusted.dice_keystore import UDS_FILE
from sevenfold.agent.trusted.errors import UdsExistsError
from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.dice_chain import verify_alias_chain
from sevenfold.crypto.evidence import verify_evidence
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import ManualClock
from sevenfold.sim.device import SIM_SOFTWARE, Fleet, SimDevice, sim_software
from tests.sim.conftest import MakeFleet


def _device(
    tmp_path: Path, clock: ManualClock, software: Measurements = SIM_SOFTWARE
) -> SimDevice:
    return SimDevice.provision(tmp_path / "device", clock=clock, software=software)


def test_device_id_is_the_dice_device_id_key(
    tmp_path: Path, clock: ManualClock
) -> None:
    device = _device(tmp_path, clock)
    assert normalize_device_id(device.device_id) == device.device_id
    # The Alias certificate is signed by the key the device ID names, and
    # certifies the software the device runs.
    attested = verify_alias_chain(
        device.keystore.alias_certificate, device.device_id, clock.now()
    )
    assert attested.measurements == SIM_SOFTWARE == device.software


def test_evidence_verifies_against_the_device_id(
    tmp_path: Path, clock: ManualClock
) -> None:
    device = _device(tmp_path, clock)
    nonce = bytes(range(32))
    verify_evidence(
        device.evidence(nonce),
        registered_device_id=device.device_id,
        expected_nonce=nonce,
        now=clock.now(),
    )


def test_uds_is_a_private_file_in_the_state_dir(
    tmp_path: Path, clock: ManualClock
) -> None:
    device = _device(tmp_path, clock)
    uds = device.state_dir / UDS_FILE
    assert stat.S_IMODE(os.stat(uds).st_mode) == 0o400
    assert uds.stat().st_size == 32
    with pytest.raises(UdsExistsError):
        SimDevice.provision(device.state_dir, clock=clock)


def test_other_software_keeps_the_device_id_scheme_but_changes_the_alias(
    tmp_path: Path, clock: ManualClock
) -> None:
    other = sim_software("26.12")
    device = _device(tmp_path, clock, software=other)
    attested = verify_alias_chain(
        device.keystore.alias_certificate, device.device_id, clock.now()
    )
    assert attested.measurements == other != SIM_SOFTWARE


def test_private_key_is_not_shown_or_serialized(
    tmp_path: Path, clock: ManualClock
) -> None:
    device = _device(tmp_path, clock)
    assert "private" not in repr(device).lower()
    assert repr(device) == f"SimDevice({device.device_id[:16]}…)"
    with pytest.raises(TypeError, match="private key"):
        pickle.dumps(device)
    with pytest.raises(TypeError, match="private key"):
        copy.deepcopy(device)


def test_fleet_has_distinct_devices_in_their_own_dirs(make_fleet: MakeFleet) -> None:
    fleet = make_fleet(5)
    assert len(fleet) == 5
    assert len(set(fleet.device_ids)) == 5
    assert [device.device_id for device in fleet] == fleet.device_ids
    assert fleet[0].device_id == fleet.device_ids[0]
    assert repr(fleet) == "Fleet(5 devices)"
    assert [device.state_dir.name for device in fleet] == [
        f"device-{index:05d}" for index in range(5)
    ]


def test_fleet_software_per_device(tmp_path: Path, clock: ManualClock) -> None:
    odd = sim_software("26.12")
    fleet = Fleet.create(3, tmp_path, clock=clock, software=[SIM_SOFTWARE, odd, odd])
    assert [device.software for device in fleet] == [SIM_SOFTWARE, odd, odd]
    with pytest.raises(ValueError, match="one software entry per device"):
        Fleet.create(2, tmp_path / "short", clock=clock, software=[odd])


def test_fleet_is_never_empty(tmp_path: Path, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="at least one"):
        Fleet.create(0, tmp_path, clock=clock)
