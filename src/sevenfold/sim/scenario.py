"""The foundation scenario: an operator brings a new fleet into a tenant.

Steps, all over HTTP: trust a fresh simulated manufacturer key and register the
fleet's identity keys from records it signed (platform administrator credential),
create a product, bulk-claim every device into one of its groups and wait for the
operation, move some devices into other groups, then count devices per group from the
service's own listing and check it against what was done. Later scenarios (attestation,
updates, failures) build on the ``FleetSummary`` this returns.
"""

import asyncio
import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sevenfold.protocol.clock import Clock, SystemClock
from sevenfold.protocol.vocabulary import (
    MAX_BULK_CLAIM_DEVICES,
    ClaimOutcome,
    OperationStatus,
)
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import Fleet
from sevenfold.sim.errors import ScenarioError
from sevenfold.sim.manufacturer import register_fleet
from sevenfold.sim.records import DeviceGroupRecord, OperationRecord, ProductRecord

_IN_TENANT = {ClaimOutcome.CLAIMED, ClaimOutcome.ALREADY_CLAIMED_BY_THIS_TENANT}


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetPlan:
    """What the operator does with the fleet.

    ``moves`` names target groups and the share of the fleet moved into each
    (rounded down); the rest stays in ``claim_group``.
    """

    product_name: str = "Sim Gateway"
    product_description: str = "A simulated Linux gateway"
    claim_group: str = "Field Test"
    moves: tuple[tuple[str, float], ...] = (
        ("Production", 0.5),
        ("Production OS Evaluation", 0.2),
    )

    def move_counts(self, fleet_size: int) -> list[tuple[str, int]]:
        """How many devices go to each target group."""
        counts = [(group, int(share * fleet_size)) for group, share in self.moves]
        if sum(count for _, count in counts) > fleet_size:
            raise ValueError("the plan moves more devices than the fleet has")
        return counts


@dataclass(frozen=True, slots=True)
class GroupCount:
    """A device group and how many devices the service lists in it."""

    group_id: str
    name: str
    os_feed: str
    device_count: int


@dataclass(frozen=True, slots=True)
class OperationSummary:
    """A finished bulk-claim operation."""

    operation_id: str
    status: OperationStatus
    total: int
    counts: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSummary:
    """What the scenario did and what the service now holds."""

    fleet_size: int
    registered: int
    already_registered: int
    product: ProductRecord
    claim_group: str
    operations: list[OperationSummary]
    claimed: int
    moved: int
    groups: list[GroupCount] = field(default_factory=list)
    started_at: datetime
    finished_at: datetime

    @property
    def elapsed_s(self) -> float:
        """Clock time the scenario took."""
        return (self.finished_at - self.started_at).total_seconds()


class FleetOperator:
    """Runs the foundation scenario against one service as one operator."""

    def __init__(
        self,
        client: OperatorClient,
        *,
        clock: Clock | None = None,
        plan: FleetPlan | None = None,
        operation_timeout_s: float = 120.0,
        poll_interval_s: float = 0.05,
        move_concurrency: int = 8,
    ) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._plan = plan or FleetPlan()
        self._operation_timeout_s = operation_timeout_s
        self._poll_interval_s = poll_interval_s
        self._moves = asyncio.Semaphore(move_concurrency)

    async def run(self, fleet: Fleet) -> FleetSummary:
        """Register, create the product, claim, move, and count."""
        started_at = self._clock.now()
        move_counts = self._plan.move_counts(len(fleet))
        registration = await register_fleet(
            self._client, fleet.device_ids, clock=self._clock
        )
        product = await self._client.create_product(
            self._plan.product_name, self._plan.product_description
        )
        groups = {
            group.name: group
            for group in await self._client.list_device_groups(product.id)
        }
        claim_group = _group(groups, self._plan.claim_group)
        operations = await self._claim(fleet.device_ids, claim_group)
        claimed = [
            result.item
            for operation in operations
            for result in operation.results
            if result.outcome in _IN_TENANT
        ]
        expected = Counter({claim_group.id: len(claimed)})
        remaining = iter(claimed)
        moved = 0
        for name, count in move_counts:
            target = _group(groups, name)
            batch = list(itertools.islice(remaining, count))
            await asyncio.gather(*(self._move(d, target.id) for d in batch))
            expected[claim_group.id] -= len(batch)
            expected[target.id] += len(batch)
            moved += len(batch)
        census = await self._census(product.id, groups.values())
        _check(census, expected)
        return FleetSummary(
            fleet_size=len(fleet),
            registered=registration.registered,
            already_registered=registration.already_registered,
            product=product,
            claim_group=claim_group.name,
            operations=[_summarize(operation) for operation in operations],
            claimed=len(claimed),
            moved=moved,
            groups=census,
            started_at=started_at,
            finished_at=self._clock.now(),
        )

    async def _claim(
        self, device_ids: list[str], group: DeviceGroupRecord
    ) -> list[OperationRecord]:
        started = [
            await self._client.start_bulk_claim(
                device_ids[start : start + MAX_BULK_CLAIM_DEVICES], group.id
            )
            for start in range(0, len(device_ids), MAX_BULK_CLAIM_DEVICES)
        ]
        return [
            await self._client.wait_for_operation(
                operation.id,
                timeout_s=self._operation_timeout_s,
                poll_interval_s=self._poll_interval_s,
            )
            for operation in started
        ]

    async def _move(self, device_id: str, group_id: str) -> None:
        async with self._moves:
            await self._client.move_device(device_id, group_id)

    async def _census(
        self, product_id: str, groups: Iterable[DeviceGroupRecord]
    ) -> list[GroupCount]:
        devices = await self._client.list_devices(product_id=product_id)
        counts = Counter(device.device_group_id for device in devices)
        return [
            GroupCount(
                group_id=group.id,
                name=group.name,
                os_feed=group.os_feed.value,
                device_count=counts[group.id],
            )
            for group in groups
        ]


def _group(groups: dict[str, DeviceGroupRecord], name: str) -> DeviceGroupRecord:
    try:
        return groups[name]
    except KeyError:
        raise ScenarioError(
            f"the product has no device group '{name}' (it has: {', '.join(groups)})"
        ) from None


def _summarize(operation: OperationRecord) -> OperationSummary:
    return OperationSummary(
        operation_id=operation.id,
        status=operation.status,
        total=operation.total,
        counts=dict(operation.counts),
    )


def _check(census: list[GroupCount], expected: Counter[str]) -> None:
    """Raise if the service lists other device counts than the scenario produced."""
    listed = {group.group_id: group.device_count for group in census}
    wrong = {
        group_id: (count, listed.get(group_id, 0))
        for group_id, count in expected.items()
        if listed.get(group_id, 0) != count
    }
    if wrong:
        raise ScenarioError(f"device counts per group (expected, listed): {wrong}")
