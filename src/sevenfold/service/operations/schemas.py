"""API shapes of asynchronous operations (bulk claim)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sevenfold.protocol.vocabulary import (
    MAX_BULK_CLAIM_DEVICES,
    ClaimOutcome,
    OperationStatus,
)

RawDeviceId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
"""An ID as the operator typed it: a bad one gets its own result, but control
characters (NUL cannot even be stored by PostgreSQL) are refused up front."""


class BulkClaimIn(BaseModel):
    """Up to 1,000 device IDs to claim; each gets its own result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_ids: list[RawDeviceId] = Field(
        min_length=1, max_length=MAX_BULK_CLAIM_DEVICES
    )
    device_group_id: str | None = Field(
        default=None, max_length=128, pattern=r"^[A-Za-z0-9-]+$"
    )


class OperationResultOut(BaseModel):
    """What happened to one device of a bulk claim."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    item: str
    outcome: ClaimOutcome
    detail: str


class OperationOut(BaseModel):
    """An asynchronous operation and, once processed, its per-item results."""

    id: str
    kind: str
    status: OperationStatus
    total: int
    processed: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    counts: dict[str, int]
    results: list[OperationResultOut]
