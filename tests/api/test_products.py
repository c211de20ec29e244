"""Products: default device groups, case-insensitive names, update and delete."""

import pytest
from fastapi.testclient import TestClient

from sevenfold.service.products.defaults import DEFAULT_GROUPS
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

PRODUCTS = "/api/v1/products"

EXPECTED_DEFAULT_GROUPS = {
    # name: (OS feed, update policy, app updates) -- the table in PRODUCT.md
    "Development": ("retail", "update-all", False),
    "Field Test": ("retail", "update-all", True),
    "Production": ("retail", "update-all", True),
    "Field Test OS Evaluation": ("retail-eval", "update-all", True),
    "Production OS Evaluation": ("retail-eval", "update-all", True),
}


def _product_names(client: TestClient, headers: Headers) -> list[str]:
    response = client.get(PRODUCTS, headers=headers)
    assert response.status_code == 200, response.text
    return [product["name"] for product in response.json()]


def _all_groups(client: TestClient, headers: Headers) -> list[Json]:
    response = client.get("/api/v1/device-groups", headers=headers)
    assert response.status_code == 200, response.text
    groups: list[Json] = response.json()
    return groups


def test_new_product_gets_exactly_the_five_default_groups(
    client: TestClient, admin: TenantAccess
) -> None:
    """Feeds, policies and app-update flags as PRODUCT.md specifies them."""
    product = create_product(client, admin.headers, "Gateway")
    groups = groups_by_name(client, admin.headers, product["id"])
    assert {
        name: (group["os_feed"], group["update_policy"], group["app_updates"])
        for name, group in groups.items()
    } == EXPECTED_DEFAULT_GROUPS
    assert all(group["product_id"] == product["id"] for group in groups.values())
    assert all(group["description"] for group in groups.values())
    assert len(_all_groups(client, admin.headers)) == 5
    from_code = {
        default.name: (
            default.os_feed.value,
            default.update_policy.value,
            default.app_updates,
        )
        for default in DEFAULT_GROUPS
    }
    assert from_code == EXPECTED_DEFAULT_GROUPS


def test_each_product_gets_its_own_default_groups(
    client: TestClient, admin: TenantAccess
) -> None:
    """Two products: ten groups, five per product, no group shared."""
    gateway = create_product(client, admin.headers, "Gateway")
    sensor = create_product(client, admin.headers, "Sensor")
    gateway_ids = {
        g["id"] for g in groups_by_name(client, admin.headers, gateway["id"]).values()
    }
    sensor_ids = {
        g["id"] for g in groups_by_name(client, admin.headers, sensor["id"]).values()
    }
    assert len(gateway_ids) == len(sensor_ids) == 5
    assert not gateway_ids & sensor_ids
    assert len(_all_groups(client, admin.headers)) == 10


@pytest.mark.parametrize("again", ["Gateway", "gateway", "GATEWAY", "  Gateway  "])
def test_product_names_are_unique_case_insensitively(
    client: TestClient, admin: TenantAccess, again: str
) -> None:
    """A second 'Gateway' in any case is a 409 name-conflict; nothing is added."""
    create_product(client, admin.headers, "Gateway")
    response = client.post(PRODUCTS, json={"name": again}, headers=admin.headers)
    assert_problem(response, 409, "name-conflict")
    assert _product_names(client, admin.headers) == ["Gateway"]
    assert len(_all_groups(client, admin.headers)) == 5


