"""The device-facing failure-report route (device certificate auth, docs/failures.md
§2).

``POST /device/failure-reports``: a batch of sealed records from the device's
durable queue. The body is parsed by ``protocol.failures.parse_failure_batch`` (the
strict parser both ends share: unknown fields, wrong types, bools for numbers, more
than 100 events and repeated ids are refused, and nothing of such a batch is
stored); the global body limit applies before that. The device's tenant, group and
product come from its certificate and device record, never from the body.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from sevenfold.protocol.errors import FailureReportError
from sevenfold.protocol.failures import FailureBatch, parse_failure_batch
from sevenfold.service.api.deps import ClockDep, SessionDep, app_state
from sevenfold.service.device_auth.dependency import DeviceDep
from sevenfold.service.device_auth.router import DEVICE_AUTH_RESPONSES
from sevenfold.service.errors import InvalidFailureReportError
from sevenfold.service.failures import service
from sevenfold.service.failures.schemas import FailureReportAnswer
from sevenfold.service.state import AppState

router = APIRouter(
    prefix="/device", tags=["device failure reports"], responses=DEVICE_AUTH_RESPONSES
)

MAX_REASON_CHARS = 200
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
BATCH_BODY_DESCRIPTION = (
    "A FailureBatch (protocol.failures): {events: [up to 100 events], "
    "dropped_total: N}; see docs/failures.md."
)


def _check_storable(batch: FailureBatch) -> None:
    """Refuse text no database can store: a NUL (PostgreSQL's text refuses it) or a
    lone UTF-16 surrogate (JSON's ``\\ud800`` escape; not encodable as UTF-8). The
    protocol allows any other character in a key or description (an app's output
    may hold line breaks); the CSV report and the API quote them.

    Raises:
        FailureReportError: such a character in an event's key or description.
    """
    for event in batch.events:
        for name, text in (("key", event.key), ("description", event.description)):
            if _UNSTORABLE_RE.search(text):
                raise FailureReportError(
                    f"an event {name} holds a NUL or a lone surrogate"
                )


@router.post("/failure-reports", response_model=FailureReportAnswer)
def report_failures(
    body: Annotated[dict[str, Any], Body(description=BATCH_BODY_DESCRIPTION)],
    device: DeviceDep,
    session: SessionDep,
    clock: ClockDep,
    state: Annotated[AppState, Depends(app_state)],
) -> FailureReportAnswer:
    """Store the batch's new events once; acknowledge every event of the batch."""
    try:
        batch = parse_failure_batch(body)
        _check_storable(batch)
    except FailureReportError as err:
        # The message may quote field names the sender chose: keep it short.
        reason = str(err)[:MAX_REASON_CHARS]
        raise InvalidFailureReportError(
            f"{reason}; nothing of this batch was stored"
        ) from err
    reporter = service.Reporter(
        device_id=device.device_id,
        tenant_id=device.tenant_id,
        product_id=device.product_id,
        device_group_id=device.device_group_id,
    )
    result = service.ingest_batch(
        session=session, clock=clock, reporter=reporter, batch=batch
    )
    if result.counted_failure:  # judge at once, not at the next tick (§4)
        state.rollout_evaluator.wake()
    return FailureReportAnswer(
        acknowledged=result.acknowledged,
        stored=len(result.stored),
        duplicates=len(result.duplicate_ids),
    )
