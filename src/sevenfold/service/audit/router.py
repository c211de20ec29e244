"""Routes of the audit log (read-only: there is no route that changes it)."""

from fastapi import APIRouter

from sevenfold.service.api.deps import CanReadAudit, SessionDep
from sevenfold.service.api.pagination import decode_int_cursor, encode_cursor
from sevenfold.service.api.params import Cursor, Limit
from sevenfold.service.audit import service
from sevenfold.service.audit.schemas import AuditEventOut, AuditEventPage

router = APIRouter(prefix="/audit-events", tags=["audit"])


@router.get("", response_model=AuditEventPage)
def list_audit_events(
    session: SessionDep,
    principal: CanReadAudit,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AuditEventPage:
    """List the tenant's audit events, newest first."""
    events = service.list_events(
        session=session,
        tenant_id=principal.require_tenant(),
        after_id=decode_int_cursor(cursor),
        limit=limit,
    )
    items = [AuditEventOut.model_validate(event) for event in events]
    next_cursor = encode_cursor(str(items[-1].id)) if len(items) == limit else None
    return AuditEventPage(items=items, next_cursor=next_cursor)