def test_two_tenants_may_both_have_a_gateway(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Names are unique per tenant, not across tenants."""
    mine = create_product(client, admin.headers, "Gateway")
    theirs = create_product(client, other_tenant.headers, "Gateway")
    assert mine["id"] != theirs["id"]
    assert _product_names(client, other_tenant.headers) == ["Gateway"]
    assert len(_all_groups(client, other_tenant.headers)) == 5


def test_name_that_grows_when_casefolded_is_stored_and_compared(
    client: TestClient, admin: TenantAccess
) -> None:
    """'ß' casefolds to 'ss': a 50-character name fits, and 'SS' collides with 'ß'."""
    create_product(client, admin.headers, "ß" * 50)
    create_product(client, admin.headers, "Straße")
    response = client.post(PRODUCTS, json={"name": "STRASSE"}, headers=admin.headers)
    assert_problem(response, 409, "name-conflict")


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * 51, "bad\x00name", "bad\nname"], ids=repr
)
def test_invalid_product_name_is_refused(
    client: TestClient, admin: TenantAccess, name: str
) -> None:
    """Names are 1..50 printable characters."""
    response = client.post(PRODUCTS, json={"name": name}, headers=admin.headers)
    assert_problem(response, 422, "validation-error")
    assert _product_names(client, admin.headers) == []


def test_update_renames_and_redescribes(
    client: TestClient, admin: TenantAccess
) -> None:
    """PATCH changes only the given fields; a change of case is no conflict."""
    product = create_product(client, admin.headers, "Gateway")
    url = f"{PRODUCTS}/{product['id']}"
    described = client.patch(url, json={"description": "v2"}, headers=admin.headers)
    assert described.status_code == 200, described.text
    assert (described.json()["name"], described.json()["description"]) == (
        "Gateway",
        "v2",
    )
    renamed = client.patch(url, json={"name": "GATEWAY"}, headers=admin.headers)
    assert renamed.status_code == 200, renamed.text
    shown = client.get(url, headers=admin.headers).json()
    assert (shown["name"], shown["description"]) == ("GATEWAY", "v2")


def test_rename_onto_another_products_name_is_a_conflict(
    client: TestClient, admin: TenantAccess
) -> None:
    """Renaming cannot create a duplicate; the product keeps its name."""
    create_product(client, admin.headers, "Gateway")
    sensor = create_product(client, admin.headers, "Sensor")
    response = client.patch(
        f"{PRODUCTS}/{sensor['id']}", json={"name": "gateway"}, headers=admin.headers
    )
    assert_problem(response, 409, "name-conflict")
    assert _product_names(client, admin.headers) == ["Gateway", "Sensor"]


def test_delete_of_product_with_devices_is_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """409 product-not-empty: the product, its groups and its devices all remain."""
    product = create_product(client, admin.headers, "Gateway")
    groups = groups_by_name(client, admin.headers, product["id"])
    (device_id,) = claimed_devices(
        client, admin.headers, 1, group_id=groups["Production"]["id"]
    )
    before = device(client, admin.headers, device_id)
    response = client.delete(f"{PRODUCTS}/{product['id']}", headers=admin.headers)
    assert_problem(response, 409, "product-not-empty")
    assert _product_names(client, admin.headers) == ["Gateway"]
    assert groups_by_name(client, admin.headers, product["id"]) == groups
    assert device(client, admin.headers, device_id) == before


def test_delete_of_empty_product_removes_its_groups(
    client: TestClient, admin: TenantAccess
) -> None:
    """204; the product and its five groups are gone and the name is free again."""
    product = create_product(client, admin.headers, "Gateway")
    keep = create_product(client, admin.headers, "Sensor")
    groups = groups_by_name(client, admin.headers, product["id"])
    response = client.delete(f"{PRODUCTS}/{product['id']}", headers=admin.headers)
    assert response.status_code == 204
    gone = client.get(f"{PRODUCTS}/{product['id']}", headers=admin.headers)
    assert_problem(gone, 404, "not-found")
    for group in groups.values():
        shown = client.get(
            f"/api/v1/device-groups/{group['id']}", headers=admin.headers
        )
        assert_problem(shown, 404, "not-found")
    remaining = _all_groups(client, admin.headers)
    assert {group["product_id"] for group in remaining} == {keep["id"]}
    create_product(client, admin.headers, "gateway")


def test_contributor_cannot_delete_a_product(
    client: TestClient, admin: TenantAccess
) -> None:
    """Contributors can do all but delete: 403, and the product stays."""
    contributor = token(client, admin.headers, role="contributor")
    product = create_product(client, contributor, "Gateway")
    response = client.delete(f"{PRODUCTS}/{product['id']}", headers=contributor)
    assert_problem(response, 403, "forbidden")
    assert _product_names(client, admin.headers) == ["Gateway"]


def test_reader_cannot_create_or_change_a_product(
    client: TestClient, admin: TenantAccess
) -> None:
    """Readers only read."""
    reader = token(client, admin.headers, role="reader")
    product = create_product(client, admin.headers, "Gateway")
    created = client.post(PRODUCTS, json={"name": "Sensor"}, headers=reader)
    assert_problem(created, 403, "forbidden")
    changed = client.patch(
        f"{PRODUCTS}/{product['id']}", json={"name": "X"}, headers=reader
    )
    assert_problem(changed, 403, "forbidden")
    assert _product_names(client, reader) == ["Gateway"]


def test_product_tampering_by_another_tenant(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Another tenant can neither see, rename nor delete the product."""
    product = create_product(client, admin.headers, "Gateway")
    url = f"{PRODUCTS}/{product['id']}"
    headers = other_tenant.headers
    assert_problem(client.get(url, headers=headers), 404, "not-found")
    renamed = client.patch(url, json={"name": "Mine"}, headers=headers)
    assert_problem(renamed, 404, "not-found")
    assert_problem(client.delete(url, headers=headers), 404, "not-found")
    assert _product_names(client, admin.headers) == ["Gateway"]
