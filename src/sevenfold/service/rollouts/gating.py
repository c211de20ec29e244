"""Whom a rollout offers its target to: the director's lookups (docs/failures.md
§3). Each is one indexed query, so a device's update check stays cheap."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.protocol.rollouts import RolloutState
from sevenfold.service.rollouts.models import Rollout, RolloutMember, RolloutWave


def latest_rollout_of_release(
    session: Session, os_release_id: str, os_feed: str
) -> Rollout | None:
    """The newest rollout of a release on a feed (indexed lookup)."""
    return session.scalars(
        select(Rollout)
        .where(Rollout.os_release_id == os_release_id, Rollout.os_feed == os_feed)
        .order_by(Rollout.created_at.desc(), Rollout.id.desc())
        .limit(1)
    ).first()


def latest_rollout_of_deployment(
    session: Session, deployment_id: str
) -> Rollout | None:
    """The newest rollout of a deployment (indexed lookup)."""
    return session.scalars(
        select(Rollout)
        .where(Rollout.deployment_id == deployment_id)
        .order_by(Rollout.created_at.desc(), Rollout.id.desc())
        .limit(1)
    ).first()


def device_in_open_wave(session: Session, rollout_id: str, device_id: str) -> bool:
    """Whether the device is a member of one of the rollout's opened waves."""
    opened_at: datetime | None = session.scalar(
        select(RolloutWave.opened_at)
        .join(
            RolloutMember,
            (RolloutMember.rollout_id == RolloutWave.rollout_id)
            & (RolloutMember.wave == RolloutWave.position),
        )
        .where(
            RolloutMember.rollout_id == rollout_id,
            RolloutMember.device_id == device_id,
        )
    )
    return opened_at is not None


def offers_to_device(session: Session, rollout: Rollout | None, device_id: str) -> bool:
    """Whether a target whose newest rollout is ``rollout`` is offered to the
    device: no rollout or a completed one offers it to everyone; a running one to
    members of opened waves; a paused or aborted one to no one new."""
    if rollout is None or rollout.state == RolloutState.COMPLETED.value:
        return True
    if rollout.state != RolloutState.RUNNING.value:
        return False
    return device_in_open_wave(session, rollout.id, device_id)
