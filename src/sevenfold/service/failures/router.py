"""Operator routes of failure reports (tenant ``read``; docs/failures.md §2).

* ``GET /failure-events``: the tenant's events, newest ``last_at`` first, a page at a
  time; filters device, device group, product, OS release, image, kind, and
  ``since <= last_at < until``.
* ``GET /failure-events/report.csv``: the same events as Azure Sphere's error
  report (``protocol.failures.CSV_COLUMNS``), streamed, at most
  ``report.MAX_REPORT_ROWS`` rows (newest first).
* ``GET /devices/{device_id}/failure-queue``: how many records the device's queue
  ever dropped (failures the service will never see) and when it last uploaded.

Every query is scoped to the caller's tenant; nothing crosses tenants.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from sevenfold.protocol.failures import FailureKind
from sevenfold.service.api.deps import CanRead, SessionDep, app_state
from sevenfold.service.api.pagination import decode_cursor, encode_cursor
from sevenfold.service.api.params import Cursor, Limit, OptionalIdQuery
from sevenfold.service.failures import report, service
from sevenfold.service.failures.schemas import (
    FailureEventOut,
    FailureEventPage,
    FailureQueueOut,
)

CSV_MEDIA_TYPE = "text/csv"
REPORT_FILENAME = "error-report.csv"
_DEVICE_ID_PATTERN = r"^[0-9a-fA-F]{128}$"

router = APIRouter(tags=["failure reports"])

DeviceIdQuery = Annotated[
    str | None, Query(min_length=128, max_length=128, pattern=_DEVICE_ID_PATTERN)
]
DeviceIdPath = Annotated[
    str, Path(min_length=128, max_length=128, pattern=_DEVICE_ID_PATTERN)
]


def event_filter(
    device_id: DeviceIdQuery = None,
    device_group_id: OptionalIdQuery = None,
    product_id: OptionalIdQuery = None,
    os_release_id: OptionalIdQuery = None,
    image_id: OptionalIdQuery = None,
    kind: FailureKind | None = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Events whose last_at is at or after")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Events whose last_at is before")
    ] = None,
) -> service.EventFilter:
    """The filters both the listing and the CSV report take."""
    return service.EventFilter(
        device_id=None if device_id is None else device_id.lower(),
        device_group_id=device_group_id,
        product_id=product_id,
        os_release_id=os_release_id,
        image_id=image_id,
        kind=kind,
        since=since,
        until=until,
    )


FilterDep = Annotated[service.EventFilter, Depends(event_filter)]


@router.get("/failure-events", response_model=FailureEventPage)
def list_failure_events(
    session: SessionDep,
    principal: CanRead,
    filters: FilterDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> FailureEventPage:
    """List the tenant's failure events, newest first."""
    events = service.list_events(
        session=session,
        tenant_id=principal.require_tenant(),
        filters=filters,
        after=service.EventCursor.decode(decode_cursor(cursor)),
        limit=limit,
    )
    items = [FailureEventOut.model_validate(event) for event in events]
    next_cursor = None
    if len(events) == limit:
        last = service.EventCursor(last_at=events[-1].last_at, row_id=events[-1].id)
        next_cursor = encode_cursor(last.encode())
    return FailureEventPage(items=items, next_cursor=next_cursor)


@router.get(
    "/failure-events/report.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV_MEDIA_TYPE: {}}, "description": "The report"}},
)
def download_error_report(
    request: Request, principal: CanRead, filters: FilterDep
) -> StreamingResponse:
    """The tenant's error report as CSV (newest first, at most 100,000 events)."""
    tenant_id = principal.require_tenant()
    session_factory = app_state(request).session_factory

    def lines() -> Iterator[bytes]:
        # The report has its own session: it is read while the answer streams.
        with session_factory() as session:
            yield from report.csv_lines(
                service.iter_events(
                    session=session,
                    tenant_id=tenant_id,
                    filters=filters,
                    max_rows=report.MAX_REPORT_ROWS,
                )
            )

    return StreamingResponse(
        lines(),
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{REPORT_FILENAME}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/devices/{device_id}/failure-queue", response_model=FailureQueueOut)
def show_failure_queue(
    device_id: DeviceIdPath, session: SessionDep, principal: CanRead
) -> FailureQueueOut:
    """What one of the tenant's devices' failure queue reported about itself."""
    canonical = device_id.lower()
    dropped_total, last_upload_at = service.queue_state(
        session=session, tenant_id=principal.require_tenant(), device_id=canonical
    )
    return FailureQueueOut(
        device_id=canonical,
        dropped_total=dropped_total,
        last_upload_at=last_upload_at,
    )
