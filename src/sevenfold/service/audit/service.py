"""Writing and reading the append-only audit log.

Every mutating service function calls :func:`record` inside its own transaction, so an
audit row exists exactly when the change it describes was committed.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit.models import AuditEvent


def record(
    *,
    session: Session,
    clock: Clock,
    principal: Principal | None,
    tenant_id: str | None,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> None:
    """Add an audit row to the session (committed with the caller's change).

    A platform action that concerns no tenant (device registration, a platform-only
    token) is filed under the acting principal's tenant, so that tenant's
    administrators see it in the audit log instead of it being readable by no one.
    """
    if tenant_id is None and principal is not None:
        tenant_id = principal.tenant_id
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            actor_token_id=principal.token_id if principal else None,
            actor_name=actor_name or (principal.token_name if principal else "system"),
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
            source_ip=principal.source_ip if principal else None,
            at=clock.now(),
        )
    )


def list_events(
    *, session: Session, tenant_id: str, after_id: int | None, limit: int
) -> Sequence[AuditEvent]:
    """Return a tenant's audit events, newest first, after a keyset cursor."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if after_id is not None:
        query = query.where(AuditEvent.id < after_id)
    query = query.order_by(AuditEvent.id.desc()).limit(limit)
    return session.scalars(query).all()
