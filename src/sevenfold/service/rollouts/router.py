"""Routes for rollouts: create, list, show (with per-wave progress), and an
operator's pause, resume and abort (docs/failures.md §3).

Who may do what is decided per rollout in the service: OS rollouts by the platform
administrator, deployment rollouts inside their tenant (contributor to change,
reader to read); so every route takes any authenticated principal.
"""

from typing import Annotated

from fastapi import APIRouter, Query, status

from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.rollouts import (
    FailurePolicy,
    RolloutAction,
    RolloutState,
    WaveSpec,
)
from sevenfold.service.api.deps import Authenticated, ClockDep, SessionDep
from sevenfold.service.api.params import OptionalIdQuery, ResourceId
from sevenfold.service.errors import InvalidRequestError
from sevenfold.service.rollouts import progress, service
from sevenfold.service.rollouts.schemas import (
    FailurePolicyOut,
    RolloutIn,
    RolloutOut,
    RolloutTransitionIn,
    WaveProgressOut,
)

router = APIRouter(prefix="/rollouts", tags=["rollouts"])


def rollout_out(view: progress.RolloutView) -> RolloutOut:
    """The API form of a rollout view."""
    rollout = view.rollout
    return RolloutOut(
        id=rollout.id,
        tenant_id=rollout.tenant_id,
        target_kind=rollout.target_kind,
        os_release_id=rollout.os_release_id,
        os_release_version=view.os_release_version,
        os_feed=rollout.os_feed,
        deployment_id=rollout.deployment_id,
        device_group_id=rollout.device_group_id,
        state=RolloutState(rollout.state),
        policy=FailurePolicyOut(
            counted_kinds=list(rollout.counted_kinds),
            min_devices=rollout.min_devices,
            threshold_percent=rollout.threshold_percent,
            crash_window_s=rollout.crash_window_s,
        ),
        created_at=rollout.created_at,
        judged_since=rollout.judged_since,
        state_changed_at=rollout.state_changed_at,
        halted_at=rollout.halted_at,
        halt_reason=rollout.halt_reason,
        webhook_delivered_at=rollout.webhook_delivered_at,
        webhook_error=rollout.webhook_error,
        waves=[
            WaveProgressOut(
                position=p.wave.position,
                size=p.wave.size,
                unit=p.wave.unit,
                min_soak_s=p.wave.min_soak_s,
                earliest_start_at=p.wave.earliest_start_at,
                opened_at=p.wave.opened_at,
                devices=p.devices,
                ran=p.ran,
                succeeded=p.succeeded,
                failed=p.failed,
            )
            for p in view.waves
        ],
    )


def _specs(body: RolloutIn) -> tuple[list[WaveSpec], FailurePolicy]:
    try:
        waves = [
            WaveSpec(
                size=wave.size,
                unit=wave.unit,
                min_soak_s=wave.min_soak_s,
                earliest_start_at=wave.earliest_start_at,
            )
            for wave in body.waves
        ]
        policy = FailurePolicy(
            counted_kinds=frozenset(FailureKind(k) for k in body.policy.counted_kinds),
            min_devices=body.policy.min_devices,
            threshold_percent=body.policy.threshold_percent,
            crash_window_s=body.policy.crash_window_s,
        )
    except ProtocolError as err:
        raise InvalidRequestError(str(err)) from err
    return waves, policy


@router.post("", response_model=RolloutOut, status_code=status.HTTP_201_CREATED)
def create_rollout(
    body: RolloutIn, session: SessionDep, clock: ClockDep, principal: Authenticated
) -> RolloutOut:
    """Roll out an OS release on a feed (platform administrator) or a deployment
    (contributor) in waves; membership is fixed now."""
    waves, policy = _specs(body)
    view = service.create_rollout(
        session=session,
        clock=clock,
        principal=principal,
        target=service.RolloutTarget(
            os_release_id=body.os_release_id,
            os_feed=body.os_feed,
            deployment_id=body.deployment_id,
        ),
        waves=waves,
        policy=policy,
    )
    return rollout_out(view)


@router.get("", response_model=list[RolloutOut])
def list_rollouts(
    session: SessionDep,
    principal: Authenticated,
    state: Annotated[RolloutState | None, Query()] = None,
    os_release_id: OptionalIdQuery = None,
    deployment_id: OptionalIdQuery = None,
) -> list[RolloutOut]:
    """Rollouts the caller may see, newest first: everything for the platform
    administrator; for a tenant its deployment rollouts and the OS rollouts with
    one of its devices as a member (counting only its devices)."""
    views = progress.list_rollouts(
        session=session,
        principal=principal,
        state=state,
        os_release_id=os_release_id,
        deployment_id=deployment_id,
    )
    return [rollout_out(view) for view in views]


@router.get("/{rollout_id}", response_model=RolloutOut)
def show_rollout(
    rollout_id: ResourceId, session: SessionDep, principal: Authenticated
) -> RolloutOut:
    """A rollout with its per-wave progress."""
    return rollout_out(
        progress.get_rollout(
            session=session, principal=principal, rollout_id=rollout_id
        )
    )


def _transition(action: RolloutAction, summary: str) -> None:
    @router.post(
        f"/{{rollout_id}}/{action.value}",
        response_model=RolloutOut,
        name=f"{action.value}_rollout",
        summary=summary,
    )
    def transition(
        rollout_id: ResourceId,
        session: SessionDep,
        clock: ClockDep,
        principal: Authenticated,
        body: RolloutTransitionIn | None = None,
    ) -> RolloutOut:
        view = service.transition_rollout(
            session=session,
            clock=clock,
            principal=principal,
            rollout_id=rollout_id,
            action=action,
            reason=body.reason if body else None,
        )
        return rollout_out(view)


_transition(RolloutAction.PAUSE, "Pause a running rollout")
_transition(RolloutAction.RESUME, "Resume a paused rollout")
_transition(RolloutAction.ABORT, "Abort a running or paused rollout")
