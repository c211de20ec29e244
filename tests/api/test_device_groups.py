"""Device groups: creation inside a product, names, feeds, policies and deletion."""

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TenantAccess
from tests.support.fleet import (
    Headers,
    Json,
    assert_problem,
    claimed_devices,
    create_product,
    device,
    groups_by_name,
    token,
)

GROUPS = "/api/v1/device-groups"


def _create(
    client: TestClient, headers: Headers, product_id: str, body: Json
) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/products/{product_id}/device-groups", json=body, headers=headers
    )
    return response


def _new_group(
    client: TestClient, headers: Headers, product_id: str, name: str, **fields: object
) -> Json:
    response = _create(client, headers, product_id, {"name": name, **fields})
    assert response.status_code == 201, response.text
    group: Json = response.json()
    return group


def _show(client: TestClient, headers: Headers, group_id: str) -> Json:
    response = client.get(f"{GROUPS}/{group_id}", headers=headers)
    assert response.status_code == 200, response.text
    group: Json = response.json()
    return group


@pytest.fixture
def product(client: TestClient, admin: TenantAccess) -> Json:
    """A product of the admin's tenant, with its default groups."""
    return create_product(client, admin.headers, "Gateway")


def test_create_group_in_a_product(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """A new group belongs to its product; unspecified settings take defaults."""
    group = _new_group(client, admin.headers, product["id"], "Canary")
    assert group["product_id"] == product["id"]
    assert (group["os_feed"], group["update_policy"], group["app_updates"]) == (
        "retail",
        "update-all",
        True,
    )
    assert _show(client, admin.headers, group["id"]) == group
    assert set(groups_by_name(client, admin.headers, product["id"])) == {
        "Development",
        "Field Test",
        "Production",
        "Field Test OS Evaluation",
        "Production OS Evaluation",
        "Canary",
    }


def test_create_group_with_explicit_settings(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """Feed, policy, app updates and description are taken as given."""
    group = _new_group(
        client,
        admin.headers,
        product["id"],
        "Lab",
        description="bench units",
        os_feed="retail-eval",
        update_policy="no-updates",
        app_updates=False,
    )
    assert (
        group["description"],
        group["os_feed"],
        group["update_policy"],
        group["app_updates"],
    ) == ("bench units", "retail-eval", "no-updates", False)


@pytest.mark.parametrize("name", ["Canary", "canary", "CANARY", "production"])
def test_group_names_are_unique_case_insensitively_in_a_product(
    client: TestClient, admin: TenantAccess, product: Json, name: str
) -> None:
    """A second 'Canary' (or a default group's name) in any case is a 409."""
    _new_group(client, admin.headers, product["id"], "Canary")
    before = groups_by_name(client, admin.headers, product["id"])
    response = _create(client, admin.headers, product["id"], {"name": name})
    assert_problem(response, 409, "name-conflict")
    assert groups_by_name(client, admin.headers, product["id"]) == before


def test_same_group_name_is_allowed_in_another_product(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """Group names are scoped to their product."""
    sensor = create_product(client, admin.headers, "Sensor")
    first = _new_group(client, admin.headers, product["id"], "Canary")
    second = _new_group(client, admin.headers, sensor["id"], "canary")
    assert first["id"] != second["id"]
    assert second["product_id"] == sensor["id"]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"os_feed": "beta"}, id="os-feed"),
        pytest.param({"os_feed": "RETAIL"}, id="os-feed-case"),
        pytest.param({"update_policy": "sometimes"}, id="update-policy"),
        pytest.param({"app_updates": "maybe"}, id="app-updates"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "x" * 51}, id="long-name"),
        pytest.param({"product_id": "x"}, id="extra-field"),
    ],
)
def test_invalid_group_settings_are_refused(
    client: TestClient, admin: TenantAccess, product: Json, fields: Json
) -> None:
    """422 on create and on update; the group is not created or changed."""
    created = _create(client, admin.headers, product["id"], {"name": "Lab", **fields})
    assert_problem(created, 422, "validation-error")
    assert "Lab" not in groups_by_name(client, admin.headers, product["id"])
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    changed = client.patch(
        f"{GROUPS}/{group['id']}", json=fields, headers=admin.headers
    )
    assert_problem(changed, 422, "validation-error")
    assert _show(client, admin.headers, group["id"]) == group


