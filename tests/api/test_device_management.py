"""Devices after the claim: listing, pagination, showing, moving and revocation."""

import base64
from datetime import datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.fleet import (
    Headers,
    Json,
    assert_problem,
    claim,
    claimed_devices,
    create_product,
    device,
    groups_by_name,
    register,
)


def _ids(client: TestClient, headers: Headers, **params: str | int) -> list[str]:
    response = client.get("/api/v1/devices", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _all_pages(client: TestClient, headers: Headers, limit: int) -> list[Json]:
    pages: list[Json] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        page = client.get("/api/v1/devices", params=params, headers=headers).json()
        pages.append(page)
        if page["next_cursor"] is None:
            return pages
        params["cursor"] = page["next_cursor"]


def _revoke(client: TestClient, headers: Headers, device_id: str) -> Json:
    response = client.post(f"/api/v1/devices/{device_id}/revoke", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def _move(
    client: TestClient, headers: Headers, device_id: str, group_id: str
) -> httpx.Response:
    response: httpx.Response = client.patch(
        f"/api/v1/devices/{device_id}",
        json={"device_group_id": group_id},
        headers=headers,
    )
    return response


# --- listing ---------------------------------------------------------------------


def test_list_filters_by_product_group_and_status(
    client: TestClient, admin: TenantAccess
) -> None:
    """Each filter narrows the listing to exactly the matching devices."""
    gateway = create_product(client, admin.headers, "Gateway")
    sensor = create_product(client, admin.headers, "Sensor")
    gw_groups = groups_by_name(client, admin.headers, gateway["id"])
    development = gw_groups["Development"]["id"]
    production = gw_groups["Production"]["id"]
    sensor_dev = groups_by_name(client, admin.headers, sensor["id"])["Development"]
    in_dev = claimed_devices(client, admin.headers, 2, group_id=development)
    in_prod = claimed_devices(client, admin.headers, 2, group_id=production)
    in_sensor = claimed_devices(client, admin.headers, 1, group_id=sensor_dev["id"])
    loose = claimed_devices(client, admin.headers, 1)
    _revoke(client, admin.headers, in_prod[0])

    headers = admin.headers
    assert _ids(client, headers, product_id=gateway["id"]) == sorted(in_dev + in_prod)
    assert _ids(client, headers, product_id=sensor["id"]) == in_sensor
    assert _ids(client, headers, device_group_id=development) == in_dev
    assert _ids(client, headers, status="revoked") == [in_prod[0]]
    claimed = sorted(in_dev + in_prod[1:] + in_sensor + loose)
    assert _ids(client, headers, status="claimed") == claimed
    assert _ids(client, headers, device_group_id=production, status="claimed") == [
        in_prod[1]
    ]
    assert _ids(client, headers) == sorted(in_dev + in_prod + in_sensor + loose)
    bad = client.get("/api/v1/devices", params={"status": "lost"}, headers=headers)
    assert_problem(bad, 422, "validation-error")


def test_cursor_pagination_returns_each_device_once_in_id_order(
    client: TestClient, admin: TenantAccess
) -> None:
    """Pages of 3 over 7 devices: every device once, sorted, then no cursor."""
    device_ids = claimed_devices(client, admin.headers, 7)
    pages = _all_pages(client, admin.headers, limit=3)
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    seen = [item["id"] for page in pages for item in page["items"]]
    assert seen == device_ids


def test_pagination_stays_correct_while_devices_are_claimed(
    client: TestClient, admin: TenantAccess
) -> None:
    """New devices sorting before and after the cursor skip or repeat nothing."""
    existing = claimed_devices(client, admin.headers, 6)
    first = client.get(
        "/api/v1/devices", params={"limit": 3}, headers=admin.headers
    ).json()
    cursor_key = first["items"][-1]["id"]
    assert cursor_key == existing[2]
    before: str | None = None
    after: str | None = None
    while before is None or after is None:
        (candidate,) = new_device_ids(1)
        if candidate < cursor_key and before is None:
            before = candidate
        elif candidate > cursor_key and after is None:
            after = candidate
    register(client, admin.headers, [before, after])
    claim(client, admin.headers, before)
    claim(client, admin.headers, after)

    seen = [item["id"] for item in first["items"]]
    params: dict[str, str | int] = {"limit": 3, "cursor": first["next_cursor"]}
    while True:
        page = client.get("/api/v1/devices", params=params, headers=admin.headers)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert len(seen) == len(set(seen)), "a device was listed twice"
    assert set(existing) <= set(seen), "an existing device was skipped"
    assert seen == sorted(seen)
    assert after in seen
    assert before not in seen


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="outside-alphabet"),
        pytest.param("a", id="not-base64"),
        pytest.param(
            base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="), id="not-utf8"
        ),
        pytest.param(
            base64.urlsafe_b64encode(b"\x00id").decode().rstrip("="), id="control"
        ),
        pytest.param("A" * 301, id="too-long"),
    ],
)
def test_invalid_cursor_is_a_validation_problem(
    client: TestClient, admin: TenantAccess, cursor: str
) -> None:
    """A cursor the service did not make is a 422, never a 500."""
    response = client.get(
        "/api/v1/devices", params={"cursor": cursor}, headers=admin.headers
    )
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "many"])
def test_limit_out_of_bounds_is_refused(
    client: TestClient, admin: TenantAccess, limit: str
) -> None:
    """Page size is 1..1000."""
    response = client.get(
        "/api/v1/devices", params={"limit": limit}, headers=admin.headers
    )
    assert_problem(response, 422, "validation-error")


