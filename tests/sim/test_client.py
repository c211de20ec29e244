"""The operator client's own logic, against a scripted transport (no service)."""

import asyncio
import json

import httpx
import pytest

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.errors import (
    OperationTimeoutError,
    ServiceProblemError,
    ServiceUnreachableError,
)
from sevenfold.sim.scenario import FleetPlan


def _operation(status: str) -> dict[str, object]:
    return {
        "id": "op-1",
        "kind": "bulk-claim",
        "status": status,
        "total": 3,
        "processed": 1,
        "counts": {},
        "results": [],
        "created_at": "2026-11-23T00:00:00Z",
    }


def test_waiting_on_an_operation_times_out_in_clock_time() -> None:
    clock = ManualClock()
    polls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(request.url.path)
        return httpx.Response(200, json=_operation("in-progress"))

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    async def scenario() -> None:
        async with OperatorClient(
            "http://sevenfold.test",
            "sf_token",
            clock=clock,
            sleep=sleep,
            transport=httpx.MockTransport(handler),
        ) as client:
            await client.wait_for_operation("op-1", timeout_s=10, poll_interval_s=1)

    with pytest.raises(OperationTimeoutError, match="still in-progress"):
        asyncio.run(scenario())
    assert len(polls) == 11
    assert set(polls) == {"/api/v1/operations/op-1"}


def test_problems_become_typed_errors_without_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer sf_secret"
        return httpx.Response(
            409,
            headers={"content-type": "application/problem+json"},
            content=json.dumps(
                {
                    "type": "urn:sevenfold:problem:device-already-claimed",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "device abc… is already claimed",
                }
            ),
        )

    async def scenario() -> None:
        async with OperatorClient(
            "http://sevenfold.test", "sf_secret", transport=httpx.MockTransport(handler)
        ) as client:
            await client.claim_device("ab" * 64)

    with pytest.raises(ServiceProblemError) as caught:
        asyncio.run(scenario())
    assert caught.value.status == 409
    assert caught.value.code is ProblemCode.DEVICE_ALREADY_CLAIMED
    assert "already claimed" in str(caught.value)
    assert "sf_secret" not in str(caught.value)


def test_plan_never_moves_more_devices_than_the_fleet_has() -> None:
    assert FleetPlan().move_counts(12) == [
        ("Production", 6),
        ("Production OS Evaluation", 2),
    ]
    with pytest.raises(ValueError, match="more devices"):
        FleetPlan(moves=(("Production", 0.8), ("Field Test", 0.5))).move_counts(10)


def test_unreachable_service_is_a_sim_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def scenario() -> None:
        async with OperatorClient(
            "http://sevenfold.test", "sf_t", transport=httpx.MockTransport(handler)
        ) as client:
            await client.create_product("Gateway")

    with pytest.raises(ServiceUnreachableError, match="no answer"):
        asyncio.run(scenario())
