"""What the failure policy knows of each member, and its verdict on a rollout
(docs/failures.md §4).

Three times per member, each set once:

* ``ran_at``: the service's time of the first status report, after the member's
  wave opened, in which the device was downloading, installing, rebooting into,
  running (committed) or giving up on (failed, rolled back) the rollout's target
  image. Service time, not the device's: a device cannot back-date its run to make
  earlier failures count, or forward-date it to hide them.
* ``succeeded_at``: the first report with the image installed and committed (or
  idle on it) after it ran.
* ``failed_at``: when the service received the first counted failure event of the
  member (``FailurePolicy.counts`` on the event's ``last_at`` against ``ran_at``).
  Receipt time, so ``halted_at - failed_at`` is the halt latency the evaluator
  logs.

Network failures never count (``FailurePolicy`` refuses them): a bad link is the
device's, not the release's.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.rollouts import Judgement, judge
from sevenfold.protocol.updates import UpdateState
from sevenfold.service.deployments.models import DeploymentImage
from sevenfold.service.failures.models import FailureEventRecord
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts.models import Rollout, RolloutMember, RolloutWave
from sevenfold.service.rollouts.service import (
    TARGET_OS_RELEASE,
    UNFINISHED_STATES,
    policy_of,
)

if TYPE_CHECKING:  # updates.status calls this module: import the type only
    from sevenfold.service.updates.status import StatusReport

RAN_STATES = frozenset(
    {
        UpdateState.DOWNLOADING,
        UpdateState.INSTALLING,
        UpdateState.REBOOTING,
        UpdateState.COMMITTED,
        UpdateState.FAILED,
        UpdateState.ROLLED_BACK,
    }
)
"""Reported states that show the device took the update in hand."""
SUCCEEDED_STATES = frozenset({UpdateState.COMMITTED, UpdateState.IDLE})
"""Reported states that, with the image installed, show it runs."""
_MEMBER_WAVE = (RolloutWave.rollout_id == RolloutMember.rollout_id) & (
    RolloutWave.position == RolloutMember.wave
)
"""A member's wave (the join every query here makes)."""


def _open_memberships(
    session: Session, device_id: str
) -> Sequence[tuple[RolloutMember, Rollout]]:
    """The device's members of unfinished rollouts whose wave is open."""
    return session.execute(
        select(RolloutMember, Rollout)
        .join(Rollout, Rollout.id == RolloutMember.rollout_id)
        .join(RolloutWave, _MEMBER_WAVE)
        .where(
            RolloutMember.device_id == device_id,
            Rollout.state.in_(UNFINISHED_STATES),
            RolloutWave.opened_at.is_not(None),
        )
    ).all()


def target_image_ids(session: Session, rollout: Rollout) -> set[str]:
    """The images a rollout takes to devices: its OS release's image, or the
    deployment's images."""
    if rollout.target_kind == TARGET_OS_RELEASE:
        image_id = session.scalar(
            select(OsRelease.image_id).where(OsRelease.id == rollout.os_release_id)
        )
        return set() if image_id is None else {image_id}
    return set(
        session.scalars(
            select(DeploymentImage.image_id).where(
                DeploymentImage.deployment_id == rollout.deployment_id
            )
        )
    )


def _image_ids(images: list[dict[str, Any]]) -> set[str]:
    return {
        image_id
        for image in images
        if isinstance(image_id := image.get("image_id"), str)
    }


def note_status_report(
    session: Session, device_id: str, report: "StatusReport", now: datetime
) -> None:
    """Mark ``ran_at``/``succeeded_at`` of the device's open memberships from a
    status report (first time only). The caller commits."""
    installed = _image_ids(report.installed)
    seen = installed | _image_ids(report.targeted)
    if not seen:
        return
    for member, rollout in _open_memberships(session, device_id):
        if member.succeeded_at is not None:
            continue
        targets = target_image_ids(session, rollout)
        if member.ran_at is None and report.state in RAN_STATES and targets & seen:
            member.ran_at = now
        if (
            member.ran_at is not None
            and report.state in SUCCEEDED_STATES
            and targets & installed
        ):
            member.succeeded_at = now


def note_failure_events(
    session: Session,
    device_id: str,
    records: Sequence[FailureEventRecord],
    now: datetime,
) -> bool:
    """Mark ``failed_at``/``failure_kind`` of the device's members that ran the
    update from newly stored failure events; True when a counted failure was newly
    noted (the caller then wakes the evaluator). The caller commits.

    An event counts per the rollout's ``FailurePolicy.counts`` on its ``last_at``
    (an aggregated record's latest occurrence): an event before the run never
    counts, an app crash only within the crash window.
    """
    if not records:
        return False
    noted = False
    for member, rollout in _open_memberships(session, device_id):
        if member.ran_at is None or member.failed_at is not None:
            continue
        policy = policy_of(rollout)
        for record in sorted(records, key=lambda r: r.last_at):
            try:
                kind = FailureKind(record.kind)
            except ValueError:
                continue
            if policy.counts(kind, record.last_at, member.ran_at):
                member.failed_at = now
                member.failure_kind = kind.value
                noted = True
                break
    return noted


def judge_rollout(session: Session, rollout: Rollout, now: datetime) -> Judgement:
    """The policy's verdict over members of opened waves that ran the update since
    ``judged_since`` (``now`` bounds the count: a run stamped later is not yet)."""
    ran, failed = session.execute(
        select(
            func.count(),
            func.count(RolloutMember.failed_at),
        )
        .select_from(RolloutMember)
        .join(RolloutWave, _MEMBER_WAVE)
        .where(
            RolloutMember.rollout_id == rollout.id,
            RolloutWave.opened_at.is_not(None),
            RolloutMember.ran_at >= rollout.judged_since,
            RolloutMember.ran_at <= now,
        )
    ).one()
    return judge(policy_of(rollout), ran=int(ran), failed=int(failed))


def failure_kinds(session: Session, rollout: Rollout) -> dict[str, int]:
    """Failed members counted in the current judgement, by failure kind."""
    rows = session.execute(
        select(RolloutMember.failure_kind, func.count())
        .join(RolloutWave, _MEMBER_WAVE)
        .where(
            RolloutMember.rollout_id == rollout.id,
            RolloutWave.opened_at.is_not(None),
            RolloutMember.ran_at >= rollout.judged_since,
            RolloutMember.failed_at.is_not(None),
        )
        .group_by(RolloutMember.failure_kind)
    ).all()
    return {str(kind): int(count) for kind, count in rows}


def latest_failure_at(session: Session, rollout: Rollout) -> datetime | None:
    """When the last counted failure of the current judgement was received."""
    return session.scalar(
        select(func.max(RolloutMember.failed_at)).where(
            RolloutMember.rollout_id == rollout.id,
            RolloutMember.ran_at >= rollout.judged_since,
        )
    )
