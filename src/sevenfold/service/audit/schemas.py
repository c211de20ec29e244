"""API shapes of audit events."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    at: datetime
    actor_token_id: str | None
    actor_name: str
    action: str
    target_type: str
    target_id: str
    source_ip: str | None
    details: dict[str, Any]


class AuditEventPage(BaseModel):
    """A page of audit events with the cursor of the next page."""

    items: list[AuditEventOut]
    next_cursor: str | None
