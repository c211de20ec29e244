"""Bulk claim: an asynchronous operation with per-device results (up to 1,000 IDs)."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.service.operations import service as operations
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.fleet import (
    Headers,
    Json,
    assert_problem,
    claim,
    create_product,
    device,
    groups_by_name,
    register,
    token,
    wait_for_operation,
)

CLAIMS = "/api/v1/device-claims"
NOT_A_POINT = "1" * 128


def _start(client: TestClient, headers: Headers, body: Json) -> Json:
    response = client.post(CLAIMS, json=body, headers=headers)
    assert response.status_code == 202, response.text
    operation: Json = response.json()
    return operation


def _bulk_claim(client: TestClient, headers: Headers, device_ids: list[str]) -> Json:
    operation = _start(client, headers, {"device_ids": device_ids})
    return wait_for_operation(client, headers, operation["id"])


def _show(client: TestClient, headers: Headers, operation_id: str) -> Json:
    response = client.get(f"/api/v1/operations/{operation_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def _outcomes(operation: Json) -> dict[str, str]:
    return {result["item"]: result["outcome"] for result in operation["results"]}


class Gate:
    """Holds the runner at one step until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()

    def wrap(self, step: Callable[..., Any], *, skip: Any = ...) -> Callable[..., Any]:
        """Return ``step`` that waits (or returns ``skip`` at once) while closed."""

        def gated(*args: Any, **kwargs: Any) -> Any:
            if skip is not ...:
                if not self.open.is_set():
                    return skip
            else:
                assert self.open.wait(timeout=30), "the test never opened the gate"
            return step(*args, **kwargs)

        return gated


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gate, Gate]]:
    """(lease gate, batch gate): the runner neither leases nor claims until opened."""
    lease, batch = Gate(), Gate()
    monkeypatch.setattr(
        operations, "lease_next", lease.wrap(operations.lease_next, skip=None)
    )
    monkeypatch.setattr(operations, "_claim_batch", batch.wrap(operations._claim_batch))
    yield lease, batch
    lease.open.set()
    batch.open.set()


def test_bulk_claim_moves_through_not_started_in_progress_complete(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    gates: tuple[Gate, Gate],
) -> None:
    """202 with a queued operation; the runner takes it, claims, and completes."""
    lease, batch = gates
    device_ids = new_device_ids(3)
    register(client, admin.headers, device_ids)
    started = _start(client, admin.headers, {"device_ids": device_ids})
    assert started["status"] == "not-started"
    assert started["kind"] == "bulk-claim"
    assert (started["total"], started["processed"], started["results"]) == (3, 0, [])
    time.sleep(0.1)  # several runner polls: nothing may be taken while leasing waits
    assert _show(client, admin.headers, started["id"])["status"] == "not-started"

    lease.open.set()
    deadline = time.monotonic() + 10
    while (now := _show(client, admin.headers, started["id"]))["status"] != (
        "in-progress"
    ):
        assert now["status"] == "not-started"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert now["started_at"] is not None
    assert now["processed"] == 0
    unclaimed = client.get(f"/api/v1/devices/{device_ids[0]}", headers=admin.headers)
    assert unclaimed.status_code == 404

    batch.open.set()
    done = wait_for_operation(client, admin.headers, started["id"])
    assert done["status"] == "complete"
    assert done["processed"] == 3
    assert done["completed_at"] is not None
    assert done["counts"] == {"claimed": 3}
    assert _outcomes(done) == dict.fromkeys(device_ids, "claimed")
    for device_id in device_ids:
        assert device(client, admin.headers, device_id)["status"] == "claimed"


