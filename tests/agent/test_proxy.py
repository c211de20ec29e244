"""The agent attests through a real HTTP proxy (tinyproxy), with and without basic
auth, and goes direct for hosts on its no-proxy list."""

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.agent.config import ProxyConfig
from sevenfold.agent.state import AttestationResult, StateStore
from sevenfold.protocol.clock import ManualClock
from tests.agent.agent_support import config_for, enroll, run_agent
from tests.agent.tinyproxy import tinyproxy
from tests.api.attestation_support import recorded
from tests.conftest import TenantAccess
from tests.support.live_server import free_port

EVIDENCE_REQUEST = "POST http://127.0.0.1:{port}/api/v1/device/attestation/evidence"
PASSWORD = "pr0xy-s3cret"


def _last(state_dir: Path) -> tuple[AttestationResult | None, str | None]:
    state = StateStore(state_dir).read_state()
    assert state is not None
    return state.last_result, state.last_reason


def test_the_agent_attests_through_an_anonymous_proxy(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    app: FastAPI, tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    with tinyproxy(tmp_path) as proxy:
        config = config_for(state_dir, live_url, proxy=ProxyConfig(url=proxy.url))
        run_agent(config, clock, max_sleeps=1)
        log = proxy.log()
    assert _last(state_dir) == (AttestationResult.CERTIFIED, None)
    assert recorded(app, device_id) == [("certified", None)]
    port = live_url.rsplit(":", 1)[1]
    assert EVIDENCE_REQUEST.format(port=port) in log


def test_the_agent_authenticates_to_a_proxy_without_logging_the_password(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir)
    with tinyproxy(tmp_path, basic_auth=("agent", PASSWORD)) as proxy:
        wrong = ProxyConfig(url=proxy.url, username="agent", password="wrong")
        run_agent(config_for(state_dir, live_url, proxy=wrong), clock, max_sleeps=1)
        # tinyproxy answers a bad password with 401 and drops the connection
        # mid-body, so the recorded reason is a transport failure, not a 407.
        assert _last(state_dir)[0] is AttestationResult.FAILED
        assert not (state_dir / "certificate.pem").exists()
        right = ProxyConfig(url=proxy.url, username="agent", password=PASSWORD)
        config = config_for(state_dir, live_url, proxy=right)
        assert PASSWORD not in repr(config)
        run_agent(config, clock, max_sleeps=1)
        log = proxy.log()
    assert _last(state_dir) == (AttestationResult.CERTIFIED, None)
    assert EVIDENCE_REQUEST.format(port=live_url.rsplit(":", 1)[1]) in log
    assert PASSWORD not in caplog.text


def test_no_proxy_hosts_are_reached_directly(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir)
    with tinyproxy(tmp_path) as proxy:
        config = config_for(
            state_dir, live_url,
            proxy=ProxyConfig(url=proxy.url), no_proxy=("127.0.0.1",),
        )  # fmt: skip
        run_agent(config, clock, max_sleeps=1)
        log = proxy.log()
    assert _last(state_dir) == (AttestationResult.CERTIFIED, None)
    assert "/api/v1/device/attestation" not in log


def test_without_no_proxy_a_dead_proxy_means_no_certificate(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The control for the test above: the proxy setting is really used."""
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir)
    dead = ProxyConfig(url=f"http://127.0.0.1:{free_port()}")
    run_agent(config_for(state_dir, live_url, proxy=dead), clock, max_sleeps=1)
    assert _last(state_dir) == (AttestationResult.FAILED, "service-unreachable")
    bypass = config_for(state_dir, live_url, proxy=dead, no_proxy=("127.0.0.1",))
    run_agent(bypass, clock, max_sleeps=1)
    assert _last(state_dir) == (AttestationResult.CERTIFIED, None)
