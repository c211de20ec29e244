"""Bulk claim as an asynchronous, resumable operation.

The request only records the operation (status ``not-started``). A runner leases it
with a conditional UPDATE — so two service replicas never process the same operation
— and claims the devices in batches, committing each batch's claims together with
their per-device results. A crash mid-way leaves the lease to expire; the next runner
resumes at the first device that has no result yet.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.vocabulary import ClaimOutcome, OperationStatus
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.devices import service as device_service
from sevenfold.service.errors import NotFoundError
from sevenfold.service.operations.models import Operation, OperationResult
from sevenfold.service.products import service as product_service
from sevenfold.service.tokens.models import ApiToken

BULK_CLAIM = "bulk-claim"
LEASE_S = 60.0
SUCCESSFUL_CLAIMS = frozenset(
    {ClaimOutcome.CLAIMED, ClaimOutcome.ALREADY_CLAIMED_BY_THIS_TENANT}
)
"""Outcomes that leave the device claimed by this tenant; a re-run is idempotent."""

_DETAILS: dict[ClaimOutcome, str] = {
    ClaimOutcome.CLAIMED: "claimed",
    ClaimOutcome.ALREADY_CLAIMED: "already claimed; a claim cannot be repeated",
    ClaimOutcome.ALREADY_CLAIMED_BY_THIS_TENANT: "already claimed by this tenant",
    ClaimOutcome.NOT_REGISTERED: "not registered by a manufacturer",
    ClaimOutcome.INVALID_DEVICE_ID: "not a device ID (128 hex characters, a P-256 key)",
}


def create_bulk_claim(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    device_ids: Sequence[str],
    device_group_id: str | None,
) -> Operation:
    """Record a bulk claim to be processed in the background."""
    tenant_id = principal.require_tenant()
    if device_group_id is not None:
        product_service.get_group(
            session=session, principal=principal, group_id=device_group_id
        )
    unique_ids = list(dict.fromkeys(device_ids))
    operation = Operation(
        id=new_id(),
        tenant_id=tenant_id,
        kind=BULK_CLAIM,
        status=OperationStatus.NOT_STARTED.value,
        payload={"device_ids": unique_ids, "device_group_id": device_group_id},
        total=len(unique_ids),
        processed=0,
        created_by=principal.token_id,
        created_at=clock.now(),
    )
    session.add(operation)
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="device.bulk-claim",
        target_type="operation",
        target_id=operation.id,
        details={"count": len(unique_ids), "device_group_id": device_group_id},
    )
    session.commit()
    return operation


def get_operation(
    *, session: Session, principal: Principal, operation_id: str
) -> tuple[Operation, Sequence[OperationResult]]:
    """Return one of the tenant's operations and its results so far.

    Raises:
        NotFoundError: no such operation in the tenant.
    """
    operation = session.get(Operation, operation_id)
    if operation is None or operation.tenant_id != principal.require_tenant():
        raise NotFoundError(f"no operation '{operation_id}'")
    results = session.scalars(
        select(OperationResult)
        .where(OperationResult.operation_id == operation.id)
        .order_by(OperationResult.item)
    ).all()
    return operation, results


def lease_next(*, session: Session, clock: Clock) -> str | None:
    """Lease one runnable operation; return its ID, or None when there is none."""
    now = clock.now()
    candidates = session.scalars(
        select(Operation.id)
        .where(
            or_(
                Operation.status == OperationStatus.NOT_STARTED.value,
                (Operation.status == OperationStatus.IN_PROGRESS.value)
                & (Operation.lease_expires_at < now),
            )
        )
        .order_by(Operation.created_at)
        .limit(5)
    ).all()
    for operation_id in candidates:
        leased = session.execute(
            update(Operation)
            .where(
                Operation.id == operation_id,
                or_(
                    Operation.status == OperationStatus.NOT_STARTED.value,
                    Operation.lease_expires_at < now,
                ),
            )
            .values(
                status=OperationStatus.IN_PROGRESS.value,
                lease_expires_at=now + timedelta(seconds=LEASE_S),
                started_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if leased.rowcount == 1:  # type: ignore[attr-defined]
            return operation_id
    return None


def process(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    operation_id: str,
    batch_size: int,
) -> OperationStatus:
    """Claim the devices of a leased bulk claim, a batch per transaction."""
    while True:
        with session_factory() as session:
            operation = session.get(Operation, operation_id)
            if operation is None:
                raise NotFoundError(f"no operation '{operation_id}'")
            done = set(
                session.scalars(
                    select(OperationResult.item).where(
                        OperationResult.operation_id == operation_id
                    )
                )
            )
            pending = [i for i in operation.payload["device_ids"] if i not in done]
            if not pending:
                return _finish(session, clock, operation)
            _claim_batch(session, clock, operation, pending[:batch_size])
            operation.processed = len(done) + min(len(pending), batch_size)
            operation.lease_expires_at = clock.now() + timedelta(seconds=LEASE_S)
            session.commit()


def _claim_batch(
    session: Session, clock: Clock, operation: Operation, items: Sequence[str]
) -> None:
    principal = _principal_of(session, operation)
    group_id = operation.payload.get("device_group_id")
    group = None
    if group_id is not None:
        try:
            group = product_service.get_group(
                session=session, principal=principal, group_id=group_id
            )
        except NotFoundError:
            group = None  # deleted since the request; claim into no group
    for item in items:
        try:
            device_id = normalize_device_id(item)
        except InvalidDeviceIdError:
            outcome = ClaimOutcome.INVALID_DEVICE_ID
        else:
            outcome = device_service.claim_outcome(
                session=session,
                clock=clock,
                principal=principal,
                device_id=device_id,
                group=group,
            )
        session.add(
            OperationResult(
                operation_id=operation.id,
                item=item,
                outcome=outcome.value,
                detail=_DETAILS[outcome],
            )
        )


def _principal_of(session: Session, operation: Operation) -> Principal:
    """The principal the operation acts as: its creator, inside its tenant."""
    token = (
        session.get(ApiToken, operation.created_by) if operation.created_by else None
    )
    return Principal(
        token_id=operation.created_by or "",
        token_name=token.name if token else "bulk claim",
        tenant_id=operation.tenant_id,
        role=None,
        platform_role=None,
        permissions=frozenset(),
    )


def _finish(session: Session, clock: Clock, operation: Operation) -> OperationStatus:
    outcomes = Counter(
        ClaimOutcome(outcome)
        for outcome in session.scalars(
            select(OperationResult.outcome).where(
                OperationResult.operation_id == operation.id
            )
        )
    )
    succeeded = sum(outcomes[outcome] for outcome in SUCCESSFUL_CLAIMS)
    if succeeded == operation.total:
        status = OperationStatus.COMPLETE
    elif succeeded == 0:
        status = OperationStatus.FAILED
    else:
        status = OperationStatus.COMPLETE_WITH_ERRORS
    operation.status = status.value
    operation.processed = operation.total
    operation.completed_at = clock.now()
    operation.lease_expires_at = None
    session.commit()
    return status
