"""API shapes of rollouts (docs/failures.md §3)."""

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.rollouts import (
    MAX_CRASH_WINDOW_S,
    MAX_SOAK_S,
    MAX_WAVES,
    FailurePolicy,
    RolloutState,
    WaveUnit,
)
from sevenfold.protocol.vocabulary import OsFeed

_DEFAULT_POLICY = FailurePolicy()

ResourceIdField = Annotated[
    str, StringConstraints(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")
]
Reason = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$"
    ),
]


class WaveIn(BaseModel):
    """One wave: a device count or a percentage of the eligible devices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(ge=1, le=10_000_000)
    unit: WaveUnit
    min_soak_s: int = Field(
        default=0,
        ge=0,
        le=MAX_SOAK_S,
        description="How long the wave stays open alone before the next may open.",
    )
    earliest_start_at: AwareDatetime | None = None


class FailurePolicyIn(BaseModel):
    """When the rollout halts itself; absent fields take the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    counted_kinds: list[FailureKind] = Field(
        default_factory=lambda: sorted(_DEFAULT_POLICY.counted_kinds),
        min_length=1,
        max_length=len(FailureKind),
    )
    min_devices: int = Field(default=_DEFAULT_POLICY.min_devices, ge=1, le=10_000_000)
    threshold_percent: float = Field(
        default=_DEFAULT_POLICY.threshold_percent, ge=0, le=100
    )
    crash_window_s: int = Field(
        default=_DEFAULT_POLICY.crash_window_s, ge=0, le=MAX_CRASH_WINDOW_S
    )


class RolloutIn(BaseModel):
    """A new rollout: an OS release on a feed (platform administrator) or one of
    the tenant's deployments (contributor), never both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    os_release_id: ResourceIdField | None = None
    os_feed: OsFeed | None = None
    deployment_id: ResourceIdField | None = None
    waves: list[WaveIn] = Field(min_length=1, max_length=MAX_WAVES)
    policy: FailurePolicyIn = Field(default_factory=FailurePolicyIn)


class RolloutTransitionIn(BaseModel):
    """Why a rollout is paused, resumed or aborted (kept in the audit log)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason | None = None


class WaveProgressOut(BaseModel):
    """A wave and its members' progress (a tenant counts only its own devices in
    an OS rollout)."""

    model_config = ConfigDict(frozen=True)

    position: int
    size: int
    unit: WaveUnit
    min_soak_s: int
    earliest_start_at: datetime | None
    opened_at: datetime | None
    devices: int
    ran: int
    succeeded: int
    failed: int


class FailurePolicyOut(BaseModel):
    """The rollout's failure policy."""

    model_config = ConfigDict(frozen=True)

    counted_kinds: list[str]
    min_devices: int
    threshold_percent: float
    crash_window_s: int


class RolloutOut(BaseModel):
    """A rollout with its waves' progress."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str | None
    target_kind: str
    os_release_id: str | None
    os_release_version: str | None
    os_feed: str | None
    deployment_id: str | None
    device_group_id: str | None
    state: RolloutState
    policy: FailurePolicyOut
    created_at: datetime
    judged_since: datetime
    state_changed_at: datetime
    halted_at: datetime | None
    halt_reason: str | None
    webhook_delivered_at: datetime | None
    webhook_error: str | None
    waves: list[WaveProgressOut]
