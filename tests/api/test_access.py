"""API tokens and roles: who may do what, and what a dead token gets."""

import hashlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from sevenfold.protocol.clock import ManualClock
from tests.api.tenancy_support import (
    API,
    access_with_role,
    assert_problem,
    bearer,
    mint_token,
)
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.manufacturer import signed_records

UNAUTHENTICATED = "the API token is unknown, expired or revoked"


def _assert_unauthenticated(response_detail_source: TestClient, token: str) -> str:
    response = response_detail_source.get(f"{API}/products", headers=bearer(token))
    body = assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    detail: str = body["detail"]
    return detail


def test_bootstrap_token_acts_as_tenant_and_platform_administrator(
    client: TestClient, admin: TenantAccess
) -> None:
    """The token init prints reads its tenant, manages tokens and sees all tenants."""
    tenants = client.get(f"{API}/tenants", headers=admin.headers)
    assert tenants.status_code == 200
    assert [tenant["id"] for tenant in tenants.json()] == [admin.tenant_id]
    tokens = client.get(f"{API}/tokens", headers=admin.headers).json()
    assert [(t["role"], t["platform_role"]) for t in tokens] == [
        ("administrator", "platform-administrator")
    ]


def test_token_secret_is_stored_only_as_a_hash(
    client: TestClient, admin: TenantAccess, app: FastAPI
) -> None:
    """Neither the token text nor its secret is anywhere in the api_tokens table."""
    created = mint_token(client, admin, role="contributor", name="ci")
    token_text: str = created["token"]
    secret = token_text.split("_", 2)[2]
    with app.state.sevenfold.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_tokens")).mappings().all()
    dump = repr([dict(row) for row in rows])
    assert len(rows) == 2
    assert token_text not in dump
    assert secret not in dump
    stored = next(row for row in rows if row["id"] == created["id"])
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    listing = client.get(f"{API}/tokens", headers=admin.headers).text
    assert secret not in listing
    assert admin.token.split("_", 2)[2] not in listing


def test_tokens_are_created_listed_and_revoked(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A created token works, is listed without its secret and revocation shows."""
    created = mint_token(client, admin, role="reader", name="dashboard")
    assert created["role"] == "reader"
    assert created["tenant_id"] == admin.tenant_id
    assert created["revoked_at"] is None
    listed = client.get(f"{API}/tokens", headers=admin.headers).json()
    mine = next(token for token in listed if token["id"] == created["id"])
    assert "token" not in mine
    assert mine["name"] == "dashboard"
    clock.advance(60)
    revoked = client.delete(f"{API}/tokens/{created['id']}", headers=admin.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    again = client.delete(f"{API}/tokens/{created['id']}", headers=admin.headers)
    assert again.status_code == 200  # idempotent
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_revoked_token_is_refused_at_once(
    client: TestClient, admin: TenantAccess
) -> None:
    """The very next request with a revoked token is a 401."""
    created = mint_token(client, admin, role="administrator", name="laptop")
    ok = client.get(f"{API}/products", headers=bearer(created["token"]))
    assert ok.status_code == 200
    client.delete(f"{API}/tokens/{created['id']}", headers=admin.headers)
    assert _assert_unauthenticated(client, created["token"]) == UNAUTHENTICATED


def test_expired_token_is_refused(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A token works until its expiry and never after it."""
    created = mint_token(client, admin, role="reader", expires_in_days=1)
    clock.advance(86_400 - 1)
    ok = client.get(f"{API}/products", headers=bearer(created["token"]))
    assert ok.status_code == 200
    clock.advance(1)
    assert _assert_unauthenticated(client, created["token"]) == UNAUTHENTICATED


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "sf_" + "0" * 32 + "_" + "A" * 43,
        "sf_" + "0" * 32 + "_" + "A" * 42,
        "sf_" + "Z" * 32 + "_" + "A" * 43,
        "sf_\u00e9" + "0" * 31 + "_" + "A" * 43,
    ],
    ids=["garbage", "unknown", "short-secret", "bad-id", "non-ascii"],
)
def test_malformed_or_unknown_token_gets_one_indistinct_401(
    client: TestClient, admin: TenantAccess, token: str
) -> None:
    """Malformed and unknown tokens get the same message: nothing to probe."""
    headers = {"Authorization": f"Bearer {token}".encode()}
    response = client.get(f"{API}/products", headers=headers)
    body = assert_problem(response, 401, "unauthenticated")
    assert body["detail"] == UNAUTHENTICATED
    assert response.headers["www-authenticate"] == "Bearer"