def test_crashed_runner_resumes_after_its_lease_expires(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash after one batch: the next lease resumes, claiming nothing twice."""
    crashed = threading.Event()
    real_batch = operations._claim_batch

    def crash_on_second_batch(*args: Any, **kwargs: Any) -> None:
        if not crashed.is_set() and args[2].processed > 0:
            crashed.set()
            raise RuntimeError("simulated crash of the runner")
        real_batch(*args, **kwargs)

    monkeypatch.setattr(operations, "_claim_batch", crash_on_second_batch)
    device_ids = new_device_ids(150)  # two batches of the default 100
    register(client, admin.headers, device_ids)
    started = _start(client, admin.headers, {"device_ids": device_ids})
    assert crashed.wait(timeout=30)
    time.sleep(0.1)  # the lease has not expired: nobody takes the operation over
    stuck = _show(client, admin.headers, started["id"])
    assert (stuck["status"], stuck["processed"]) == ("in-progress", 100)
    clock.advance(operations.LEASE_S + 1)
    done = wait_for_operation(client, admin.headers, started["id"])
    assert done["status"] == "complete"
    assert done["counts"] == {"claimed": 150}


def test_mixed_batch_completes_with_errors_and_per_device_results(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Each ID gets its own outcome; the good ones are claimed all the same."""
    fresh, mine, theirs, unknown = new_device_ids(4)
    register(client, admin.headers, [fresh, mine, theirs])
    claim(client, admin.headers, mine)
    claim(client, other_tenant.headers, theirs)
    done = _bulk_claim(
        client, admin.headers, [fresh, mine, theirs, unknown, NOT_A_POINT, "xyz"]
    )
    assert done["status"] == "complete-with-errors"
    assert done["total"] == 6
    assert _outcomes(done) == {
        fresh: "claimed",
        mine: "already-claimed-by-this-tenant",
        theirs: "already-claimed",
        unknown: "not-registered",
        NOT_A_POINT: "invalid-device-id",
        "xyz": "invalid-device-id",
    }
    assert done["counts"] == {
        "claimed": 1,
        "already-claimed-by-this-tenant": 1,
        "already-claimed": 1,
        "not-registered": 1,
        "invalid-device-id": 2,
    }
    assert all(result["detail"] for result in done["results"])
    assert device(client, admin.headers, fresh)["status"] == "claimed"
    stolen = client.get(f"/api/v1/devices/{theirs}", headers=admin.headers)
    assert_problem(stolen, 404, "not-found")
    assert device(client, other_tenant.headers, theirs)["status"] == "claimed"


def test_bulk_claim_fails_when_no_device_could_be_claimed(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Nothing claimed (unregistered, invalid, someone else's) is a failed operation."""
    theirs, unknown = new_device_ids(2)
    register(client, admin.headers, [theirs])
    claim(client, other_tenant.headers, theirs)
    done = _bulk_claim(client, admin.headers, [theirs, unknown, NOT_A_POINT])
    assert done["status"] == "failed"
    assert done["counts"] == {
        "already-claimed": 1,
        "not-registered": 1,
        "invalid-device-id": 1,
    }
    assert device(client, other_tenant.headers, theirs)["status"] == "claimed"


def test_rerun_of_own_claims_is_complete_not_failed(
    client: TestClient, admin: TenantAccess
) -> None:
    """Devices already this tenant's count as success: a retried file is idempotent."""
    device_ids = new_device_ids(2)
    register(client, admin.headers, device_ids)
    assert _bulk_claim(client, admin.headers, device_ids)["status"] == "complete"
    again = _bulk_claim(client, admin.headers, device_ids)
    assert again["status"] == "complete"
    assert again["counts"] == {"already-claimed-by-this-tenant": 2}


def test_bulk_claim_into_a_group_and_duplicates_count_once(
    client: TestClient, admin: TenantAccess
) -> None:
    """Devices land in the named group; a repeated ID is one item."""
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Field Test"]
    device_ids = new_device_ids(2)
    register(client, admin.headers, device_ids)
    body = {"device_ids": [*device_ids, device_ids[0]], "device_group_id": group["id"]}
    started = _start(client, admin.headers, body)
    assert started["total"] == 2
    done = wait_for_operation(client, admin.headers, started["id"])
    assert done["status"] == "complete"
    for device_id in device_ids:
        claimed = device(client, admin.headers, device_id)
        assert claimed["device_group_id"] == group["id"]
        assert claimed["product_id"] == product["id"]


def test_bulk_claim_into_another_tenants_group_is_refused(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """A foreign group ID is not found, before any device is touched."""
    product = create_product(client, other_tenant.headers, "Sensor")
    foreign = groups_by_name(client, other_tenant.headers, product["id"])["Production"]
    device_ids = new_device_ids(1)
    register(client, admin.headers, device_ids)
    response = client.post(
        CLAIMS,
        json={"device_ids": device_ids, "device_group_id": foreign["id"]},
        headers=admin.headers,
    )
    assert_problem(response, 404, "not-found")
    assert claim(client, other_tenant.headers, device_ids[0])["status"] == "claimed"


def test_1000_ids_are_accepted_and_1001_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """The Azure Sphere limit: 1,000 per operation, all claimed in batches."""
    device_ids = new_device_ids(1001)
    register(client, admin.headers, device_ids[:1000])
    refused = client.post(
        CLAIMS, json={"device_ids": device_ids}, headers=admin.headers
    )
    assert_problem(refused, 422, "validation-error")
    done = _bulk_claim(client, admin.headers, device_ids[:1000])
    assert done["status"] == "complete"
    assert (done["total"], done["processed"]) == (1000, 1000)
    assert done["counts"] == {"claimed": 1000}
    listing = client.get(
        "/api/v1/devices", params={"limit": 1000}, headers=admin.headers
    ).json()
    assert len(listing["items"]) == 1000


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"device_ids": []}, id="empty"),
        pytest.param({"device_ids": ["a" * 201]}, id="id-too-long"),
        pytest.param({"device_ids": "abc"}, id="not-a-list"),
        pytest.param({"device_ids": ["abc"], "device_group_id": "x/y"}, id="bad-group"),
        pytest.param({"device_ids": ["abc"], "tenant_id": "x"}, id="extra-field"),
    ],
)
def test_malformed_bulk_claim_is_refused(
    client: TestClient, admin: TenantAccess, body: Json
) -> None:
    """The request shape is checked up front: 422 and no operation."""
    response = client.post(CLAIMS, json=body, headers=admin.headers)
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("poison", ["ab\x00cd", "\x00", "ab\ncd", "ab\x7fcd"])
def test_poison_bulk_claim_with_control_characters_cannot_wedge_the_runner(
    client: TestClient, admin: TenantAccess, poison: str
) -> None:
    """A NUL in an ID once left the operation in-progress forever on PostgreSQL."""
    device_ids = new_device_ids(1)
    register(client, admin.headers, device_ids)
    response = client.post(
        CLAIMS, json={"device_ids": [*device_ids, poison]}, headers=admin.headers
    )
    assert_problem(response, 422, "validation-error")
    assert _bulk_claim(client, admin.headers, device_ids)["status"] == "complete"


def test_operation_snooping_by_another_tenant(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """Another tenant cannot read an operation (its device IDs and results)."""
    device_ids = new_device_ids(1)
    register(client, admin.headers, device_ids)
    done = _bulk_claim(client, admin.headers, device_ids)
    response = client.get(
        f"/api/v1/operations/{done['id']}", headers=other_tenant.headers
    )
    assert_problem(response, 404, "not-found")
    missing = client.get("/api/v1/operations/no-such-op", headers=admin.headers)
    assert_problem(missing, 404, "not-found")


def test_reader_cannot_start_a_bulk_claim_but_can_follow_one(
    client: TestClient, admin: TenantAccess
) -> None:
    """Claiming is a write; following an operation is a read."""
    reader = token(client, admin.headers, role="reader")
    device_ids = new_device_ids(1)
    register(client, admin.headers, device_ids)
    refused = client.post(CLAIMS, json={"device_ids": device_ids}, headers=reader)
    assert_problem(refused, 403, "forbidden")
    done = _bulk_claim(client, admin.headers, device_ids)
    assert _show(client, reader, done["id"])["status"] == "complete"
