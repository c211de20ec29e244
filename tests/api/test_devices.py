"""Devices: factory registration, claiming, listing, moving and revocation."""

import threading
from datetime import datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.fleet import (
    REGISTRATIONS,
    assert_problem,
    claim,
    claimed_devices,
    create_product,
    device,
    groups_by_name,
    register,
    token,
)

NOT_A_POINT = "1" * 128
"""128 hex characters that are not a point on P-256."""


def _when(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


# --- registration ----------------------------------------------------------------


def test_manufacturer_token_registers_devices(
    client: TestClient, admin: TenantAccess
) -> None:
    """A tenant-less manufacturer credential may register, and nothing more."""
    manufacturer = token(client, admin.headers, role=None, platform_role="manufacturer")
    ids = new_device_ids(2)
    assert register(client, manufacturer, ids) == {
        "registered": 2,
        "already_registered": 0,
    }
    refused = client.post(f"/api/v1/devices/{ids[0]}/claim", headers=manufacturer)
    assert_problem(refused, 403, "forbidden")


@pytest.mark.parametrize("role", ["administrator", "contributor", "reader"])
def test_tenant_role_cannot_register_forged_device_identities(
    client: TestClient, admin: TenantAccess, role: str
) -> None:
    """Only the factory adds identities: a tenant token (any role) gets 403."""
    tenant_token = token(client, admin.headers, role=role)
    (device_id,) = new_device_ids(1)
    response = client.post(
        REGISTRATIONS, json={"device_ids": [device_id]}, headers=tenant_token
    )
    assert_problem(response, 403, "forbidden")
    assert register(client, admin.headers, [device_id])["registered"] == 1


def test_other_tenant_administrator_cannot_register(
    client: TestClient, other_tenant: TenantAccess
) -> None:
    """A tenant's first administrator is no platform credential."""
    response = client.post(
        REGISTRATIONS,
        json={"device_ids": new_device_ids(1)},
        headers=other_tenant.headers,
    )
    assert_problem(response, 403, "forbidden")


def test_registration_is_idempotent_and_counts_duplicates_once(
    client: TestClient, admin: TenantAccess
) -> None:
    """Re-registering changes nothing; a repeated ID in one call counts once."""
    first, second = new_device_ids(2)
    once = register(client, admin.headers, [first, second, first, second.upper()])
    assert once == {"registered": 2, "already_registered": 0}
    again = register(client, admin.headers, [second, first])
    assert again == {"registered": 0, "already_registered": 2}


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("ab" * 63, id="too-short"),
        pytest.param("ab" * 65, id="too-long"),
        pytest.param("g" * 128, id="non-hex"),
        pytest.param(NOT_A_POINT, id="not-on-p256"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_key_is_rejected_and_nothing_is_registered(
    client: TestClient, admin: TenantAccess, bad_id: str
) -> None:
    """A bad key fails the whole call with a 422 problem; the good ones wait."""
    (good,) = new_device_ids(1)
    response = client.post(
        REGISTRATIONS, json={"device_ids": [good, bad_id]}, headers=admin.headers
    )
    assert_problem(response, 422, "validation-error")
    assert register(client, admin.headers, [good])["registered"] == 1


def test_upper_case_key_is_stored_in_canonical_lower_case(
    client: TestClient, admin: TenantAccess
) -> None:
    """Upper-case hex registers as the lower-case device ID."""
    (device_id,) = new_device_ids(1)
    register(client, admin.headers, [device_id.upper()])
    assert register(client, admin.headers, [device_id])["already_registered"] == 1
    claimed = claim(client, admin.headers, device_id.upper())
    assert claimed["id"] == device_id
    assert device(client, admin.headers, device_id.upper())["id"] == device_id


def test_registration_takes_at_most_1000_ids(
    client: TestClient, admin: TenantAccess
) -> None:
    """1,000 IDs register in one call; 1,001 are refused and none registered."""
    ids = new_device_ids(1001)
    refused = client.post(
        REGISTRATIONS, json={"device_ids": ids}, headers=admin.headers
    )
    assert_problem(refused, 422, "validation-error")
    assert register(client, admin.headers, ids[:1000])["registered"] == 1000
    assert register(client, admin.headers, ids[1000:])["registered"] == 1


# --- claim -----------------------------------------------------------------------


def test_claim_sets_tenant_status_and_time(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A claimed device is the tenant's, status claimed, in no group yet."""
    (device_id,) = new_device_ids(1)
    register(client, admin.headers, [device_id])
    claimed = claim(client, admin.headers, device_id)
    assert claimed["status"] == "claimed"
    assert _when(claimed["claimed_at"]) == clock.now()
    assert claimed["product_id"] is None
    assert claimed["device_group_id"] is None
    assert claimed["revoked_at"] is None


def test_contributor_may_claim_but_reader_may_not(
    client: TestClient, admin: TenantAccess
) -> None:
    """Claiming is a write: contributors can, readers get 403 and change nothing."""
    reader = token(client, admin.headers, role="reader")
    contributor = token(client, admin.headers, role="contributor")
    (device_id,) = new_device_ids(1)
    register(client, admin.headers, [device_id])
    refused = client.post(f"/api/v1/devices/{device_id}/claim", headers=reader)
    assert_problem(refused, 403, "forbidden")
    assert claim(client, contributor, device_id)["status"] == "claimed"


def test_second_claim_by_same_tenant_is_a_conflict(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A claim cannot be repeated, even by its owner; the first claim stands."""
    (device_id,) = claimed_devices(client, admin.headers, 1)
    before = device(client, admin.headers, device_id)
    clock.advance(60)
    again = client.post(f"/api/v1/devices/{device_id}/claim", headers=admin.headers)
    body = assert_problem(again, 409, "device-already-claimed")
    assert body["outcome"] == "already-claimed-by-this-tenant"
    assert device(client, admin.headers, device_id) == before


def test_device_hijack_by_claiming_another_tenants_device(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Another tenant's claim is refused and the device stays where it was."""
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    (device_id,) = claimed_devices(client, admin.headers, 1, group_id=group["id"])
    before = device(client, admin.headers, device_id)
    stolen = client.post(
        f"/api/v1/devices/{device_id}/claim", headers=other_tenant.headers
    )
    body = assert_problem(stolen, 409, "device-already-claimed")
    assert body["outcome"] == "already-claimed"
    assert device(client, admin.headers, device_id) == before
    shown = client.get(f"/api/v1/devices/{device_id}", headers=other_tenant.headers)
    assert_problem(shown, 404, "not-found")
    listing = client.get("/api/v1/devices", headers=other_tenant.headers).json()
    assert listing["items"] == []


def test_claim_of_unregistered_device_is_not_found(
    client: TestClient, admin: TenantAccess
) -> None:
    """Only identities the factory registered can be claimed."""
    (device_id,) = new_device_ids(1)
    response = client.post(f"/api/v1/devices/{device_id}/claim", headers=admin.headers)
    assert_problem(response, 404, "device-not-registered")


def test_claim_into_a_group_of_this_tenant(
    client: TestClient, admin: TenantAccess
) -> None:
    """A claim may place the device in one of the tenant's groups at once."""
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Field Test"]
    (device_id,) = new_device_ids(1)
    register(client, admin.headers, [device_id])
    claimed = claim(client, admin.headers, device_id, group["id"])
    assert claimed["device_group_id"] == group["id"]
    assert claimed["product_id"] == product["id"]


def test_claim_into_another_tenants_group_is_refused(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """A foreign group ID is not found, and the device stays unclaimed."""
    product = create_product(client, other_tenant.headers, "Sensor")
    foreign = groups_by_name(client, other_tenant.headers, product["id"])["Production"]
    (device_id,) = new_device_ids(1)
    register(client, admin.headers, [device_id])
    response = client.post(
        f"/api/v1/devices/{device_id}/claim",
        json={"device_group_id": foreign["id"]},
        headers=admin.headers,
    )
    assert_problem(response, 404, "not-found")
    claimed = claim(client, other_tenant.headers, device_id)
    assert claimed["device_group_id"] is None


def test_revoked_device_cannot_be_reclaimed(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Revocation is final: no tenant can claim the device back into service."""
    (device_id,) = claimed_devices(client, admin.headers, 1)
    revoked = client.post(f"/api/v1/devices/{device_id}/revoke", headers=admin.headers)
    assert revoked.status_code == 200
    for tenant in (admin, other_tenant):
        response = client.post(
            f"/api/v1/devices/{device_id}/claim", headers=tenant.headers
        )
        assert_problem(response, 409, "device-already-claimed")
    assert device(client, admin.headers, device_id)["status"] == "revoked"


def test_concurrent_claims_from_two_tenants_let_exactly_one_win(
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    live_url: str,
) -> None:
    """Racing claims over real HTTP: one 200 and one 409 per device, never two."""
    device_ids = new_device_ids(6)
    register(client, admin.headers, device_ids)
    tenants = (admin, other_tenant)
    statuses: dict[tuple[str, str], int] = {}
    barrier = threading.Barrier(len(tenants))

    def race(tenant: TenantAccess) -> None:
        with httpx.Client(base_url=live_url, headers=tenant.headers) as http:
            for device_id in device_ids:
                barrier.wait(timeout=30)
                response = http.post(f"/api/v1/devices/{device_id}/claim", timeout=30)
                statuses[(tenant.tenant_id, device_id)] = response.status_code

    threads = [threading.Thread(target=race, args=(tenant,)) for tenant in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for device_id in device_ids:
        outcome = sorted(statuses[(tenant.tenant_id, device_id)] for tenant in tenants)
        assert outcome == [200, 409], (device_id, outcome)
        owners = [
            tenant
            for tenant in tenants
            if client.get(
                f"/api/v1/devices/{device_id}", headers=tenant.headers
            ).status_code
            == 200
        ]
        assert len(owners) == 1
        assert statuses[(owners[0].tenant_id, device_id)] == 200
