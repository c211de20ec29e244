"""ORM models of rollouts, their waves and members (docs/failures.md §3-4)."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class Rollout(Base):
    """One rollout of an OS release on a feed (platform-wide, ``tenant_id`` None) or
    of a deployment to its group (in the deployment's tenant).

    ``judged_since`` is when the failure policy's count starts: the rollout's start,
    moved to the resume time when an operator resumes (resuming accepts what went
    before). ``halted_at``/``halt_reason`` are set when the policy paused it.
    """

    __tablename__ = "rollouts"
    __table_args__ = (
        Index("ix_rollouts_os_release_id_os_feed", "os_release_id", "os_feed"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), index=True, nullable=True
    )
    target_kind: Mapped[str] = mapped_column(String(16))  # os-release | deployment
    os_release_id: Mapped[str | None] = mapped_column(
        ForeignKey("os_releases.id"), nullable=True
    )
    os_feed: Mapped[str | None] = mapped_column(String(16), nullable=True)
    deployment_id: Mapped[str | None] = mapped_column(
        ForeignKey("deployments.id"), index=True, nullable=True
    )
    device_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("device_groups.id"), nullable=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)
    counted_kinds: Mapped[list[str]] = mapped_column(JSON)
    min_devices: Mapped[int] = mapped_column(Integer)
    threshold_percent: Mapped[float] = mapped_column(Float)
    crash_window_s: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    judged_since: Mapped[datetime] = mapped_column(UtcDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    halted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    halt_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    webhook_delivered_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True
    )
    webhook_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class RolloutWave(Base):
    """One wave; ``opened_at`` is set by the evaluator when it opens."""

    __tablename__ = "rollout_waves"

    rollout_id: Mapped[str] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(8))  # count | percent
    min_soak_s: Mapped[int] = mapped_column(BigInteger)
    earliest_start_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True
    )
    device_count: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class RolloutMember(Base):
    """A device's wave in a rollout (``protocol.rollouts.assign_waves``), and what
    the failure policy knows of it: when it ran the update and when it failed."""

    __tablename__ = "rollout_members"
    __table_args__ = (
        Index("ix_rollout_members_device_id", "device_id"),
        Index("ix_rollout_members_rollout_id_wave", "rollout_id", "wave"),
    )

    rollout_id: Mapped[str] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    ran_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    succeeded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    failure_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
