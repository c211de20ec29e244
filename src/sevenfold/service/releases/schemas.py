"""API shapes of OS releases (docs/updates.md §3)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sevenfold.protocol.updates import ReleaseState

MAX_EVAL_WINDOW_DAYS = 90

Reason = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$"
    ),
]


class OsReleaseIn(BaseModel):
    """Publish a platform OS image to the feeds (platform administrators)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")
    eval_window_days: int | None = Field(
        default=None,
        ge=0,
        le=MAX_EVAL_WINDOW_DAYS,
        description="Days in retail-eval before automatic promotion; 0 for an "
        "urgent fix. The service's default_eval_window_days when absent.",
    )
    note: Reason | None = None


class ReleaseTransitionIn(BaseModel):
    """Why a release is promoted, cancelled or withdrawn (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason | None = None


class OsReleaseOut(BaseModel):
    """An OS release; ``state`` is as stored, ``effective_state`` as feeds see it."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    version: str
    image_id: str
    state: ReleaseState
    effective_state: ReleaseState
    eval_window_s: int
    published_at: datetime
    promote_at: datetime
    promoted_at: datetime | None
    cancelled_at: datetime | None
    withdrawn_at: datetime | None
    reason: str | None
    review_flagged_at: datetime | None = Field(
        description="When a halted rollout flagged this release for cancellation "
        "review: it is then not promoted automatically (docs/failures.md §4)."
    )
    review_reason: str | None


class OsReleaseDetailOut(OsReleaseOut):
    """An OS release with the caller's devices running it, by update state."""

    image_sha256: str
    device_counts: dict[str, int]
