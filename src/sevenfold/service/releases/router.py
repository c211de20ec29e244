"""Routes for OS releases: the platform administrator publishes and moves them,
every authenticated principal reads them (releases are platform data)."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.updates import ReleaseAction, ReleaseState
from sevenfold.service.access.principal import Principal
from sevenfold.service.api.deps import Authenticated, ClockDep, SessionDep, SettingsDep
from sevenfold.service.api.params import ResourceId
from sevenfold.service.releases import service
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.releases.schemas import (
    OsReleaseDetailOut,
    OsReleaseIn,
    OsReleaseOut,
    ReleaseTransitionIn,
)

router = APIRouter(prefix="/os-releases", tags=["os-releases"])


def _out(release: OsRelease, clock: Clock) -> OsReleaseOut:
    return OsReleaseOut.model_validate(
        {
            **{
                field: getattr(release, field)
                for field in OsReleaseOut.model_fields
                if field != "effective_state"
            },
            "effective_state": service.effective_state(release, clock.now()),
        }
    )


@router.post("", response_model=OsReleaseOut, status_code=status.HTTP_201_CREATED)
def publish_release(
    body: OsReleaseIn,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: Authenticated,
) -> OsReleaseOut:
    """Publish a platform OS image to retail-eval (platform administrator only)."""
    window_days = body.eval_window_days
    release = service.publish_release(
        session=session,
        clock=clock,
        principal=principal,
        image_id=body.image_id,
        eval_window_days=(
            settings.default_eval_window_days if window_days is None else window_days
        ),
        note=body.note,
    )
    return _out(release, clock)


@router.get("", response_model=list[OsReleaseOut])
def list_releases(
    session: SessionDep,
    clock: ClockDep,
    principal: Authenticated,  # noqa: ARG001 - any principal may read releases
    state: Annotated[ReleaseState | None, Query()] = None,
) -> list[OsReleaseOut]:
    """List OS releases, newest version first; ``state`` is the effective state."""
    releases = service.list_releases(session=session, now=clock.now(), state=state)
    return [_out(release, clock) for release in releases]


@router.get("/{release_id}", response_model=OsReleaseDetailOut)
def show_release(
    release_id: ResourceId,
    session: SessionDep,
    clock: ClockDep,
    principal: Authenticated,
) -> OsReleaseDetailOut:
    """Show a release with the caller's devices running it, by update state."""
    release = service.get_release(session=session, release_id=release_id)
    return _detail(session, clock, principal, release)


def _detail(
    session: SessionDep, clock: Clock, principal: Principal, release: OsRelease
) -> OsReleaseDetailOut:
    image_sha256 = service.release_image_sha256(session, release)
    counts = service.device_counts(
        session=session, principal=principal, release=release
    )
    return OsReleaseDetailOut(
        **_out(release, clock).model_dump(),
        image_sha256=image_sha256,
        device_counts=counts,
    )


def _transition(action: ReleaseAction, summary: str) -> None:
    @router.post(
        f"/{{release_id}}/{action.value}",
        response_model=OsReleaseOut,
        name=f"{action.value}_release",
        summary=summary,
    )
    def transition(
        release_id: ResourceId,
        session: SessionDep,
        clock: ClockDep,
        principal: Authenticated,
        body: ReleaseTransitionIn | None = None,
    ) -> OsReleaseOut:
        release = service.transition_release(
            session=session,
            clock=clock,
            principal=principal,
            release_id=release_id,
            action=action,
            reason=body.reason if body else None,
        )
        return _out(release, clock)


_transition(ReleaseAction.PROMOTE, "Promote a retail-eval release to retail")
_transition(ReleaseAction.CANCEL, "Cancel a retail-eval release")
_transition(ReleaseAction.WITHDRAW, "Withdraw a retail release")
