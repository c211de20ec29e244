"""Tenant isolation, walked over the whole OpenAPI document.

Tenant A (the first tenant) builds a real fleet. Tenant B's administrator — a plain
tenant administrator, not a platform administrator — then calls EVERY operation under
/api/v1 with A's identifiers in the path, the query and the body. Each call must be
refused (403/404) or, for a collection route, answer only with B's own data. A new
route, parameter or body field makes the walk fail until the tables below name it, so
nothing is added unexamined.
"""

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from sevenfold.crypto.registration import public_key_pem
from tests.api.tenancy_support import API, Fleet, build_fleet
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.manufacturer import TEST_MANUFACTURER_KEY_ID, signed_records

# Body fields and query parameters, by name, filled with tenant A's identifiers where
# they name a resource. ``None`` means "leave out".
QUERY_VALUES_KEYS = {
    "product_id", "device_group_id", "status", "limit", "cursor", "format", "kind",
    "state", "device_id", "os_release_id", "image_id", "since", "until",
    "deployment_id",
}  # fmt: skip
BODY_FIELD_KEYS = {
    "name", "description", "role", "platform_role", "expires_in_days", "device_ids",
    "device_group_id", "os_feed", "update_policy", "app_updates", "kind", "sha256",
    "version", "label", "records", "public_key_pem", "repository",
    "image_id", "image_ids", "eval_window_days", "note", "reason",
    "os_release_id", "deployment_id", "waves", "policy", "keyid", "signature",
}  # fmt: skip
NO_RELEASE_ID = "5f0b7e0e-0000-4000-8000-000000000000"
NO_ROLLOUT_ID = "5f0b7e0e-0000-4000-8000-0000000000a1"
DEVICE_ROUTES = f"{API}/device/"
"""Device-facing routes: no API token is accepted there, so a tenant's token (any
tenant's) must be refused before anything else happens."""

# Refusals other than 403/404 that reveal nothing of tenant A: a claim is first come,
# so claiming A's device says only that the ID is taken (by whom is not said).
OTHER_REFUSALS: dict[tuple[str, str], dict[int, str]] = {
    ("POST", "/api/v1/devices/{device_id}/claim"): {409: "device-already-claimed"},
    # Rotation acts on the caller's own keys; the walk's ``role`` is a tenant role,
    # which is no TUF role, so B's own request is invalid.
    ("POST", "/api/v1/update-keys/rotate"): {422: "validation-error"},
    ("POST", "/api/v1/update-keys/take-offline"): {422: "validation-error"},
    ("POST", "/api/v1/update-keys/pending/signatures"): {422: "validation-error"},
    # The image upload takes raw bytes, not JSON: what the walk sends is no package.
    ("POST", "/api/v1/images"): {422: "invalid-image-package"},
    # The walk names an OS release and a deployment at once, which no rollout takes;
    # its ``state`` is a release state, which is no rollout state.
    ("POST", "/api/v1/rollouts"): {422: "validation-error"},
    ("GET", "/api/v1/rollouts"): {422: "validation-error"},
    # The walk's ``kind`` is an image kind, which is no failure kind.
    ("GET", "/api/v1/failure-events"): {422: "validation-error"},
    ("GET", "/api/v1/failure-events/report.csv"): {422: "validation-error"},
}


def _path_values(fleet: Fleet) -> dict[str, str]:
    return {
        "tenant_id": fleet.tenant_id,
        "product_id": fleet.product_id,
        "group_id": fleet.group_id,
        "device_id": fleet.device_id,
        "token_id": fleet.token_id,
        "operation_id": fleet.operation_id,
        "ca_id": fleet.ca_id,
        "measurement_id": fleet.measurement_id,
        "key_id": TEST_MANUFACTURER_KEY_ID,
        "repository": "director",
        "filename": "1.root.json",
        "sha256": "0" * 64,
        "image_id": fleet.image_id,
        "deployment_id": fleet.deployment_id,
        # OS releases are platform data, not tenant A's: an ID that names none.
        "release_id": NO_RELEASE_ID,
        # Replaced by tenant A's own rollout where the walk needs a real one.
        "rollout_id": NO_ROLLOUT_ID,
    }


def _query_values(fleet: Fleet) -> dict[str, Any]:
    return {
        "product_id": fleet.product_id,
        "device_group_id": fleet.group_id,
        "status": "claimed",
        "limit": 1000,
        "cursor": None,
        "format": "der",
        "kind": "app",
        "state": "retail",
        "device_id": fleet.device_id,
        "os_release_id": NO_RELEASE_ID,
        "image_id": fleet.image_id,
        "since": "2026-01-01T00:00:00+00:00",
        "until": None,
        "deployment_id": fleet.deployment_id,
    }


