"""The append-only audit log: who did what, when and from where; nothing else."""

from datetime import datetime
from typing import Any

import httpx
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from tests.api.tenancy_support import (
    API,
    access_with_role,
    assert_problem,
    mint_token,
    register_devices,
    wait_for_operation,
)
from tests.conftest import TenantAccess

TEST_CLIENT_HOST = "testclient"  # what Starlette's TestClient reports as peer


def _events(client: TestClient, access: TenantAccess) -> list[dict[str, Any]]:
    """Every audit event of the caller's tenant, newest first (all pages)."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"{API}/audit-events", params=params, headers=access.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        events.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return events


def _token_id(access: TenantAccess) -> str:
    return access.token.split("_")[1]


class _Recorder:
    """Runs mutations one clock tick apart and remembers when each happened."""

    def __init__(self, client: TestClient, clock: ManualClock) -> None:
        self.client = client
        self.clock = clock
        self.expected: list[tuple[str, str, datetime]] = []

    def call(
        self, action: str, method: str, path: str, access: TenantAccess, **kw: Any
    ) -> httpx.Response:
        self.clock.advance(61)
        response: httpx.Response = self.client.request(
            method, f"{API}{path}", headers=access.headers, **kw
        )
        assert response.status_code < 300, response.text
        return response

    def expect(self, action: str, target_id: str) -> None:
        self.expected.append((action, target_id, self.clock.now()))


def test_every_mutating_call_is_audited_with_who_what_when_and_where(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """Each mutation of the tenant's API lands in its audit log, with its context."""
    run = _Recorder(client, clock)
    token = run.call(
        "token.create",
        "POST",
        "/tokens",
        admin,
        json={"name": "ops", "role": "contributor"},
    ).json()
    run.expect("token.create", token["id"])
    run.call("token.revoke", "DELETE", f"/tokens/{token['id']}", admin)
    run.expect("token.revoke", token["id"])
    product = run.call(
        "product.create", "POST", "/products", admin, json={"name": "Gateway"}
    ).json()
    run.expect("product.create", product["id"])
    run.call(
        "product.update",
        "PATCH",
        f"/products/{product['id']}",
        admin,
        json={"description": "edge"},
    )
    run.expect("product.update", product["id"])
    group = run.call(
        "device-group.create",
        "POST",
        f"/products/{product['id']}/device-groups",
        admin,
        json={"name": "Canary"},
    ).json()
    run.expect("device-group.create", group["id"])
    run.call(
        "device-group.update",
        "PATCH",
        f"/device-groups/{group['id']}",
        admin,
        json={"update_policy": "os-only"},
    )
    run.expect("device-group.update", group["id"])
    clock.advance(61)
    device_id, bulk_id = register_devices(client, admin, 2)
    run.expect("device.register", "2 device(s)")
    run.call(
        "device.claim",
        "POST",
        f"/devices/{device_id}/claim",
        admin,
        json={"device_group_id": group["id"]},
    )
    run.expect("device.claim", device_id)
    groups = client.get(
        f"{API}/device-groups",
        headers=admin.headers,
        params={"product_id": product["id"]},
    ).json()
    other = next(g for g in groups if g["id"] != group["id"])
    run.call(
        "device.move",
        "PATCH",
        f"/devices/{device_id}",
        admin,
        json={"device_group_id": other["id"]},
    )
    run.expect("device.move", device_id)
    run.call("device.revoke", "POST", f"/devices/{device_id}/revoke", admin)
    run.expect("device.revoke", device_id)
    operation = run.call(
        "device.bulk-claim",
        "POST",
        "/device-claims",
        admin,
        json={"device_ids": [bulk_id]},
    ).json()
    run.expect("device.bulk-claim", operation["id"])
    wait_for_operation(client, admin, operation["id"])
    run.expect("device.claim", bulk_id)
    approved = run.call(
        "approved-measurement.create",
        "POST",
        f"/products/{product['id']}/approved-measurements",
        admin,
        json={"kind": "os", "sha256": "ab" * 32, "version": "26.11"},
    ).json()
    run.expect("approved-measurement.create", approved["id"])
    run.call(
        "approved-measurement.delete",
        "DELETE",
        f"/products/{product['id']}/approved-measurements/{approved['id']}",
        admin,
    )
    run.expect("approved-measurement.delete", approved["id"])
    run.call("device-group.delete", "DELETE", f"/device-groups/{group['id']}", admin)
    run.expect("device-group.delete", group["id"])
    second = run.call(
        "product.create", "POST", "/products", admin, json={"name": "Spare"}
    ).json()
    run.expect("product.create", second["id"])
    run.call("product.delete", "DELETE", f"/products/{second['id']}", admin)
    run.expect("product.delete", second["id"])

    events = _events(client, admin)
    bootstrap = {"tenant.create", "token.create"}
    mine = [e for e in reversed(events) if e["actor_token_id"] is not None]
    assert {e["action"] for e in events if e["actor_token_id"] is None} == bootstrap
    assert [(e["action"], e["target_id"]) for e in mine] == [
        (action, target) for action, target, _ in run.expected
    ]
    for event, (action, _, when) in zip(mine, run.expected, strict=True):
        assert event["actor_token_id"] == _token_id(admin), event
        assert event["actor_name"] == "initial administrator"
        if action != "device.claim" or event["target_id"] != bulk_id:
            # The background runner claims at its own time, without a peer.
            assert datetime.fromisoformat(event["at"]) == when, event
            assert event["source_ip"] == TEST_CLIENT_HOST, event
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)