def test_update_feed_policy_and_description(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """PATCH changes the given settings and leaves the rest alone."""
    group = groups_by_name(client, admin.headers, product["id"])["Field Test"]
    response = client.patch(
        f"{GROUPS}/{group['id']}",
        json={
            "os_feed": "retail-eval",
            "update_policy": "os-only",
            "description": "early adopters",
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    shown = _show(client, admin.headers, group["id"])
    assert shown == response.json()
    assert shown == {
        **group,
        "os_feed": "retail-eval",
        "update_policy": "os-only",
        "description": "early adopters",
    }


def test_rename_onto_a_sibling_group_is_a_conflict(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """A rename cannot duplicate a name in the product; the group keeps its name."""
    group = groups_by_name(client, admin.headers, product["id"])["Field Test"]
    response = client.patch(
        f"{GROUPS}/{group['id']}", json={"name": "PRODUCTION"}, headers=admin.headers
    )
    assert_problem(response, 409, "name-conflict")
    assert _show(client, admin.headers, group["id"]) == group


def test_list_is_filtered_by_product(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """Only the named product's groups; an unknown product is a 404."""
    sensor = create_product(client, admin.headers, "Sensor")
    extra = _new_group(client, admin.headers, sensor["id"], "Canary")
    listed = client.get(
        GROUPS, params={"product_id": sensor["id"]}, headers=admin.headers
    ).json()
    assert len(listed) == 6
    assert {group["product_id"] for group in listed} == {sensor["id"]}
    assert extra in listed
    assert len(client.get(GROUPS, headers=admin.headers).json()) == 11
    unknown = client.get(
        GROUPS, params={"product_id": "no-such-product"}, headers=admin.headers
    )
    assert_problem(unknown, 404, "not-found")


def test_delete_of_group_with_devices_is_refused(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """409 device-group-not-empty; the group and its devices stay as they were."""
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    (device_id,) = claimed_devices(client, admin.headers, 1, group_id=group["id"])
    before = device(client, admin.headers, device_id)
    response = client.delete(f"{GROUPS}/{group['id']}", headers=admin.headers)
    assert_problem(response, 409, "device-group-not-empty")
    assert _show(client, admin.headers, group["id"]) == group
    assert device(client, admin.headers, device_id) == before


def test_empty_group_is_deleted_and_then_not_found(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """204, then 404 on show and on a second delete; siblings are untouched."""
    group = _new_group(client, admin.headers, product["id"], "Canary")
    response = client.delete(f"{GROUPS}/{group['id']}", headers=admin.headers)
    assert response.status_code == 204
    assert response.content == b""
    shown = client.get(f"{GROUPS}/{group['id']}", headers=admin.headers)
    assert_problem(shown, 404, "not-found")
    again = client.delete(f"{GROUPS}/{group['id']}", headers=admin.headers)
    assert_problem(again, 404, "not-found")
    assert len(groups_by_name(client, admin.headers, product["id"])) == 5


def test_group_emptied_by_a_move_can_be_deleted(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """Moving the last device out makes the group deletable."""
    groups = groups_by_name(client, admin.headers, product["id"])
    (device_id,) = claimed_devices(
        client, admin.headers, 1, group_id=groups["Field Test"]["id"]
    )
    moved = client.patch(
        f"/api/v1/devices/{device_id}",
        json={"device_group_id": groups["Production"]["id"]},
        headers=admin.headers,
    )
    assert moved.status_code == 200, moved.text
    response = client.delete(
        f"{GROUPS}/{groups['Field Test']['id']}", headers=admin.headers
    )
    assert response.status_code == 204


def test_contributor_cannot_delete_a_group(
    client: TestClient, admin: TenantAccess, product: Json
) -> None:
    """Contributors create and change groups but do not delete them."""
    contributor = token(client, admin.headers, role="contributor")
    group = _new_group(client, contributor, product["id"], "Canary")
    response = client.delete(f"{GROUPS}/{group['id']}", headers=contributor)
    assert_problem(response, 403, "forbidden")
    assert _show(client, admin.headers, group["id"]) == group


def test_group_planting_in_another_tenants_product(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess, product: Json
) -> None:
    """Another tenant cannot add, see, change or delete this product's groups."""
    headers = other_tenant.headers
    planted = _create(client, headers, product["id"], {"name": "Backdoor"})
    assert_problem(planted, 404, "not-found")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    url = f"{GROUPS}/{group['id']}"
    assert_problem(client.get(url, headers=headers), 404, "not-found")
    changed = client.patch(url, json={"update_policy": "no-updates"}, headers=headers)
    assert_problem(changed, 404, "not-found")
    assert_problem(client.delete(url, headers=headers), 404, "not-found")
    assert _show(client, admin.headers, group["id"]) == group
    assert "Backdoor" not in groups_by_name(client, admin.headers, product["id"])
