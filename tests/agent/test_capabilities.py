"""The device side of capability grants: `sevenfold agent capability apply|show`
against grants the real service signed (PRODUCT.md "Device capabilities")."""

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.agent.capabilities import CapabilityStore
from sevenfold.agent.state import AgentState, StateStore
from sevenfold.entry.main import root
from sevenfold.protocol.capabilities import CapabilityKind
from sevenfold.protocol.clock import ManualClock
from tests.api.device_auth_support import certified, tenant_ca
from tests.conftest import TenantAccess


def _device_state(state_dir: Path, device_id: str, chain_pem: bytes) -> Path:
    state_dir.mkdir()
    store = StateStore(state_dir)
    store.write_state(AgentState(device_id=device_id))
    store.write_certificate(b"", chain_pem)
    return state_dir


@pytest.fixture
def devices(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> tuple[str, str, Path]:
    """Two claimed devices; the first's state directory holds its tenant's chain."""
    first = certified(client, admin, clock, uds=b"\x01" * 32)
    second = certified(client, admin, clock, uds=b"\x02" * 32)
    ca = tenant_ca(app, clock, admin.tenant_id).certificate
    chain = ca.public_bytes(serialization.Encoding.PEM)
    state_dir = _device_state(tmp_path / "device", first.device_id, chain)
    return first.device_id, second.device_id, state_dir


def _grant(
    client: TestClient, admin: TenantAccess, device_id: str, action: str, out: Path
) -> Path:
    response = client.post(
        f"/api/v1/devices/{device_id}/{action}", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    out.write_text(json.dumps(response.json()["signed"]))
    return out


def _agent(*args: str) -> Any:
    return CliRunner().invoke(root, ["agent", "capability", *args])


def test_development_grant_from_the_service_puts_the_device_in_development_mode(
    client: TestClient,
    admin: TenantAccess,
    devices: tuple[str, str, Path],
    tmp_path: Path,
) -> None:
    device_id, _, state_dir = devices
    grant = _grant(
        client, admin, device_id, "enable-development", tmp_path / "dev.json"
    )
    applied = _agent("apply", "--state-dir", str(state_dir), str(grant))
    assert applied.exit_code == 0, applied.output
    shown = _agent("show", "--state-dir", str(state_dir), "--output", "json")
    assert json.loads(shown.output)["capabilities"] == ["app-development"]
    assert CapabilityStore(state_dir, device_id).holds(CapabilityKind.APP_DEVELOPMENT)


def test_replayed_development_grant_is_refused_after_enable_cloud_test(
    client: TestClient,
    admin: TenantAccess,
    devices: tuple[str, str, Path],
    tmp_path: Path,
) -> None:
    device_id, _, state_dir = devices
    development = _grant(
        client, admin, device_id, "enable-development", tmp_path / "dev.json"
    )
    cloud_test = _grant(
        client, admin, device_id, "enable-cloud-test", tmp_path / "cloud.json"
    )
    assert (
        _agent("apply", "--state-dir", str(state_dir), str(development)).exit_code == 0
    )
    assert (
        _agent("apply", "--state-dir", str(state_dir), str(cloud_test)).exit_code == 0
    )
    replay = _agent("apply", "--state-dir", str(state_dir), str(development))
    assert replay.exit_code == 1
    assert "not newer than the grant in force" in replay.output
    assert not CapabilityStore(state_dir, device_id).holds(
        CapabilityKind.APP_DEVELOPMENT
    )


def test_grant_made_for_another_device_is_refused(
    client: TestClient,
    admin: TenantAccess,
    devices: tuple[str, str, Path],
    tmp_path: Path,
) -> None:
    _, other_id, state_dir = devices
    grant = _grant(client, admin, other_id, "enable-development", tmp_path / "dev.json")
    result = _agent("apply", "--state-dir", str(state_dir), str(grant))
    assert result.exit_code == 1
    assert "another device" in result.output
    assert not (state_dir / "capability.json").exists()


def test_unsigned_grant_is_refused(
    client: TestClient,
    admin: TenantAccess,
    devices: tuple[str, str, Path],
    tmp_path: Path,
) -> None:
    device_id, _, state_dir = devices
    grant = _grant(
        client, admin, device_id, "enable-development", tmp_path / "dev.json"
    )
    document = json.loads(grant.read_text())
    document["signature"] = ""
    grant.write_text(json.dumps(document))
    result = _agent("apply", "--state-dir", str(state_dir), str(grant))
    assert result.exit_code == 1
    assert "unsigned" in result.output


def test_grant_edited_on_disk_to_add_a_capability_counts_as_none(
    client: TestClient,
    admin: TenantAccess,
    devices: tuple[str, str, Path],
    tmp_path: Path,
) -> None:
    device_id, _, state_dir = devices
    grant = _grant(
        client, admin, device_id, "enable-cloud-test", tmp_path / "none.json"
    )
    assert _agent("apply", "--state-dir", str(state_dir), str(grant)).exit_code == 0
    stored = state_dir / "capability.json"
    document = json.loads(stored.read_text())
    document["grant"]["capabilities"] = ["app-development"]
    stored.write_text(json.dumps(document))
    assert CapabilityStore(state_dir, device_id).current() is None
