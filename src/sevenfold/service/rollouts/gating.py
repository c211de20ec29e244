"""Whom a rollout offers its target to: the director's lookups (docs/failures.md
§3). Each is one indexed query, so a device's update check stays cheap."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.protocol.rollouts import RolloutState
from sevenfold.service.deployments.models import Deployment
from sevenfold.service.images.models import Image
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts.models import Rollout, RolloutMember, RolloutWave


def release_image_and_rollout(
    session: Session, release: OsRelease, os_feed: str
) -> tuple[Image, Rollout | None]:
    """A release's image with the release's newest rollout on ``os_feed``, in one
    statement (the rollout by the ``(os_release_id, os_feed)`` index)."""
    row = session.execute(
        select(Image, Rollout)
        .outerjoin(
            Rollout,
            (Rollout.os_release_id == release.id) & (Rollout.os_feed == os_feed),
        )
        .where(Image.id == release.image_id)
        .order_by(Rollout.created_at.desc(), Rollout.id.desc())
        .limit(1)
    ).one()
    return row[0], row[1]


def current_deployment_and_rollout(
    session: Session, device_group_id: str
) -> tuple[Deployment, Rollout | None] | None:
    """The group's current deployment with its newest rollout, in one statement
    (a no-op update check reads no more rows than before rollouts existed)."""
    row = session.execute(
        select(Deployment, Rollout)
        .outerjoin(Rollout, Rollout.deployment_id == Deployment.id)
        .where(
            Deployment.device_group_id == device_group_id,
            Deployment.superseded_at.is_(None),
        )
        .order_by(
            Deployment.created_at.desc(),
            Rollout.created_at.desc(),
            Rollout.id.desc(),
        )
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


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
