"""Claim many devices through the service's bulk-claim operations, with progress.

The service takes up to 1,000 IDs per operation (Azure Sphere's limit); a longer list
becomes several operations, run one after another. Each is polled until it finishes;
the progress bar (on stderr) counts devices processed across all of them. Re-running
the same list is safe: devices this tenant already owns come back as
``already-claimed-by-this-tenant``, which counts as success.
"""

import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from sevenfold.cli.client import ServiceClient
from sevenfold.cli.device_lists import batches
from sevenfold.cli.errors import ServerError, UnreachableError
from sevenfold.protocol.vocabulary import (
    MAX_BULK_CLAIM_DEVICES,
    ClaimOutcome,
    OperationStatus,
)

SUCCESSFUL_OUTCOMES = frozenset(
    {ClaimOutcome.CLAIMED.value, ClaimOutcome.ALREADY_CLAIMED_BY_THIS_TENANT.value}
)


@dataclass(slots=True)
class BulkClaimResult:
    """The combined outcome of every operation of one bulk claim."""

    total: int
    operations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def results(self) -> list[dict[str, Any]]:
        """Every per-device result, in the order the operations returned them."""
        return [result for op in self.operations for result in op["results"]]

    @property
    def counts(self) -> dict[str, int]:
        """How many devices ended in each outcome."""
        return dict(Counter(str(result["outcome"]) for result in self.results))

    @property
    def unclaimed(self) -> int:
        """Devices that did not end up claimed by this tenant."""
        return sum(
            1 for result in self.results if result["outcome"] not in SUCCESSFUL_OUTCOMES
        )

    @property
    def status(self) -> OperationStatus:
        """The worst status of the operations (failed > with errors > complete)."""
        statuses = {OperationStatus(op["status"]) for op in self.operations}
        if OperationStatus.FAILED in statuses:
            return OperationStatus.FAILED
        if OperationStatus.COMPLETE_WITH_ERRORS in statuses or self.unclaimed:
            return OperationStatus.COMPLETE_WITH_ERRORS
        return OperationStatus.COMPLETE

    def as_json(self) -> dict[str, Any]:
        """The documented JSON form (docs/cli.md)."""
        return {
            "status": self.status.value,
            "total": self.total,
            "counts": self.counts,
            "operation_ids": [op["id"] for op in self.operations],
            "results": self.results,
        }


def bulk_claim(
    client: ServiceClient,
    device_ids: Sequence[str],
    *,
    device_group_id: str | None,
    timeout_s: float,
    poll_interval_s: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> BulkClaimResult:
    """Claim the devices, showing progress; return every operation's final state.

    Raises:
        UnreachableError: an operation did not finish within ``timeout_s``.
    """
    outcome = BulkClaimResult(total=len(device_ids))
    deadline = monotonic() + timeout_s
    with click.progressbar(
        length=len(device_ids),
        label="Claiming devices",
        file=sys.stderr,
    ) as progress:
        for batch in batches(device_ids, MAX_BULK_CLAIM_DEVICES):
            operation = client.call(
                "POST",
                "/device-claims",
                json={"device_ids": batch, "device_group_id": device_group_id},
            )
            reported = 0
            while True:
                _check_operation(operation)
                progress.update(int(operation["processed"]) - reported)
                reported = int(operation["processed"])
                if OperationStatus(operation["status"]).finished:
                    break
                if monotonic() > deadline:
                    raise UnreachableError(
                        f"operation {operation['id']} is still {operation['status']} "
                        f"after {timeout_s:g} s; follow it with "
                        f"'GET /api/v1/operations/{operation['id']}'"
                    )
                sleep(poll_interval_s)
                operation = client.call("GET", f"/operations/{operation['id']}")
            outcome.operations.append(operation)
    return outcome


def _check_operation(operation: Any) -> None:
    if (
        not isinstance(operation, dict)
        or not isinstance(operation.get("id"), str)
        or not isinstance(operation.get("processed"), int)
        or not isinstance(operation.get("results"), list)
        or operation.get("status") not in {status.value for status in OperationStatus}
    ):
        raise ServerError("the service sent an operation this CLI does not understand")
