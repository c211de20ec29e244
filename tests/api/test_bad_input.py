"""Bad input: every error is a problem document with a stable code, never a 500."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.service.app import create_app
from sevenfold.service.settings import ServiceSettings
from tests.api.tenancy_support import API, assert_problem, build_fleet
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.live_server import live_server
from tests.support.manufacturer import signed_records

SMALL_LIMIT = 4096

# Every name-like field of every create route, as (path, body builder).
NAME_ROUTES = ["products", "tenants", "tokens", "device-groups"]
CONTROL_CHARACTERS = ["\x00", "\n", "\x1f"]


def _bad_device_id() -> list[dict[str, Any]]:
    """A signed record whose device ID is then replaced by one not on P-256."""
    (record,) = signed_records(new_device_ids(1))
    return [{**record, "device_id": "ab" * 64}]


def _create(
    client: TestClient, admin: TenantAccess, kind: str, name: Any
) -> httpx.Response:
    if kind == "device-groups":
        product = client.post(
            f"{API}/products", json={"name": "Base"}, headers=admin.headers
        )
        product_id = product.json()["id"] if product.status_code == 201 else None
        if product_id is None:
            product_id = client.get(f"{API}/products", headers=admin.headers).json()[0][
                "id"
            ]
        path = f"{API}/products/{product_id}/device-groups"
    else:
        path = f"{API}/{kind}"
    response: httpx.Response = client.post(
        path, json={"name": name}, headers=admin.headers
    )
    return response


@pytest.fixture
def small_app(settings: ServiceSettings, clock: ManualClock, app: FastAPI) -> FastAPI:
    """The same database behind an app whose body limit is a few kilobytes."""
    limited = settings.model_copy(update={"max_body_bytes": SMALL_LIMIT})
    return create_app(
        limited, clock=clock, engine=app.state.sevenfold.engine, run_operations=False
    )


def test_malformed_json_is_a_validation_problem(
    client: TestClient, admin: TenantAccess
) -> None:
    """A body that is not JSON gets a 422 validation-error naming the body."""
    response = client.post(
        f"{API}/products",
        content=b'{"name": "Gate',
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["location"][0] == "body"


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/products", {"name": 5}),
        ("/products", {"name": ["Gateway"]}),
        ("/products", []),
        ("/products", "Gateway"),
        ("/tokens", {"name": "x", "expires_in_days": "soon"}),
        ("/tokens", {"name": "x", "expires_in_days": 0}),
        ("/tokens", {"name": "x", "expires_in_days": 10_000}),
        ("/tokens", {"name": "x", "role": "owner"}),
        ("/device-claims", {"device_ids": "abc"}),
        ("/device-claims", {"device_ids": []}),
        ("/device-claims", {"device_ids": ["ab"] * 1001}),
        ("/manufacturing/device-registrations", {"device_ids": new_device_ids(1)}),
        ("/manufacturing/device-registrations", {"records": []}),
        ("/manufacturing/device-registrations", {"records": [{"v": 1}]}),
        ("/manufacturing/device-registrations", {"records": _bad_device_id()}),
    ],
)
def test_wrong_types_and_out_of_range_values_are_validation_problems(
    client: TestClient, admin: TenantAccess, path: str, payload: Any
) -> None:
    """Wrong types, ranges, enums and invalid device IDs are 422, not 500."""
    response = client.post(f"{API}{path}", json=payload, headers=admin.headers)
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("kind", NAME_ROUTES)
def test_extra_fields_are_refused(
    client: TestClient, admin: TenantAccess, kind: str
) -> None:
    """Unknown fields are an error, not silently ignored (no mass assignment)."""
    path = f"{API}/{kind}" if kind != "device-groups" else f"{API}/products"
    response = client.post(
        path, json={"name": "Fine", "tenant_id": "x"}, headers=admin.headers
    )
    body = assert_problem(response, 422, "validation-error")
    assert "tenant_id" in body["errors"][0]["location"]


@pytest.mark.parametrize("kind", NAME_ROUTES)
def test_over_long_names_are_refused(
    client: TestClient, admin: TenantAccess, kind: str
) -> None:
    """Names have a maximum length on every create route."""
    assert_problem(_create(client, admin, kind, "n" * 101), 422, "validation-error")
    assert_problem(_create(client, admin, kind, "   "), 422, "validation-error")


@pytest.mark.parametrize("kind", NAME_ROUTES)
@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=repr)
def test_control_characters_in_names_are_refused(
    client: TestClient, admin: TenantAccess, kind: str, char: str
) -> None:
    """NUL, newlines and escapes never reach the database or the audit log."""
    response = _create(client, admin, kind, f"bad{char}name")
    assert_problem(response, 422, "validation-error")


def test_over_long_description_and_patch_fields_are_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """Patches are validated like creates."""
    fleet = build_fleet(client, admin, admin)
    for path, payload in [
        (f"/products/{fleet.product_id}", {"description": "d" * 201}),
        (f"/products/{fleet.product_id}", {"name": "a\x00b"}),
        (f"/products/{fleet.product_id}", {"owner": "me"}),
        (f"/device-groups/{fleet.group_id}", {"os_feed": "beta"}),
        (f"/device-groups/{fleet.group_id}", {"app_updates": "sometimes"}),
        (f"/devices/{fleet.device_id}", {"device_group_id": "../../etc"}),
        (f"/devices/{fleet.device_id}", {}),
    ]:
        response = client.patch(f"{API}{path}", json=payload, headers=admin.headers)
        assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize(
    "path",
    [
        "/products/bad%00id",
        "/products/" + "a" * 129,
        "/products/semi;colon",
        "/devices/" + "ab" * 63,
        "/devices/" + "zz" * 64,
        "/devices?limit=0",
        "/devices?limit=1001",
        "/devices?cursor=%21%21",
        "/devices?status=lost",
        "/audit-events?cursor=AAAA",
    ],
)
def test_bad_path_and_query_parameters_are_validation_problems(
    client: TestClient, admin: TenantAccess, path: str
) -> None:
    """Odd bytes and out-of-range parameters are a 422, never a database error."""
    response = client.get(f"{API}{path}", headers=admin.headers)
    assert_problem(response, 422, "validation-error")


def test_unknown_path_is_a_not_found_problem(client: TestClient) -> None:
    """Routing misses are problems too."""
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not-found")
    assert_problem(client.get("/nothing"), 404, "not-found")


def test_wrong_method_is_a_method_not_allowed_problem(
    client: TestClient, admin: TenantAccess
) -> None:
    """A known path with an unsupported method is a 405 problem."""
    for method, path in [("PUT", "/products"), ("DELETE", "/tenants")]:
        response = client.request(method, f"{API}{path}", headers=admin.headers)
        assert_problem(response, 405, "method-not-allowed")


def test_oversized_body_with_content_length_is_refused(
    small_app: FastAPI, admin: TenantAccess
) -> None:
    """A declared body over max_body_bytes is a 413 before the app sees it."""
    with TestClient(small_app) as client:
        response = client.post(
            f"{API}/products",
            content=b"x" * (SMALL_LIMIT + 1),
            headers={**admin.headers, "Content-Type": "application/json"},
        )
        assert_problem(response, 413, "body-too-large")
        fits = client.post(
            f"{API}/products",
            json={"name": "Gateway", "description": "d" * 150},
            headers=admin.headers,
        )
        assert fits.status_code == 201


def test_oversized_chunked_body_is_refused_before_it_is_read_in_full(
    small_app: FastAPI, admin: TenantAccess
) -> None:
    """A body without Content-Length is cut off soon after it passes the limit."""
    produced = 0
    chunk = b" " * 16_384
    total_chunks = 4096  # 64 MiB: far more than loopback socket buffers can hold

    def body() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(total_chunks):
            produced += 1
            yield chunk

    with live_server(small_app) as url:
        try:
            response = httpx.post(
                f"{url}{API}/products",
                content=body(),
                headers={**admin.headers, "Content-Type": "application/json"},
                timeout=10,
            )
        except httpx.TransportError:  # the server may close while we still write
            pytest.fail("the service closed the connection without a 413")
        assert_problem(response, 413, "body-too-large")
    assert produced < total_chunks // 4, produced  # stopped well before 16 MiB


def test_small_chunked_body_still_works(
    small_app: FastAPI, admin: TenantAccess
) -> None:
    """Reading ahead a chunked body does not lose it."""
    parts = [b'{"name": ', b'"Chunked ', b'Gateway"}']
    with TestClient(small_app) as client:
        response = client.post(
            f"{API}/products",
            content=iter(parts),
            headers={**admin.headers, "Content-Type": "application/json"},
        )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Chunked Gateway"
