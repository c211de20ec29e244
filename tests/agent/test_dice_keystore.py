"""The software DICE key store: the UDS file, key binding, what it never hands out."""

import dataclasses
import inspect
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.trusted.errors import (
    MeasurementsChangedError,
    ReservedMessageError,
    UdsCorruptError,
    UdsExistsError,
    UdsInsecureError,
    UdsMissingError,
)
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.crypto.dice_derivation import alias_key, device_id_key
from sevenfold.crypto.errors import CertificateNotValidNowError
from sevenfold.crypto.evidence import verify_evidence
from sevenfold.protocol.attestation import EVIDENCE_DOMAIN, Evidence, Measurements
from sevenfold.protocol.clock import ManualClock
from tests.support.dice import NONCE, measurements

SOFTWARE = measurements()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "trusted"
    DiceKeyStore.create(directory)
    return directory


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _open(
    state_dir: Path, clock: ManualClock, software: Measurements = SOFTWARE
) -> DiceKeyStore:
    return DiceKeyStore.open(state_dir, software, clock=clock)


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_uds_is_created_private_to_its_owner(state_dir: Path) -> None:
    status = (state_dir / "uds").stat()
    assert stat.S_IMODE(status.st_mode) == 0o400
    assert status.st_uid == os.geteuid()
    assert status.st_size == 32
    assert sorted(p.name for p in state_dir.iterdir()) == ["uds"]


def test_uds_is_never_replaced(state_dir: Path) -> None:
    before = (state_dir / "uds").read_bytes()
    with pytest.raises(UdsExistsError):
        DiceKeyStore.create(state_dir)
    assert (state_dir / "uds").read_bytes() == before


@pytest.mark.parametrize("mode", [0o440, 0o404, 0o644, 0o620, 0o402])
def test_uds_readable_by_others_is_refused(
    state_dir: Path, clock: ManualClock, mode: int
) -> None:
    (state_dir / "uds").chmod(mode)
    with pytest.raises(UdsInsecureError, match="owner only"):
        _open(state_dir, clock)


def test_uds_with_mode_0600_is_accepted(state_dir: Path, clock: ManualClock) -> None:
    (state_dir / "uds").chmod(0o600)
    assert _open(state_dir, clock).device_id


def test_uds_behind_a_symbolic_link_is_refused(
    tmp_path: Path, clock: ManualClock
) -> None:
    DiceKeyStore.create(tmp_path / "elsewhere")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "uds").symlink_to(tmp_path / "elsewhere" / "uds")
    with pytest.raises(UdsInsecureError):
        _open(tmp_path / "state", clock)


def test_missing_uds_is_reported(tmp_path: Path, clock: ManualClock) -> None:
    with pytest.raises(UdsMissingError):
        _open(tmp_path, clock)


def test_truncated_uds_is_refused(state_dir: Path, clock: ManualClock) -> None:
    uds = state_dir / "uds"
    uds.chmod(0o600)
    uds.write_bytes(b"\x00" * 31)
    with pytest.raises(UdsCorruptError):
        _open(state_dir, clock)


def test_device_id_is_stable_across_software_updates(
    state_dir: Path, clock: ManualClock
) -> None:
    before = _open(state_dir, clock)
    after = _open(
        state_dir, clock, measurements(os_image=b"os 2.0", agent=b"agent 2.0")
    )
    assert after.device_id == before.device_id
    assert len(after.device_id) == 128


def test_alias_key_changes_when_the_os_changes(
    state_dir: Path, clock: ManualClock
) -> None:
    before = _open(state_dir, clock)
    after = _open(state_dir, clock, measurements(os_image=b"os 2.0"))
    assert _public_bytes(after.public_key()) != _public_bytes(before.public_key())


def test_same_uds_and_measurements_give_the_same_keys(
    state_dir: Path, clock: ManualClock
) -> None:
    first = _open(state_dir, clock)
    second = _open(state_dir, clock)
    assert first.device_id == second.device_id
    assert _public_bytes(first.public_key()) == _public_bytes(second.public_key())


