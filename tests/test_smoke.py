"""The service starts on both backends and answers the basic flows."""

from fastapi.testclient import TestClient

from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.manufacturer import signed_records


def test_ready_on_a_migrated_database(client: TestClient) -> None:
    """/readyz says ready with the migration revision."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_register_claim_and_list(client: TestClient, admin: TenantAccess) -> None:
    """A registered device can be claimed once and then shows in the listing."""
    (device_id,) = new_device_ids(1)
    response = client.post(
        "/api/v1/manufacturing/device-registrations",
        json={"records": signed_records([device_id])},
        headers=admin.headers,
    )
    assert response.json() == {"registered": 1, "already_registered": 0}
    claim = client.post(f"/api/v1/devices/{device_id}/claim", headers=admin.headers)
    assert claim.status_code == 200
    listing = client.get("/api/v1/devices", headers=admin.headers).json()
    assert [item["id"] for item in listing["items"]] == [device_id]
