"""Rollouts: creating them with a fixed membership and moving them along the
state machine (docs/failures.md §3). Reading them is ``progress.py``; whom they
offer their target to (the director's lookups) is ``gating.py``.

An OS rollout is platform data (``tenant_id`` None): only the platform
administrator creates and moves it. A deployment rollout lives in the deployment's
tenant: a contributor creates and moves it. Every transition goes through
:func:`apply_action`, which applies ``protocol.rollouts.next_state`` with a
conditional ``UPDATE`` (so an operator's pause and the evaluator's halt cannot both
win) and writes the audit row; the evaluator calls it with ``HALT`` and
``COMPLETE`` and no principal (audited as :data:`EVALUATOR_ACTOR`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.rollouts import (
    FailurePolicy,
    RolloutAction,
    RolloutState,
    WaveSpec,
    WaveUnit,
    assign_waves,
    check_waves,
    next_state,
)
from sevenfold.protocol.updates import ReleaseState
from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy
from sevenfold.service.access.permissions import Permission
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.deployments.models import Deployment
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from sevenfold.service.products.models import DeviceGroup
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts import progress
from sevenfold.service.rollouts.models import Rollout, RolloutMember, RolloutWave

EVALUATOR_ACTOR = "system:rollout-evaluator"
"""The audit actor of transitions nobody asked for (a halt, a completion)."""

TARGET_OS_RELEASE = "os-release"
TARGET_DEPLOYMENT = "deployment"
UNFINISHED_STATES = (RolloutState.RUNNING.value, RolloutState.PAUSED.value)
"""A rollout in one of these still decides who gets its target."""
_REFUSED_RELEASE_STATES = (ReleaseState.CANCELLED.value, ReleaseState.WITHDRAWN.value)
_MEMBER_INSERT_BATCH = 5_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutTarget:
    """What a new rollout takes to devices: an OS release on a feed, or a
    deployment (exactly one of the two)."""

    os_release_id: str | None = None
    os_feed: OsFeed | None = None
    deployment_id: str | None = None


def wave_specs(waves: Sequence[RolloutWave]) -> list[WaveSpec]:
    """The stored waves as ``protocol.rollouts.WaveSpec`` (in position order)."""
    return [
        WaveSpec(
            size=wave.size,
            unit=WaveUnit(wave.unit),
            min_soak_s=wave.min_soak_s,
            earliest_start_at=wave.earliest_start_at,
        )
        for wave in sorted(waves, key=lambda w: w.position)
    ]


def policy_of(rollout: Rollout) -> FailurePolicy:
    """The rollout's stored failure policy."""
    return FailurePolicy(
        counted_kinds=frozenset(FailureKind(kind) for kind in rollout.counted_kinds),
        min_devices=rollout.min_devices,
        threshold_percent=rollout.threshold_percent,
        crash_window_s=rollout.crash_window_s,
    )


def _require_platform_administrator(principal: Principal) -> None:
    if not principal.is_platform_administrator:
        raise PermissionDeniedError(
            "only the platform administrator rolls out and moves OS releases"
        )


def _require_write(principal: Principal) -> str:
    tenant_id = principal.require_tenant()
    if Permission.WRITE not in principal.permissions:
        raise PermissionDeniedError("this token's role does not allow 'write'")
    return tenant_id


def _os_release_devices(session: Session, feed: OsFeed) -> list[str]:
    """Devices in groups on ``feed`` whose policy takes OS updates, any tenant."""
    return list(
        session.scalars(
            select(Device.id)
            .join(DeviceGroup, DeviceGroup.id == Device.device_group_id)
            .where(
                DeviceGroup.os_feed == feed.value,
                DeviceGroup.update_policy != UpdatePolicy.NO_UPDATES.value,
                Device.revoked_at.is_(None),
            )
        ).all()
    )


def _group_devices(session: Session, deployment: Deployment) -> list[str]:
    return list(
        session.scalars(
            select(Device.id).where(
                Device.device_group_id == deployment.device_group_id,
                Device.tenant_id == deployment.tenant_id,
                Device.revoked_at.is_(None),
            )
        ).all()
    )


def _refuse_unfinished(session: Session, *conditions: ColumnElement[bool]) -> None:
    duplicate = session.scalar(
        select(Rollout.id)
        .where(*conditions, Rollout.state.in_(UNFINISHED_STATES))
        .limit(1)
    )
    if duplicate is not None:
        raise ConflictError(
            f"rollout '{duplicate}' of the same target is not finished yet; "
            "abort it first"
        )


