"""API helpers for fleet tests: register and claim devices, make products and tokens.

Each helper asserts the status it expects, so a test reads as the flow it checks.
"""

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.support.devices import new_device_ids
from tests.support.manufacturer import signed_records

Headers = dict[str, str]
Json = dict[str, Any]

REGISTRATIONS = "/api/v1/manufacturing/device-registrations"
OPERATION_TIMEOUT_S = 30.0


def bearer(token: str) -> Headers:
    """Authorization header for a token text."""
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: Any, status: int, code: str) -> Json:
    """Assert a problem+json response with this status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: Json = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


def register(client: TestClient, headers: Headers, device_ids: list[str]) -> Json:
    """Register devices from records signed by the (trusted) test manufacturer key.

    ``headers`` is a platform credential; returns the counts.
    """
    response = client.post(
        REGISTRATIONS, json={"records": signed_records(device_ids)}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def claim(
    client: TestClient, headers: Headers, device_id: str, group_id: str | None = None
) -> Json:
    """Claim one device (into a group, if given); return the device."""
    body = {"device_group_id": group_id} if group_id is not None else None
    response = client.post(
        f"/api/v1/devices/{device_id}/claim", json=body, headers=headers
    )
    assert response.status_code == 200, response.text
    device: Json = response.json()
    return device


def claimed_devices(
    client: TestClient,
    headers: Headers,
    count: int,
    *,
    group_id: str | None = None,
    registrar: Headers | None = None,
) -> list[str]:
    """Register ``count`` new devices (as ``registrar``), claim them; sorted IDs."""
    device_ids = new_device_ids(count)
    register(client, registrar or headers, device_ids)
    for device_id in device_ids:
        claim(client, headers, device_id, group_id)
    return sorted(device_ids)


def create_product(client: TestClient, headers: Headers, name: str) -> Json:
    """Create a product; return it."""
    response = client.post("/api/v1/products", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    product: Json = response.json()
    return product


def groups_by_name(
    client: TestClient, headers: Headers, product_id: str
) -> dict[str, Json]:
    """Return a product's device groups keyed by name."""
    response = client.get(
        "/api/v1/device-groups", params={"product_id": product_id}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {group["name"]: group for group in response.json()}


def device(client: TestClient, headers: Headers, device_id: str) -> Json:
    """Show one device of the caller's tenant."""
    response = client.get(f"/api/v1/devices/{device_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def token(
    client: TestClient,
    headers: Headers,
    *,
    role: str | None,
    platform_role: str | None = None,
) -> Headers:
    """Mint a token with the given roles; return its Authorization header."""
    response = client.post(
        "/api/v1/tokens",
        json={
            "name": f"{role}-{platform_role}",
            "role": role,
            "platform_role": platform_role,
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return bearer(response.json()["token"])


def wait_for_operation(client: TestClient, headers: Headers, operation_id: str) -> Json:
    """Poll an operation until it has finished; return it."""
    deadline = time.monotonic() + OPERATION_TIMEOUT_S
    while True:
        response = client.get(f"/api/v1/operations/{operation_id}", headers=headers)
        assert response.status_code == 200, response.text
        operation: Json = response.json()
        if operation["status"] not in {"not-started", "in-progress"}:
            return operation
        assert time.monotonic() < deadline, f"operation still {operation['status']}"
        time.sleep(0.02)
