"""Shared builders for the tenancy, access, audit and isolation tests.

Everything goes through the public API, as an operator would: a token is minted with
``POST /api/v1/tokens``, a fleet is built with products, groups and claims.
"""

import time
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from sevenfold.protocol.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.images import (
    build_package,
    make_signing_key,
    register_signing_key,
    upload_ok,
)
from tests.support.manufacturer import signed_records

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def mint_token(
    client: TestClient,
    creator: TenantAccess,
    *,
    role: str | None = "reader",
    platform_role: str | None = None,
    name: str = "minted",
    expires_in_days: int = 90,
) -> dict[str, Any]:
    """Create a token as ``creator``; return the created-token body (with ``token``)."""
    response = client.post(
        f"{API}/tokens",
        json={
            "name": name,
            "role": role,
            "platform_role": platform_role,
            "expires_in_days": expires_in_days,
        },
        headers=creator.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def access_with_role(
    client: TestClient, creator: TenantAccess, role: str
) -> TenantAccess:
    """A token of ``role`` in the creator's tenant."""
    body = mint_token(client, creator, role=role, name=f"{role} token")
    return TenantAccess(tenant_id=creator.tenant_id, token=body["token"])


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem with a stable code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE)
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM_TYPE_PREFIX + code, body
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@dataclass(frozen=True, slots=True)
class Fleet:
    """Real resources of one tenant, made through the API."""

    tenant_id: str
    product_id: str
    group_id: str
    other_group_id: str
    device_id: str
    token_id: str
    operation_id: str
    ca_id: str
    measurement_id: str
    image_id: str
    deployment_id: str

    @property
    def ids(self) -> dict[str, str]:
        """Every identifier of the fleet by kind."""
        return {
            "tenant_id": self.tenant_id,
            "product_id": self.product_id,
            "group_id": self.group_id,
            "other_group_id": self.other_group_id,
            "device_id": self.device_id,
            "token_id": self.token_id,
            "operation_id": self.operation_id,
            "ca_id": self.ca_id,
            "measurement_id": self.measurement_id,
            "image_id": self.image_id,
            "deployment_id": self.deployment_id,
        }


def register_devices(
    client: TestClient, platform: TenantAccess, count: int
) -> list[str]:
    """Register ``count`` fresh device IDs as the platform administrator."""
    device_ids = new_device_ids(count)
    response = client.post(
        f"{API}/manufacturing/device-registrations",
        json={"records": signed_records(device_ids)},
        headers=platform.headers,
    )
    assert response.status_code == 200, response.text
    return device_ids


def build_fleet(
    client: TestClient, owner: TenantAccess, platform: TenantAccess
) -> Fleet:
    """A product, its groups, a claimed device, a token, a finished bulk claim and an
    app image."""
    product = client.post(
        f"{API}/products", json={"name": "Gateway"}, headers=owner.headers
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    groups = client.get(
        f"{API}/device-groups", params={"product_id": product_id}, headers=owner.headers
    ).json()
    device_id, bulk_id = register_devices(client, platform, 2)
    claim = client.post(
        f"{API}/devices/{device_id}/claim",
        json={"device_group_id": groups[0]["id"]},
        headers=owner.headers,
    )
    assert claim.status_code == 200, claim.text
    token = mint_token(client, owner, role="reader", name="fleet reader")
    operation = client.post(
        f"{API}/device-claims",
        json={"device_ids": [bulk_id], "device_group_id": groups[0]["id"]},
        headers=owner.headers,
    )
    assert operation.status_code == 202, operation.text
    operation_id = operation.json()["id"]
    wait_for_operation(client, owner, operation_id)
    cas = client.get(f"{API}/ca-certificates", headers=owner.headers)
    assert cas.status_code == 200, cas.text
    measurement = client.post(
        f"{API}/products/{product_id}/approved-measurements",
        json={"kind": "os", "sha256": "ab" * 32, "version": "26.11", "label": "OS"},
        headers=owner.headers,
    )
    assert measurement.status_code == 201, measurement.text
    image_key = make_signing_key()
    register_signing_key(client, owner.token, image_key)
    image_id = upload_ok(client, owner.token, build_package(image_key))
    deployment = client.post(
        f"{API}/device-groups/{groups[0]['id']}/deployments",
        json={"image_ids": [image_id]},
        headers=owner.headers,
    )
    assert deployment.status_code == 201, deployment.text
    return Fleet(
        tenant_id=owner.tenant_id,
        product_id=product_id,
        group_id=groups[0]["id"],
        other_group_id=groups[1]["id"],
        device_id=device_id,
        token_id=token["id"],
        operation_id=operation_id,
        ca_id=cas.json()[0]["id"],
        measurement_id=measurement.json()["id"],
        image_id=image_id,
        deployment_id=deployment.json()["id"],
    )


def wait_for_operation(
    client: TestClient, owner: TenantAccess, operation_id: str
) -> dict[str, Any]:
    """Poll an operation until the background runner has finished it."""
    deadline = time.monotonic() + 20
    while True:
        body: dict[str, Any] = client.get(
            f"{API}/operations/{operation_id}", headers=owner.headers
        ).json()
        if body["status"] not in {"not-started", "in-progress"}:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
