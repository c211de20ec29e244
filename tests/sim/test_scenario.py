"""The foundation scenario against a real service over HTTP, on both backends."""

import asyncio

import httpx
import pytest

from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.vocabulary import OperationStatus
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import Fleet
from sevenfold.sim.errors import ServiceProblemError
from sevenfold.sim.report import fleet_lines
from sevenfold.sim.scenario import FleetOperator, FleetPlan, FleetSummary
from tests.conftest import TenantAccess
from tests.sim.conftest import MakeFleet


def _run(
    live_url: str, token: str, fleet: Fleet, plan: FleetPlan | None = None
) -> FleetSummary:
    async def scenario() -> FleetSummary:
        async with OperatorClient(live_url, token) as client:
            operator = FleetOperator(client, plan=plan, poll_interval_s=0.02)
            return await operator.run(fleet)

    return asyncio.run(scenario())


def test_fleet_is_registered_claimed_and_grouped(
    live_url: str, admin: TenantAccess, make_fleet: MakeFleet
) -> None:
    fleet = make_fleet(12)
    summary = _run(live_url, admin.token, fleet)

    assert summary.registered == 12
    assert summary.already_registered == 0
    assert summary.claimed == 12
    assert summary.moved == 8
    [operation] = summary.operations
    assert operation.status is OperationStatus.COMPLETE
    assert operation.counts == {"claimed": 12}
    counts = {group.name: group.device_count for group in summary.groups}
    assert counts == {
        "Development": 0,
        "Field Test": 4,
        "Production": 6,
        "Field Test OS Evaluation": 0,
        "Production OS Evaluation": 2,
    }
    assert summary.elapsed_s >= 0

    # The service agrees, read independently of the simulator's client.
    listed = httpx.get(
        f"{live_url}/api/v1/devices",
        params={"limit": 100, "product_id": summary.product.id},
        headers=admin.headers,
    ).json()["items"]
    assert sorted(device["id"] for device in listed) == sorted(fleet.device_ids)
    assert all(device["status"] == "claimed" for device in listed)


def test_fleet_larger_than_a_page_and_a_bulk_claim(
    live_url: str, admin: TenantAccess, make_fleet: MakeFleet
) -> None:
    fleet = make_fleet(1005)
    summary = _run(
        live_url, admin.token, fleet, FleetPlan(moves=(("Production", 0.01),))
    )
    assert summary.claimed == 1005
    assert [operation.total for operation in summary.operations] == [1000, 5]
    assert sum(group.device_count for group in summary.groups) == 1005
    assert {g.name: g.device_count for g in summary.groups}["Production"] == 10


def test_report_names_product_groups_and_operation(
    live_url: str, admin: TenantAccess, make_fleet: MakeFleet
) -> None:
    summary = _run(live_url, admin.token, make_fleet(3))
    text = "\n".join(fleet_lines(summary))
    assert f"Product: Sim Gateway ({summary.product.id})" in text
    assert "Devices claimed: 3" in text
    assert summary.operations[0].operation_id in text
    for name in ("Development", "Field Test", "Production OS Evaluation"):
        assert name in text


def test_second_tenant_cannot_claim_the_fleet_again(
    live_url: str,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    make_fleet: MakeFleet,
) -> None:
    fleet = make_fleet(2)
    _run(live_url, admin.token, fleet)

    async def claim_again() -> None:
        async with OperatorClient(live_url, other_tenant.token) as client:
            await client.claim_device(fleet[0].device_id)

    with pytest.raises(ServiceProblemError) as caught:
        asyncio.run(claim_again())
    assert caught.value.code is ProblemCode.DEVICE_ALREADY_CLAIMED


def test_bad_token_is_refused(
    live_url: str, admin: TenantAccess, make_fleet: MakeFleet
) -> None:
    with pytest.raises(ServiceProblemError) as caught:
        _run(live_url, "sf_not_a_token", make_fleet(1))
    assert caught.value.code is ProblemCode.UNAUTHENTICATED