def test_devices_with_different_uds_have_different_ids(
    tmp_path: Path, clock: ManualClock
) -> None:
    DiceKeyStore.create(tmp_path / "a")
    DiceKeyStore.create(tmp_path / "b")
    assert (
        _open(tmp_path / "a", clock).device_id != _open(tmp_path / "b", clock).device_id
    )


def test_evidence_verifies_against_the_device_id(
    state_dir: Path, clock: ManualClock
) -> None:
    store: KeyStore[Evidence] = _open(state_dir, clock)
    evidence = store.evidence(NONCE, SOFTWARE)
    attested = verify_evidence(
        evidence,
        registered_device_id=store.device_id,
        expected_nonce=NONCE,
        now=clock.now(),
    )
    assert attested.measurements == SOFTWARE
    assert _public_bytes(attested.alias_public_key) == _public_bytes(store.public_key())


def test_expired_alias_certificate_is_refused(
    state_dir: Path, clock: ManualClock
) -> None:
    store = DiceKeyStore.open(
        state_dir, SOFTWARE, clock=clock, alias_lifetime=timedelta(days=1)
    )
    evidence = store.evidence(NONCE, SOFTWARE)
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    with pytest.raises(CertificateNotValidNowError):
        verify_evidence(
            evidence,
            registered_device_id=store.device_id,
            expected_nonce=NONCE,
            now=clock.now(),
        )


def test_evidence_for_other_software_is_refused(
    state_dir: Path, clock: ManualClock
) -> None:
    store = _open(state_dir, clock)
    with pytest.raises(MeasurementsChangedError):
        store.evidence(NONCE, measurements(os_image=b"os with a rootkit"))


def test_sign_verifies_with_the_public_key(state_dir: Path, clock: ManualClock) -> None:
    store = _open(state_dir, clock)
    signature = store.sign(b"a certificate signing request")
    store.public_key().verify(
        signature, b"a certificate signing request", ec.ECDSA(hashes.SHA256())
    )


def test_sign_cannot_forge_evidence(state_dir: Path, clock: ManualClock) -> None:
    store = _open(state_dir, clock)
    with pytest.raises(ReservedMessageError):
        store.sign(EVIDENCE_DOMAIN + b"anything")


def _public_values(store: DiceKeyStore) -> list[object]:
    """Every value a public member yields: attributes, and the results of methods."""
    calls = {"sign": (b"data",), "evidence": (NONCE, SOFTWARE)}
    values: list[object] = []
    for name in dir(store):
        member = getattr(store, name)
        if name.startswith("_"):
            continue
        if not inspect.ismethod(member):
            values.append(member)
        elif not inspect.signature(member).parameters or name in calls:
            values.append(member(*calls.get(name, ())))
    for value in list(values):
        if dataclasses.is_dataclass(value):
            values.extend(getattr(value, f.name) for f in dataclasses.fields(value))
    return values


def test_keystore_exposes_no_private_key(state_dir: Path, clock: ManualClock) -> None:
    store = _open(state_dir, clock)
    assert {n for n in dir(store) if not n.startswith("_")} == {
        "alias_certificate",
        "client_ssl_context",
        "create",
        "device_id",
        "evidence",
        "open",
        "public_key",
        "sign",
    }
    assert not hasattr(store, "__dict__")
    uds = (state_dir / "uds").read_bytes()
    secrets = [uds] + [
        key.private_numbers().private_value.to_bytes(32, "big")
        for key in (
            device_id_key(uds),
            alias_key(uds, SOFTWARE.os_image_sha256, SOFTWARE.agent_sha256),
        )
    ]
    for value in _public_values(store):
        assert not isinstance(value, ec.EllipticCurvePrivateKey)
        assert not hasattr(value, "private_numbers")
        for secret in secrets:
            assert secret not in repr(value).encode()
            assert secret.hex() not in repr(value)
            assert not isinstance(value, bytes) or secret not in value