def _checked(waves: Sequence[WaveSpec]) -> None:
    try:
        check_waves(waves)
    except ProtocolError as err:
        raise InvalidRequestError(str(err)) from err


def create_rollout(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    target: RolloutTarget,
    waves: Sequence[WaveSpec],
    policy: FailurePolicy,
) -> progress.RolloutView:
    """Create a running rollout with its membership snapshot, and commit.

    Raises:
        PermissionDeniedError: an OS rollout by anyone but the platform
            administrator; a deployment rollout without ``write``.
        NotFoundError: no such release, or no such deployment in the tenant.
        InvalidRequestError: not exactly one target, or unacceptable waves.
        ConflictError: an unfinished rollout of the same target exists, the release
            is cancelled or withdrawn, or the deployment is no longer current.
    """
    _checked(waves)
    now = clock.now()
    rollout = Rollout(
        id=new_id(),
        state=RolloutState.RUNNING.value,
        counted_kinds=sorted(kind.value for kind in policy.counted_kinds),
        min_devices=policy.min_devices,
        threshold_percent=policy.threshold_percent,
        crash_window_s=policy.crash_window_s,
        created_at=now,
        created_by=principal.token_id,
        judged_since=now,
        state_changed_at=now,
    )
    release: OsRelease | None = None
    if target.os_release_id is not None and target.deployment_id is None:
        if target.os_feed is None:
            raise InvalidRequestError("an OS rollout names its feed")
        _require_platform_administrator(principal)
        release = session.scalar(
            select(OsRelease)
            .where(OsRelease.id == target.os_release_id)
            .with_for_update()
        )
        if release is None:
            raise NotFoundError(f"no OS release '{target.os_release_id}'")
        if release.state in _REFUSED_RELEASE_STATES:
            raise ConflictError(
                f"release {release.version} is {release.state}: it is not rolled out",
                code=ProblemCode.INVALID_RELEASE_TRANSITION,
            )
        _refuse_unfinished(
            session,
            Rollout.os_release_id == release.id,
            Rollout.os_feed == target.os_feed.value,
        )
        rollout.tenant_id = None
        rollout.target_kind = TARGET_OS_RELEASE
        rollout.os_release_id = release.id
        rollout.os_feed = target.os_feed.value
        device_ids = _os_release_devices(session, target.os_feed)
        audit_details: dict[str, object] = {
            "os_release_id": release.id,
            "version": release.version,
            "os_feed": target.os_feed.value,
        }
    elif target.deployment_id is not None and target.os_release_id is None:
        if target.os_feed is not None:
            raise InvalidRequestError("a deployment rollout names no OS feed")
        tenant_id = _require_write(principal)
        deployment = session.scalar(
            select(Deployment)
            .where(Deployment.id == target.deployment_id)
            .with_for_update()
        )
        if deployment is None or deployment.tenant_id != tenant_id:
            raise NotFoundError(f"no deployment '{target.deployment_id}'")
        if deployment.superseded_at is not None:
            raise ConflictError(
                f"deployment '{deployment.id}' is superseded: only the group's "
                "current deployment is rolled out"
            )
        _refuse_unfinished(session, Rollout.deployment_id == deployment.id)
        rollout.tenant_id = tenant_id
        rollout.target_kind = TARGET_DEPLOYMENT
        rollout.deployment_id = deployment.id
        rollout.device_group_id = deployment.device_group_id
        device_ids = _group_devices(session, deployment)
        audit_details = {
            "deployment_id": deployment.id,
            "device_group_id": deployment.device_group_id,
        }
    else:
        raise InvalidRequestError(
            "a rollout names an OS release and feed, or a deployment (not both)"
        )
    session.add(rollout)
    session.flush()
    members = assign_waves(rollout.id, device_ids, waves)
    counts = [0] * len(waves)
    for wave_index in members.values():
        counts[wave_index] += 1
    session.add_all(
        RolloutWave(
            rollout_id=rollout.id,
            position=index,
            size=spec.size,
            unit=spec.unit.value,
            min_soak_s=spec.min_soak_s,
            earliest_start_at=spec.earliest_start_at,
            device_count=counts[index],
            opened_at=None,
        )
        for index, spec in enumerate(waves)
    )
    session.flush()
    rows = [
        {"rollout_id": rollout.id, "device_id": device_id, "wave": wave_index}
        for device_id, wave_index in members.items()
    ]
    for start in range(0, len(rows), _MEMBER_INSERT_BATCH):
        session.execute(
            insert(RolloutMember), rows[start : start + _MEMBER_INSERT_BATCH]
        )
    _audit(
        session,
        clock,
        principal,
        rollout,
        "rollout.create",
        {
            **audit_details,
            "waves": [
                {"size": w.size, "unit": w.unit.value, "min_soak_s": w.min_soak_s}
                for w in waves
            ],
            "members": len(members),
            "eligible": len(set(device_ids)),
        },
    )
    session.commit()
    return progress.get_rollout(
        session=session, principal=principal, rollout_id=rollout.id
    )