def test_tenant_creation_is_audited_in_the_new_tenant_with_its_creator(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """The new tenant's log starts with who created it and its first token."""
    clock.advance(3600)
    created = client.post(
        f"{API}/tenants", json={"name": "Fabrikam"}, headers=admin.headers
    ).json()
    new_admin = TenantAccess(created["id"], created["administrator_token"])
    events = _events(client, new_admin)
    assert [(e["action"], e["target_type"]) for e in reversed(events)] == [
        ("tenant.create", "tenant"),
        ("token.create", "token"),
    ]
    for event in events:
        assert event["actor_token_id"] == _token_id(admin)
        assert event["source_ip"] == TEST_CLIENT_HOST
        assert datetime.fromisoformat(event["at"]) == clock.now()
    assert events[-1]["target_id"] == created["id"]
    assert events[-1]["details"] == {"name": "Fabrikam"}


def test_audit_records_the_real_peer_address_over_http(
    live_url: str, admin: TenantAccess
) -> None:
    """Over a real socket, "from where" is the caller's IP address."""
    with httpx.Client(base_url=live_url, headers=admin.headers) as http:
        product = http.post(f"{API}/products", json={"name": "Gateway"})
        assert product.status_code == 201
        events = http.get(f"{API}/audit-events").json()["items"]
    assert events[0]["action"] == "product.create"
    assert events[0]["target_id"] == product.json()["id"]
    assert events[0]["source_ip"] == "127.0.0.1"


def test_rejected_mutations_write_no_audit_event(
    client: TestClient, admin: TenantAccess
) -> None:
    """A refused or failed change leaves the audit log as it was."""
    product = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=admin.headers
    ).json()
    spare = client.post(
        f"{API}/products", json={"name": "Spare"}, headers=admin.headers
    ).json()
    (device_id,) = register_devices(client, admin, 1)
    claimed = client.post(f"{API}/devices/{device_id}/claim", headers=admin.headers)
    assert claimed.status_code == 200
    groups = client.get(
        f"{API}/device-groups",
        params={"product_id": product["id"]},
        headers=admin.headers,
    ).json()
    moved = client.patch(
        f"{API}/devices/{device_id}",
        json={"device_group_id": groups[0]["id"]},
        headers=admin.headers,
    )
    assert moved.status_code == 200
    reader = access_with_role(client, admin, "reader")
    before = _events(client, admin)
    failures = [
        (
            client.post(
                f"{API}/products", json={"name": "GATEWAY"}, headers=admin.headers
            ),
            409,
        ),
        (
            client.patch(
                f"{API}/products/{spare['id']}",
                json={"name": "gateway"},
                headers=admin.headers,
            ),
            409,
        ),
        (client.delete(f"{API}/products/{product['id']}", headers=admin.headers), 409),
        (
            client.delete(
                f"{API}/device-groups/{groups[0]['id']}", headers=admin.headers
            ),
            409,
        ),
        (client.post(f"{API}/devices/{device_id}/claim", headers=admin.headers), 409),
        (
            client.post(
                f"{API}/tenants", json={"name": "Contoso"}, headers=admin.headers
            ),
            409,
        ),
        (
            client.post(f"{API}/products", json={"name": "X"}, headers=reader.headers),
            403,
        ),
        (
            client.post(
                f"{API}/tokens",
                json={"name": "x", "role": "administrator"},
                headers=reader.headers,
            ),
            403,
        ),
        (client.post(f"{API}/products", json={"name": ""}, headers=admin.headers), 422),
        (client.delete(f"{API}/tokens/{'0' * 32}", headers=admin.headers), 404),
    ]
    for response, status in failures:
        assert response.status_code == status, response.text
    assert _events(client, admin) == before


def test_audit_events_page_with_a_cursor(
    client: TestClient, admin: TenantAccess
) -> None:
    """Following next_cursor walks every event once, newest first."""
    for number in range(7):
        mint_token(client, admin, name=f"token {number}")
    everything = _events(client, admin)
    assert len(everything) == 9
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 4}
        if cursor is not None:
            params["cursor"] = cursor
        body = client.get(
            f"{API}/audit-events", params=params, headers=admin.headers
        ).json()
        assert len(body["items"]) <= 4
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [event["id"] for event in everything]
    bad = client.get(
        f"{API}/audit-events",
        params={"cursor": "bm90LWEtbnVtYmVy"},
        headers=admin.headers,
    )
    assert_problem(bad, 422, "validation-error")


def test_no_route_changes_or_deletes_audit_events(client: TestClient) -> None:
    """The OpenAPI document offers only GET on audit paths, and others are 405."""
    document = client.get("/openapi.json").json()
    audit_paths = {
        path: set(operations)
        for path, operations in document["paths"].items()
        if "audit" in path
    }
    assert audit_paths == {"/api/v1/audit-events": {"get"}}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/v1/audit-events", "/api/v1/audit-events/1"):
            response = client.request(method, path)
            assert response.status_code in {404, 405}, (method, path)


def test_platform_only_token_creation_is_audited_for_its_creator(
    client: TestClient, admin: TenantAccess
) -> None:
    """A tenant-less token (manufacturer) still shows in its creator's audit log."""
    created = mint_token(
        client, admin, role=None, platform_role="manufacturer", name="factory"
    )
    latest = _events(client, admin)[0]
    assert (latest["action"], latest["target_id"]) == ("token.create", created["id"])
    assert latest["details"]["platform_role"] == "manufacturer"
    assert latest["actor_token_id"] == _token_id(admin)
