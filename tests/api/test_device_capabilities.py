"""Device capabilities over the API: enable-development, enable-cloud-test, and the
device's own grant (PRODUCT.md "Device capabilities")."""

import json
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.crypto.capabilities import verify_capability
from sevenfold.protocol.capabilities import CapabilityKind, parse_signed_capability
from sevenfold.protocol.clock import ManualClock
from tests.api.device_auth_support import Certified, certified, tenant_ca
from tests.api.tenancy_support import access_with_role, assert_problem
from tests.api.update_support import DeviceUpdaters, settings
from tests.conftest import TenantAccess

__all__ = ["settings"]
OWN = "/api/v1/device/capabilities"


def _path(device_id: str, action: str) -> str:
    return f"/api/v1/devices/{device_id}/{action}"


@pytest.fixture
def device(client: TestClient, admin: TenantAccess, clock: ManualClock) -> Certified:
    return certified(client, admin, clock)


def test_enable_development_signs_a_grant_this_device_accepts(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    device: Certified,
) -> None:
    response = client.post(
        _path(device.device_id, "enable-development"), headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["capabilities"] == ["app-development"]
    signed = parse_signed_capability(json.dumps(body["signed"]).encode())
    ca = tenant_ca(app, clock, admin.tenant_id)
    grant = verify_capability(
        signed, ca_certificates=[ca.certificate], device_id=device.device_id
    )
    assert grant.holds(CapabilityKind.APP_DEVELOPMENT)
    assert grant.tenant_id == admin.tenant_id
    shown = client.get(_path(device.device_id, "capabilities"), headers=admin.headers)
    assert shown.json()["signed"] == body["signed"]
    audit = client.get("/api/v1/audit-events", headers=admin.headers).json()
    assert "device.enable-development" in {entry["action"] for entry in audit["items"]}


def test_enable_cloud_test_signs_a_newer_empty_grant(
    client: TestClient, admin: TenantAccess, clock: ManualClock, device: Certified
) -> None:
    first = client.post(
        _path(device.device_id, "enable-development"), headers=admin.headers
    ).json()
    # Same instant on the service's clock: the second grant is still newer.
    second = client.post(
        _path(device.device_id, "enable-cloud-test"), headers=admin.headers
    )
    assert second.status_code == 200, second.text
    assert second.json()["capabilities"] == []
    issued = [datetime.fromisoformat(b["issued_at"]) for b in (first, second.json())]
    assert issued[1] > issued[0]


def test_device_reads_its_own_grant_over_device_authentication(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    device: Certified,
    tmp_path: Path,
) -> None:
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    before = updaters.client.get(OWN, headers=updaters.fetcher.headers)
    assert_problem(before, 404, "not-found")
    client.post(_path(device.device_id, "enable-development"), headers=admin.headers)
    after = updaters.client.get(OWN, headers=updaters.fetcher.headers)
    assert after.status_code == 200, after.text
    assert after.json()["device_id"] == device.device_id
    anonymous = updaters.client.get(OWN)
    assert anonymous.status_code == 401


def test_reader_cannot_put_a_device_into_development_mode(
    client: TestClient, admin: TenantAccess, device: Certified
) -> None:
    reader = access_with_role(client, admin, "reader")
    response = client.post(
        _path(device.device_id, "enable-development"), headers=reader.headers
    )
    assert_problem(response, 403, "forbidden")


def test_other_tenant_cannot_grant_capabilities_to_a_device_it_does_not_own(
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    device: Certified,
) -> None:
    response = client.post(
        _path(device.device_id, "enable-development"), headers=other_tenant.headers
    )
    assert_problem(response, 404, "not-found")
    shown = client.get(
        _path(device.device_id, "capabilities"), headers=other_tenant.headers
    )
    assert_problem(shown, 404, "not-found")