def _invalid(rollout: Rollout, action: RolloutAction) -> ConflictError:
    return ConflictError(
        f"rollout '{rollout.id}' is {rollout.state}: it cannot {action.value}",
        code=ProblemCode.INVALID_ROLLOUT_TRANSITION,
    )


def apply_action(
    session: Session,
    rollout: Rollout,
    action: RolloutAction,
    *,
    principal: Principal | None,
    clock: Clock,
    reason: str | None = None,
) -> Rollout:
    """Move ``rollout`` by ``action`` as ``ROLLOUT_TRANSITIONS`` allows; the caller
    commits (and rolls back on an error).

    ``principal`` None is the evaluator (audited as :data:`EVALUATOR_ACTOR`).
    ``HALT`` records ``halted_at`` and ``reason`` as ``halt_reason``; ``RESUME``
    moves ``judged_since`` to now (the operator accepted what went before) and
    clears the halt. Permissions are the caller's business.

    Raises:
        ConflictError: ``invalid-rollout-transition`` (also when another caller
            moved the rollout first); nothing was changed.
    """
    source = RolloutState(rollout.state)
    try:
        target = next_state(source, action)
    except ProtocolError:
        raise _invalid(rollout, action) from None
    now = clock.now()
    values: dict[str, object] = {"state": target.value, "state_changed_at": now}
    if action is RolloutAction.HALT:
        values["halted_at"] = now
        values["halt_reason"] = None if reason is None else reason[:300]
    if action is RolloutAction.RESUME:
        values["judged_since"] = now
        values["halted_at"] = None
        values["halt_reason"] = None
    moved = session.execute(
        update(Rollout)
        .where(Rollout.id == rollout.id, Rollout.state == source.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(rollout)
        raise _invalid(rollout, action)
    session.refresh(rollout)
    _audit(
        session,
        clock,
        principal,
        rollout,
        f"rollout.{action.value}",
        {"from": source.value, "to": target.value, "reason": reason},
    )
    return rollout


def transition_rollout(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    rollout_id: str,
    action: RolloutAction,
    reason: str | None,
) -> progress.RolloutView:
    """An operator's pause, resume or abort; commits.

    Raises:
        NotFoundError: no such rollout the caller may see.
        PermissionDeniedError: an OS rollout moved by anyone but the platform
            administrator; a deployment rollout without ``write``.
        InvalidRequestError: ``halt`` or ``complete`` (the evaluator's).
        ConflictError: ``invalid-rollout-transition``; nothing was changed.
    """
    if action in (RolloutAction.HALT, RolloutAction.COMPLETE):
        raise InvalidRequestError(f"only the evaluator may {action.value} a rollout")
    rollout = progress.visible_rollout(session, principal, rollout_id)
    if rollout.tenant_id is None:
        _require_platform_administrator(principal)
    else:
        _require_write(principal)
    try:
        apply_action(
            session, rollout, action, principal=principal, clock=clock, reason=reason
        )
    except ConflictError:
        session.rollback()
        raise
    session.commit()
    return progress.get_rollout(
        session=session, principal=principal, rollout_id=rollout_id
    )


def _audit(
    session: Session,
    clock: Clock,
    principal: Principal | None,
    rollout: Rollout,
    action: str,
    details: dict[str, object],
) -> None:
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=rollout.tenant_id,
        action=action,
        target_type="rollout",
        target_id=rollout.id,
        details=details,
        actor_name=None if principal else EVALUATOR_ACTOR,
    )