def test_right_token_id_with_a_wrong_secret_is_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """Knowing a token's ID (it is in listings and audit) opens nothing."""
    token_id = admin.token.split("_")[1]
    forged = f"sf_{token_id}_" + "A" * 43
    assert _assert_unauthenticated(client, forged) == UNAUTHENTICATED


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"]
)
def test_missing_or_non_bearer_credentials_get_401(
    client: TestClient, header: str
) -> None:
    """Only a bearer token authenticates."""
    response = client.get(f"{API}/products", headers={"Authorization": header})
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_reader_token_can_read_but_cannot_change_anything(
    client: TestClient, admin: TenantAccess
) -> None:
    """A reader GETs; every POST, PATCH and DELETE is a 403."""
    product = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=admin.headers
    ).json()
    reader = access_with_role(client, admin, "reader")
    assert client.get(f"{API}/products", headers=reader.headers).status_code == 200
    shown = client.get(f"{API}/products/{product['id']}", headers=reader.headers)
    assert shown.status_code == 200
    refused = [
        client.post(f"{API}/products", json={"name": "X"}, headers=reader.headers),
        client.patch(
            f"{API}/products/{product['id']}",
            json={"name": "Renamed"},
            headers=reader.headers,
        ),
        client.delete(f"{API}/products/{product['id']}", headers=reader.headers),
    ]
    for response in refused:
        assert_problem(response, 403, "forbidden")
    after = client.get(f"{API}/products/{product['id']}", headers=admin.headers)
    assert after.json()["name"] == "Gateway"


def test_reader_token_cannot_create_tokens(
    client: TestClient, admin: TenantAccess
) -> None:
    """A reader cannot mint itself a stronger token, nor list or revoke tokens."""
    reader = access_with_role(client, admin, "reader")
    minted = client.post(
        f"{API}/tokens",
        json={"name": "escalate", "role": "administrator"},
        headers=reader.headers,
    )
    assert_problem(minted, 403, "forbidden")
    listing = client.get(f"{API}/tokens", headers=reader.headers)
    assert_problem(listing, 403, "forbidden")
    token_id = admin.token.split("_")[1]
    revoked = client.delete(f"{API}/tokens/{token_id}", headers=reader.headers)
    assert_problem(revoked, 403, "forbidden")


def test_contributor_token_cannot_delete_nor_manage_tokens(
    client: TestClient, admin: TenantAccess
) -> None:
    """A contributor creates and updates, but deleting and token management are 403."""
    contributor = access_with_role(client, admin, "contributor")
    created = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=contributor.headers
    )
    assert created.status_code == 201
    product_id = created.json()["id"]
    updated = client.patch(
        f"{API}/products/{product_id}",
        json={"description": "edge box"},
        headers=contributor.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["description"] == "edge box"
    deleted = client.delete(f"{API}/products/{product_id}", headers=contributor.headers)
    assert_problem(deleted, 403, "forbidden")
    minted = client.post(
        f"{API}/tokens",
        json={"name": "escalate", "role": "administrator"},
        headers=contributor.headers,
    )
    assert_problem(minted, 403, "forbidden")
    audit = client.get(f"{API}/audit-events", headers=contributor.headers)
    assert_problem(audit, 403, "forbidden")
    still_there = client.get(f"{API}/products/{product_id}", headers=admin.headers)
    assert still_there.status_code == 200


def test_administrator_can_delete(client: TestClient, admin: TenantAccess) -> None:
    """An administrator (not platform) deletes what a contributor cannot."""
    administrator = access_with_role(client, admin, "administrator")
    product_id = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=administrator.headers
    ).json()["id"]
    deleted = client.delete(
        f"{API}/products/{product_id}", headers=administrator.headers
    )
    assert deleted.status_code == 204
    gone = client.get(f"{API}/products/{product_id}", headers=administrator.headers)
    assert_problem(gone, 404, "not-found")


