"""The agent daemon against a real service over HTTP, in virtual time."""

from pathlib import Path

import pytest
from cryptography import x509
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.agent.state import (
    CERTIFICATE_FILE,
    CHAIN_FILE,
    STATE_FILE,
    AttestationResult,
    StateStore,
)
from sevenfold.protocol.clock import ManualClock
from tests.agent.agent_support import config_for, enroll, run_agent
from tests.api.attestation_support import recorded, running
from tests.conftest import TenantAccess
from tests.support.live_server import free_port

DAY_S = 86400.0


def _not_after(state_dir: Path) -> float:
    certificate = x509.load_pem_x509_certificate(
        (state_dir / CERTIFICATE_FILE).read_bytes()
    )
    return certificate.not_valid_after_utc.timestamp()


def test_the_agent_attests_at_start_and_saves_its_certificate_atomically(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    app: FastAPI, tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    started = clock.now()
    agent, _ = run_agent(config_for(state_dir, live_url), clock, max_sleeps=1)

    assert recorded(app, device_id) == [("certified", None)]
    state = StateStore(state_dir).read_state()
    assert state is not None
    assert state.device_id == device_id
    assert state.last_result is AttestationResult.CERTIFIED
    assert state.last_reason is None
    assert state.last_attempt_at == started
    assert state.certificate_not_after is not None
    assert state.certificate_not_after.timestamp() == _not_after(state_dir)
    assert b"BEGIN CERTIFICATE" in (state_dir / CHAIN_FILE).read_bytes()
    for name in (STATE_FILE, CERTIFICATE_FILE, CHAIN_FILE):
        assert (state_dir / name).stat().st_mode & 0o777 == 0o600
    assert not list(state_dir.glob(".*.tmp"))
    assert agent.consecutive_failures == 0


def test_renewal_comes_at_two_thirds_of_the_lifetime_with_jitter(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    app: FastAPI, tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    start = clock.now().timestamp()
    _, time = run_agent(config_for(state_dir, live_url), clock, max_sleeps=3)

    assert recorded(app, device_id) == [("certified", None)] * 3
    lifetime_s = DAY_S  # the service issues 24-hour device certificates
    for delay_s in time.delays_s:
        assert lifetime_s * 2 / 3 * 0.9 <= delay_s <= lifetime_s * 2 / 3 * 1.1
    assert len(set(time.delays_s)) == 3  # jittered, not a fixed period
    renewed_at = start + sum(time.delays_s[:2])
    assert _not_after(state_dir) == pytest.approx(renewed_at + lifetime_s, abs=2)


def test_unapproved_software_is_recorded_and_retried_with_backoff(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir, approved=running(os="os 25.1"))
    config = config_for(state_dir, live_url, backoff_base_s=2.0, backoff_max_s=16.0)
    agent, time = run_agent(config, clock, max_sleeps=6)

    assert agent.consecutive_failures == 6
    state = StateStore(state_dir).read_state()
    assert state is not None
    assert state.last_result is AttestationResult.REFUSED
    assert state.last_reason == "unapproved-software"
    assert state.certificate_not_after is None
    assert not (state_dir / CERTIFICATE_FILE).exists()
    caps_s = [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]
    assert all(0 <= d <= cap for d, cap in zip(time.delays_s, caps_s, strict=True))


def test_an_unreachable_service_is_recorded_and_retried_never_crashing(
    tmp_path: Path, clock: ManualClock, client: TestClient, admin: TenantAccess
) -> None:
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir)
    nowhere = f"http://127.0.0.1:{free_port()}"
    config = config_for(state_dir, nowhere, backoff_base_s=1.0, backoff_max_s=4.0)
    agent, time = run_agent(config, clock, max_sleeps=5)

    assert agent.consecutive_failures == 5
    assert all(0 <= delay_s <= 4.0 for delay_s in time.delays_s)
    state = StateStore(state_dir).read_state()
    assert state is not None
    assert state.last_result is AttestationResult.FAILED
    assert state.last_reason == "service-unreachable"


def test_a_revoked_device_gets_no_more_certificates(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    app: FastAPI, tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    config = config_for(state_dir, live_url)
    run_agent(config, clock, max_sleeps=1)
    certificate = (state_dir / CERTIFICATE_FILE).read_bytes()
    first = StateStore(state_dir).read_state()
    assert first is not None

    revoked = client.post(f"/api/v1/devices/{device_id}/revoke", headers=admin.headers)
    assert revoked.status_code == 200, revoked.text
    agent, _ = run_agent(config, clock, max_sleeps=3)

    assert (
        recorded(app, device_id) == [("certified", None)] + [("refused", "revoked")] * 3
    )
    state = StateStore(state_dir).read_state()
    assert state is not None
    assert (state.last_result, state.last_reason) == (
        AttestationResult.REFUSED,
        "revoked",
    )
    # The old certificate stays until it expires; its expiry is still reported.
    assert state.certificate_not_after == first.certificate_not_after
    assert (state_dir / CERTIFICATE_FILE).read_bytes() == certificate
    assert agent.consecutive_failures == 3


def test_a_corrupt_state_file_does_not_stop_the_daemon(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    (state_dir / STATE_FILE).write_bytes(b"\x00{not json")
    run_agent(config_for(state_dir, live_url), clock, max_sleeps=1)

    state = StateStore(state_dir).read_state()
    assert state is not None
    assert (state.device_id, state.last_result) == (
        device_id, AttestationResult.CERTIFIED,
    )  # fmt: skip