def _body_values(fleet: Fleet, serial: int) -> dict[str, Any]:
    return {
        "name": f"Hijacked by B {serial}",
        "description": "changed by B",
        "role": "administrator",
        "platform_role": None,
        "expires_in_days": 30,
        "device_ids": [fleet.device_id],
        "device_group_id": fleet.other_group_id,
        "os_feed": "retail-eval",
        "update_policy": "no-updates",
        "app_updates": False,
        "kind": "app",
        "sha256": f"{serial:064x}",
        "version": None,
        "label": "approved by B",
        "records": signed_records(new_device_ids(1)),
        "public_key_pem": public_key_pem(Ed25519PrivateKey.generate().public_key()),
        "repository": "image",
        "image_id": fleet.image_id,
        "image_ids": [fleet.image_id],
        "eval_window_days": 0,
        "note": "published by B",
        "reason": "moved by B",
        "os_release_id": NO_RELEASE_ID,
        "deployment_id": fleet.deployment_id,
        "waves": [{"size": 1, "unit": "count"}],
        "policy": {"min_devices": 1},
        "keyid": "0" * 64,
        "signature": "00",
    }


def _deployment_rollout(client: TestClient, owner: TenantAccess, fleet: Fleet) -> str:
    """A rollout of the fleet's deployment, by its tenant."""
    response = client.post(
        f"{API}/rollouts",
        json={
            "deployment_id": fleet.deployment_id,
            "waves": [{"size": 1, "unit": "count"}],
        },
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    rollout_id: str = response.json()["id"]
    return rollout_id


def _body_schema(document: dict[str, Any], operation: dict[str, Any]) -> Any:
    body = operation.get("requestBody")
    if body is None or "application/json" not in body["content"]:
        return None  # no body, or raw bytes (image upload)
    schema = body["content"]["application/json"]["schema"]
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            return document["components"]["schemas"][option["$ref"].split("/")[-1]]
    raise AssertionError(f"unexpected body schema {schema}")


def _variants(
    document: dict[str, Any], operation: dict[str, Any], fleet: Fleet, serial: int = 0
) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """(body, query) pairs: everything filled, only what is required, no body."""
    queries = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    unknown = set(queries) - QUERY_VALUES_KEYS
    assert not unknown, f"name a value for query parameter(s) {unknown}"
    values = _query_values(fleet)
    full_query = {q: values[q] for q in queries if values[q] is not None}
    schema = _body_schema(document, operation)
    if schema is None:
        return [(None, full_query), (None, {})]
    fields = set(schema.get("properties", {}))
    unknown = fields - BODY_FIELD_KEYS
    assert not unknown, f"name a value for body field(s) {unknown}"
    body_values = _body_values(fleet, serial)
    full = {f: body_values[f] for f in fields if body_values[f] is not None}
    other_values = _body_values(fleet, serial + 1)
    required = {f: other_values[f] for f in schema.get("required", [])}
    variants: list[tuple[dict[str, Any] | None, dict[str, Any]]] = [
        (full, full_query),
        (required, {}),
    ]
    if not operation["requestBody"].get("required", False):
        variants.append((None, {}))
    return variants


def _snapshot(client: TestClient, owner: TenantAccess, fleet: Fleet) -> list[Any]:
    """Everything tenant A can see of its fleet (and its audit log)."""
    paths = [
        f"/tenants/{fleet.tenant_id}",
        f"/products/{fleet.product_id}",
        f"/device-groups?product_id={fleet.product_id}",
        f"/devices/{fleet.device_id}",
        "/devices",
        "/tokens",
        f"/operations/{fleet.operation_id}",
        "/audit-events?limit=1000",
        "/ca-certificates",
        f"/ca-certificates/{fleet.ca_id}",
        f"/products/{fleet.product_id}/approved-measurements",
        f"/devices/{fleet.device_id}/attestations",
        f"/device-groups/{fleet.group_id}/deployments",
        f"/deployments/{fleet.deployment_id}",
    ]
    snapshot = []
    for path in paths:
        response = client.get(f"{API}{path}", headers=owner.headers)
        assert response.status_code == 200, (path, response.text)
        is_json = response.headers["content-type"].startswith("application/json")
        snapshot.append(response.json() if is_json else response.text)
    return snapshot


def _device_route_refuses(
    client: TestClient,
    method: str,
    path: str,
    caller: TenantAccess,
    fleet: Fleet,
) -> list[str]:
    """A tenant token on a device route: refused as a credential, whatever the body."""
    failures = []
    for body in (None, {"device_id": fleet.device_id}, {"junk": 1}):
        response = client.request(
            method.upper(), path, json=body, headers=caller.headers
        )
        code = response.json().get("code")
        if response.status_code != 400 or code != "authorization-not-accepted":
            failures.append(f"{method} {path} {body} -> {response.status_code} {code}")
    return failures


def _leaks(text: str, secrets: set[str], sent: str) -> set[str]:
    """A's identifiers or names in a response that the caller did not send itself."""
    return {secret for secret in secrets if secret in text and secret not in sent}


def test_other_tenant_token_cannot_read_or_change_any_route(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Tenant B's administrator reaches none of tenant A's data through any route."""
    fleet = build_fleet(client, admin, admin)
    rollout_id = _deployment_rollout(client, admin, fleet)
    secrets = set(fleet.ids.values()) | {"Contoso", "Gateway", "fleet reader"}
    secrets.add(rollout_id)
    before = _snapshot(client, admin, fleet)
    document = client.get("/openapi.json").json()
    path_values = _path_values(fleet) | {"rollout_id": rollout_id}
    failures: list[str] = []
    walked = 0
    for template, operations in sorted(document["paths"].items()):
        if not template.startswith(f"{API}/"):
            continue
        for method, operation in sorted(operations.items()):
            path_params = [
                p["name"] for p in operation.get("parameters", []) if p["in"] == "path"
            ]
            missing = set(path_params) - set(path_values)
            assert not missing, f"{template}: name a resource for {missing}"
            path = template.format(**{name: path_values[name] for name in path_params})
            if template.startswith(DEVICE_ROUTES):
                walked += 1
                failures.extend(
                    _device_route_refuses(client, method, path, other_tenant, fleet)
                )
                continue
            allowed = OTHER_REFUSALS.get((method.upper(), template), {})
            for body, query in _variants(document, operation, fleet, walked):
                walked += 1
                response = client.request(
                    method.upper(),
                    path,
                    params=query,
                    json=body,
                    headers=other_tenant.headers,
                )
                where = f"{method.upper()} {template} body={body} query={query}"
                status = response.status_code
                refused = status in {403, 404} or (
                    status in allowed and response.json().get("code") == allowed[status]
                )
                collection_ok = not path_params and 200 <= status < 300
                if not (refused or collection_ok):
                    failures.append(f"{where} -> {status} {response.text[:200]}")
                leaked = _leaks(response.text, secrets, f"{path} {body} {query}")
                if leaked:
                    failures.append(f"{where} leaked {leaked}: {response.text[:200]}")
    assert failures == []
    assert walked >= 40, f"walked only {walked} calls: is the document complete?"
    assert _snapshot(client, admin, fleet) == before


@pytest.mark.parametrize("role", ["administrator", "contributor", "reader"])
def test_other_tenant_cannot_see_a_single_resource_by_id(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess, role: str
) -> None:
    """Every GET by ID of an A resource is a 404 (or 403) for any role of tenant B."""
    fleet = build_fleet(client, admin, admin)
    created = client.post(
        f"{API}/tokens", json={"name": role, "role": role}, headers=other_tenant.headers
    )
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    for path in (
        f"/tenants/{fleet.tenant_id}",
        f"/products/{fleet.product_id}",
        f"/device-groups/{fleet.group_id}",
        f"/devices/{fleet.device_id}",
        f"/operations/{fleet.operation_id}",
        f"/ca-certificates/{fleet.ca_id}",
        f"/ca-certificates/{fleet.ca_id}?format=der",
    ):
        response = client.get(f"{API}{path}", headers=headers)
        assert response.status_code in {403, 404}, (path, response.text)
    for path in (
        "/products",
        "/device-groups",
        "/devices",
        "/tenants",
        "/ca-certificates",
        "/ca-certificates/chain",
    ):
        response = client.get(f"{API}{path}", headers=headers)
        assert response.status_code == 200
        assert not _leaks(response.text, set(fleet.ids.values()), path)


def test_other_tenant_cannot_learn_names_exist_through_conflicts(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Names are unique per tenant: B reusing A's names is no conflict (no oracle)."""
    build_fleet(client, admin, admin)
    product = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=other_tenant.headers
    )
    assert product.status_code == 201, product.text
    token = client.post(
        f"{API}/tokens", json={"name": "fleet reader"}, headers=other_tenant.headers
    )
    assert token.status_code == 201, token.text


def test_every_api_route_requires_authentication(
    client: TestClient, admin: TenantAccess
) -> None:
    """No token means 401 on every /api/v1 operation, whatever the input."""
    fleet = build_fleet(client, admin, admin)
    document = client.get("/openapi.json").json()
    path_values = _path_values(fleet)
    checked = 0
    for template, operations in document["paths"].items():
        if not template.startswith(f"{API}/"):
            continue
        for method, operation in operations.items():
            path = template.format(**path_values)
            if template.startswith(DEVICE_ROUTES):
                # No token is how devices call; any token at all is refused.
                failures = _device_route_refuses(
                    client, method, path, TenantAccess("", "nonsense"), fleet
                )
                assert failures == []
                continue
            for body, query in [
                *_variants(document, operation, fleet),
                ({"junk": "\x00"}, {}),
            ]:
                for headers in ({}, {"Authorization": "Bearer nonsense"}):
                    response = client.request(
                        method.upper(), path, params=query, json=body, headers=headers
                    )
                    assert response.status_code == 401, (method, template, body)
                    assert response.json()["code"] == "unauthenticated"
                    checked += 1
    assert checked >= 100
    assert _snapshot(client, admin, fleet)