def test_limit_bounds_are_accepted(client: TestClient, admin: TenantAccess) -> None:
    """The edges of the range work."""
    (device_id,) = claimed_devices(client, admin.headers, 1)
    assert _ids(client, admin.headers, limit=1) == [device_id]
    assert _ids(client, admin.headers, limit=1000) == [device_id]


def test_device_snooping_by_showing_another_tenants_device(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Another tenant's device is not found; so is an unclaimed one."""
    (device_id,) = claimed_devices(client, admin.headers, 1)
    (unclaimed,) = new_device_ids(1)
    register(client, admin.headers, [unclaimed])
    for target, headers in (
        (device_id, other_tenant.headers),
        (unclaimed, admin.headers),
    ):
        response = client.get(f"/api/v1/devices/{target}", headers=headers)
        assert_problem(response, 404, "not-found")
    malformed = client.get("/api/v1/devices/xyz", headers=admin.headers)
    assert_problem(malformed, 422, "validation-error")


# --- moving ----------------------------------------------------------------------


def test_move_between_groups_of_the_same_product(
    client: TestClient, admin: TenantAccess
) -> None:
    """A device moves to another group of its product."""
    product = create_product(client, admin.headers, "Gateway")
    groups = groups_by_name(client, admin.headers, product["id"])
    (device_id,) = claimed_devices(
        client, admin.headers, 1, group_id=groups["Field Test"]["id"]
    )
    response = _move(client, admin.headers, device_id, groups["Production"]["id"])
    assert response.status_code == 200, response.text
    moved = device(client, admin.headers, device_id)
    assert moved["device_group_id"] == groups["Production"]["id"]
    assert moved["product_id"] == product["id"]


def test_unassigned_device_moves_into_any_product(
    client: TestClient, admin: TenantAccess
) -> None:
    """A device claimed without a group takes the product of its first group."""
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Development"]
    (device_id,) = claimed_devices(client, admin.headers, 1)
    assert _move(client, admin.headers, device_id, group["id"]).status_code == 200
    moved = device(client, admin.headers, device_id)
    assert moved["product_id"] == product["id"]
    assert moved["device_group_id"] == group["id"]


def test_move_to_a_group_of_another_product_is_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """A device stays within its product: 409 wrong-product, nothing changed."""
    gateway = create_product(client, admin.headers, "Gateway")
    sensor = create_product(client, admin.headers, "Sensor")
    home = groups_by_name(client, admin.headers, gateway["id"])["Production"]
    elsewhere = groups_by_name(client, admin.headers, sensor["id"])["Production"]
    (device_id,) = claimed_devices(client, admin.headers, 1, group_id=home["id"])
    before = device(client, admin.headers, device_id)
    response = _move(client, admin.headers, device_id, elsewhere["id"])
    assert_problem(response, 409, "wrong-product")
    assert device(client, admin.headers, device_id) == before


def test_device_smuggling_into_another_tenants_group(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """A foreign group ID is not found; the device does not move."""
    product = create_product(client, other_tenant.headers, "Gateway")
    foreign = groups_by_name(client, other_tenant.headers, product["id"])["Production"]
    (device_id,) = claimed_devices(client, admin.headers, 1)
    before = device(client, admin.headers, device_id)
    response = _move(client, admin.headers, device_id, foreign["id"])
    assert_problem(response, 404, "not-found")
    assert device(client, admin.headers, device_id) == before


# --- revocation ------------------------------------------------------------------


def test_revoke_sets_status_and_time_and_is_idempotent(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """Revoking twice is harmless: the first revocation time is kept."""
    (device_id,) = claimed_devices(client, admin.headers, 1)
    revoked = _revoke(client, admin.headers, device_id)
    assert revoked["status"] == "revoked"
    assert datetime.fromisoformat(revoked["revoked_at"]) == clock.now()
    clock.advance(3600)
    assert _revoke(client, admin.headers, device_id) == revoked
    assert device(client, admin.headers, device_id) == revoked


def test_revoked_device_cannot_be_moved(
    client: TestClient, admin: TenantAccess
) -> None:
    """A revoked device is out of service: moving it is a 409 device-revoked."""
    product = create_product(client, admin.headers, "Gateway")
    groups = groups_by_name(client, admin.headers, product["id"])
    (device_id,) = claimed_devices(
        client, admin.headers, 1, group_id=groups["Production"]["id"]
    )
    revoked = _revoke(client, admin.headers, device_id)
    response = _move(client, admin.headers, device_id, groups["Field Test"]["id"])
    assert_problem(response, 409, "device-revoked")
    assert device(client, admin.headers, device_id) == revoked


def test_device_sabotage_by_revoking_another_tenants_device(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Another tenant cannot revoke a device: 404, and it stays in service."""
    (device_id,) = claimed_devices(client, admin.headers, 1)
    response = client.post(
        f"/api/v1/devices/{device_id}/revoke", headers=other_tenant.headers
    )
    assert_problem(response, 404, "not-found")
    assert device(client, admin.headers, device_id)["status"] == "claimed"
