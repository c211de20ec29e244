"""Routes to start a bulk claim and to follow any asynchronous operation."""

from collections import Counter

from fastapi import APIRouter, status

from sevenfold.protocol.vocabulary import OperationStatus
from sevenfold.service.api.deps import CanRead, CanWrite, ClockDep, SessionDep
from sevenfold.service.api.params import ResourceId
from sevenfold.service.operations import service
from sevenfold.service.operations.models import Operation, OperationResult
from sevenfold.service.operations.schemas import (
    BulkClaimIn,
    OperationOut,
    OperationResultOut,
)

router = APIRouter(tags=["operations"])


def _out(operation: Operation, results: list[OperationResult]) -> OperationOut:
    return OperationOut(
        id=operation.id,
        kind=operation.kind,
        status=OperationStatus(operation.status),
        total=operation.total,
        processed=operation.processed,
        created_at=operation.created_at,
        started_at=operation.started_at,
        completed_at=operation.completed_at,
        counts=dict(Counter(result.outcome for result in results)),
        results=[OperationResultOut.model_validate(result) for result in results],
    )


@router.post(
    "/device-claims", response_model=OperationOut, status_code=status.HTTP_202_ACCEPTED
)
def bulk_claim(
    body: BulkClaimIn, session: SessionDep, clock: ClockDep, principal: CanWrite
) -> OperationOut:
    """Claim up to 1,000 devices in the background; follow the returned operation."""
    operation = service.create_bulk_claim(
        session=session,
        clock=clock,
        principal=principal,
        device_ids=body.device_ids,
        device_group_id=body.device_group_id,
    )
    return _out(operation, [])


@router.get("/operations/{operation_id}", response_model=OperationOut)
def show_operation(
    operation_id: ResourceId, session: SessionDep, principal: CanRead
) -> OperationOut:
    """Show an operation's status, progress and per-item results."""
    operation, results = service.get_operation(
        session=session, principal=principal, operation_id=operation_id
    )
    return _out(operation, list(results))