def test_tenant_administrator_cannot_mint_a_platform_role_token(
    client: TestClient, other_tenant: TenantAccess
) -> None:
    """A tenant's own administrator cannot grant itself platform powers."""
    for platform_role in ("platform-administrator", "manufacturer"):
        for role in ("administrator", None):
            response = client.post(
                f"{API}/tokens",
                json={"name": "up", "role": role, "platform_role": platform_role},
                headers=other_tenant.headers,
            )
            assert_problem(response, 403, "forbidden")
    tokens = client.get(f"{API}/tokens", headers=other_tenant.headers).json()
    assert [token["platform_role"] for token in tokens] == [None]


def test_tenant_administrator_cannot_create_tenants_nor_register_devices(
    client: TestClient, other_tenant: TenantAccess
) -> None:
    """Creating tenants and registering device identities are platform powers."""
    tenant = client.post(
        f"{API}/tenants", json={"name": "Evil"}, headers=other_tenant.headers
    )
    assert_problem(tenant, 403, "forbidden")
    registration = client.post(
        f"{API}/manufacturing/device-registrations",
        json={"records": signed_records(new_device_ids(1))},
        headers=other_tenant.headers,
    )
    assert registration.status_code in {403, 422}


def test_platform_administrator_creates_tenants_with_an_administrator_token(
    client: TestClient, admin: TenantAccess
) -> None:
    """The new tenant's token administers that tenant only, without platform powers."""
    response = client.post(
        f"{API}/tenants", json={"name": "Fabrikam"}, headers=admin.headers
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Fabrikam"
    new_admin = TenantAccess(tenant_id=body["id"], token=body["administrator_token"])
    tenants = client.get(f"{API}/tenants", headers=new_admin.headers).json()
    assert [tenant["id"] for tenant in tenants] == [body["id"]]
    tokens = client.get(f"{API}/tokens", headers=new_admin.headers).json()
    assert [(t["role"], t["platform_role"]) for t in tokens] == [
        ("administrator", None)
    ]
    product = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=new_admin.headers
    )
    assert product.status_code == 201
    everyone = client.get(f"{API}/tenants", headers=admin.headers).json()
    assert {tenant["id"] for tenant in everyone} == {admin.tenant_id, body["id"]}
    duplicate = client.post(
        f"{API}/tenants", json={"name": "FABRIKAM"}, headers=admin.headers
    )
    assert_problem(duplicate, 409, "name-conflict")


def test_manufacturer_token_registers_devices_but_reads_no_tenant_data(
    client: TestClient, admin: TenantAccess
) -> None:
    """A platform-only manufacturer credential can only register identities."""
    created = mint_token(
        client, admin, role=None, platform_role="manufacturer", name="factory"
    )
    assert created["tenant_id"] is None
    manufacturer = bearer(created["token"])
    registered = client.post(
        f"{API}/manufacturing/device-registrations",
        json={"records": signed_records(new_device_ids(1))},
        headers=manufacturer,
    )
    assert registered.status_code == 200
    for path in ("/products", "/devices", "/tokens", "/audit-events"):
        response = client.get(f"{API}{path}", headers=manufacturer)
        assert_problem(response, 403, "forbidden")
    tenant = client.post(f"{API}/tenants", json={"name": "X"}, headers=manufacturer)
    assert_problem(tenant, 403, "forbidden")


def test_token_needs_a_role_or_a_platform_role(
    client: TestClient, admin: TenantAccess
) -> None:
    """A token with no role at all is refused as invalid."""
    response = client.post(
        f"{API}/tokens",
        json={"name": "nothing", "role": None, "platform_role": None},
        headers=admin.headers,
    )
    assert_problem(response, 422, "validation-error")
