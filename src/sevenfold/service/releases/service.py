"""OS releases: publishing platform OS images to the feeds, and their life there.

docs/updates.md §3. A release starts in ``retail-eval`` and moves only along
``protocol.updates.RELEASE_TRANSITIONS``; anything else is a 409
``invalid-release-transition`` that changes nothing. Versions strictly increase
across all releases, cancelled ones included, so a device never has to go back.
Releases are platform data: only the platform administrator changes them (audited),
every authenticated principal reads them.
"""

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.updates import (
    RELEASE_TRANSITIONS,
    ImageType,
    ReleaseAction,
    ReleaseState,
)
from sevenfold.protocol.vocabulary import OsFeed
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from sevenfold.service.images.models import Image
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.updates.models import DeviceUpdateStatus

SECONDS_PER_DAY = 86_400
PROMOTER_ACTOR = "system:release-promoter"
"""The audit actor of promotions nobody asked for (the evaluation window ended)."""
_STAMP_OF_STATE = {
    ReleaseState.RETAIL: "promoted_at",
    ReleaseState.CANCELLED: "cancelled_at",
    ReleaseState.WITHDRAWN: "withdrawn_at",
}


def effective_state(release: OsRelease, now: datetime) -> ReleaseState:
    """The state readers act on: a ``retail-eval`` release past ``promote_at`` is
    ``retail`` already, whether or not the promoter has run yet, unless a halted
    rollout flagged it for review (docs/failures.md §4): then it stays
    ``retail-eval`` until an operator cancels or promotes it."""
    state = ReleaseState(release.state)
    if (
        state is ReleaseState.RETAIL_EVAL
        and release.promote_at <= now
        and release.review_flagged_at is None
    ):
        return ReleaseState.RETAIL
    return state


def newest_release_for_feed(
    session: Session, feed: OsFeed, now: datetime
) -> OsRelease | None:
    """The newest release a device group on ``feed`` should run, or None.

    ``retail`` sees releases in ``retail`` and ``retail-eval`` ones due for promotion
    (``promote_at <= now``, not flagged for review); ``retail-eval`` sees
    ``retail-eval`` and ``retail``.
    Cancelled and withdrawn releases are never offered (docs/updates.md §3); a
    device already running one stays there until a newer good release appears, which
    the caller (the director) decides by comparing versions.
    """
    query = select(OsRelease)
    if feed is OsFeed.RETAIL:
        query = query.where(
            or_(
                OsRelease.state == ReleaseState.RETAIL.value,
                (OsRelease.state == ReleaseState.RETAIL_EVAL.value)
                & (OsRelease.promote_at <= now)
                & OsRelease.review_flagged_at.is_(None),
            )
        )
    else:
        query = query.where(
            OsRelease.state.in_(
                [ReleaseState.RETAIL.value, ReleaseState.RETAIL_EVAL.value]
            )
        )
    return session.scalars(
        query.order_by(OsRelease.version_key.desc()).limit(1)
    ).first()


def released_os_image(session: Session, sha256_hex: str) -> Image | None:
    """The platform OS image with this package digest, if ANY release published it.

    Every state counts, cancelled and withdrawn included: attestation uses this, and
    a device running a bad release must still attest so it can be moved on.
    """
    return session.scalars(
        select(Image)
        .join(OsRelease, OsRelease.image_id == Image.id)
        .where(Image.sha256 == sha256_hex, Image.tenant_id.is_(None))
        .limit(1)
    ).first()


def _require_platform_administrator(principal: Principal) -> None:
    if not principal.is_platform_administrator:
        raise PermissionDeniedError(
            "only the platform administrator publishes and moves OS releases"
        )


def _platform_os_image(session: Session, image_id: str) -> Image:
    image = session.get(Image, image_id)
    if image is None or image.tenant_id is not None:
        raise NotFoundError(f"no platform OS image '{image_id}'")
    if image.kind != ImageType.OS.value:
        raise InvalidRequestError(f"image '{image_id}' is not an OS image")
    return image


def _not_newer(version: str) -> ConflictError:
    return ConflictError(
        f"version {version} is not newer than every published release "
        "(versions only go up, cancelled releases included)",
        code=ProblemCode.RELEASE_VERSION_NOT_NEWER,
    )


def publish_release(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    image_id: str,
    eval_window_days: int,
    note: str | None,
) -> OsRelease:
    """Publish a platform OS image in ``retail-eval`` for ``eval_window_days``.

    Raises:
        PermissionDeniedError: not the platform administrator.
        NotFoundError: no such platform image.
        InvalidRequestError: the image is not an OS image.
        ConflictError: ``release-version-not-newer``.
    """
    _require_platform_administrator(principal)
    image = _platform_os_image(session, image_id)
    newest_key = session.scalar(select(func.max(OsRelease.version_key)))
    if newest_key is not None and image.version_key <= newest_key:
        raise _not_newer(image.version)
    now = clock.now()
    window_s = eval_window_days * SECONDS_PER_DAY
    release = OsRelease(
        id=new_id(),
        version=image.version,
        version_key=image.version_key,
        image_id=image.id,
        state=ReleaseState.RETAIL_EVAL.value,
        eval_window_s=window_s,
        published_at=now,
        promote_at=now + timedelta(seconds=window_s),
        published_by=principal.token_id,
        reason=note,
    )
    session.add(release)
    try:
        session.flush()
    except IntegrityError as err:  # a concurrent publish of the same version
        session.rollback()
        raise _not_newer(image.version) from err
    _audit(
        session,
        clock,
        principal,
        "os-release.publish",
        release,
        {
            "version": release.version,
            "image_id": image.id,
            "eval_window_s": window_s,
            "to": ReleaseState.RETAIL_EVAL.value,
            "reason": note,
        },
    )
    session.commit()
    return release


def list_releases(
    *, session: Session, now: datetime, state: ReleaseState | None
) -> list[OsRelease]:
    """Every release, newest version first; ``state`` filters on the effective one."""
    releases = session.scalars(
        select(OsRelease).order_by(OsRelease.version_key.desc())
    ).all()
    if state is None:
        return list(releases)
    return [release for release in releases if effective_state(release, now) is state]


def get_release(*, session: Session, release_id: str) -> OsRelease:
    """One release by ID.

    Raises:
        NotFoundError: no such release.
    """
    release = session.get(OsRelease, release_id)
    if release is None:
        raise NotFoundError(f"no OS release '{release_id}'")
    return release


def _invalid(
    release: OsRelease, state: ReleaseState, action: ReleaseAction
) -> ConflictError:
    return ConflictError(
        f"release {release.version} is {state.value}: it cannot be {action.value}d",
        code=ProblemCode.INVALID_RELEASE_TRANSITION,
    )


def move_release(
    *,
    session: Session,
    clock: Clock,
    principal: Principal | None,
    release: OsRelease,
    target: ReleaseState,
    reason: str | None,
) -> bool:
    """Move a release from its stored state to ``target`` if nobody moved it first.

    A conditional ``UPDATE ... WHERE state = <stored>`` so that two racing callers
    (two promoters, an operator and the promoter) cannot both succeed. Adds the
    audit row; the caller commits. Returns False when the row had moved.
    """
    source = ReleaseState(release.state)
    now = clock.now()
    values: dict[str, object] = {"state": target.value, _STAMP_OF_STATE[target]: now}
    if reason is not None:
        values["reason"] = reason
    moved = session.execute(
        update(OsRelease)
        .where(OsRelease.id == release.id, OsRelease.state == source.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(release)
    _audit(
        session,
        clock,
        principal,
        f"os-release.{_ACTION_OF_TARGET[target].value}",
        release,
        {
            "version": release.version,
            "from": source.value,
            "to": target.value,
            "reason": reason,
        },
    )
    return True


_ACTION_OF_TARGET = {
    target: action for (_, action), target in RELEASE_TRANSITIONS.items()
}


def transition_release(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    release_id: str,
    action: ReleaseAction,
    reason: str | None,
) -> OsRelease:
    """Apply an operator's ``action`` exactly as ``RELEASE_TRANSITIONS`` allows.

    The table is read from the effective state: a release past ``promote_at`` is
    already retail for every feed, so it can be withdrawn (it is promoted first, by
    the system, audited) but no longer cancelled or promoted.

    Raises:
        PermissionDeniedError: not the platform administrator.
        NotFoundError: no such release.
        ConflictError: ``invalid-release-transition``; nothing was changed.
    """
    _require_platform_administrator(principal)
    release = get_release(session=session, release_id=release_id)
    current = effective_state(release, clock.now())
    target = RELEASE_TRANSITIONS.get((current, action))
    if target is None:
        raise _invalid(release, current, action)
    if current.value != release.state and not move_release(
        session=session,
        clock=clock,
        principal=None,
        release=release,
        target=current,
        reason="evaluation window ended",
    ):
        session.rollback()
        raise _invalid(release, current, action)
    if not move_release(
        session=session,
        clock=clock,
        principal=principal,
        release=release,
        target=target,
        reason=reason,
    ):
        session.rollback()
        raise _invalid(release, current, action)
    session.commit()
    return release


def device_counts(
    *, session: Session, principal: Principal, release: OsRelease
) -> dict[str, int]:
    """Devices running the release's image, by reported update state.

    A tenant principal counts only its tenant's devices; the platform administrator
    counts every device.
    """
    query = select(DeviceUpdateStatus.state, func.count()).where(
        DeviceUpdateStatus.os_image_id == release.image_id
    )
    if not principal.is_platform_administrator:
        if principal.tenant_id is None:
            return {}
        query = query.where(DeviceUpdateStatus.tenant_id == principal.tenant_id)
    rows = session.execute(query.group_by(DeviceUpdateStatus.state)).all()
    return {state: count for state, count in rows}


def _audit(
    session: Session,
    clock: Clock,
    principal: Principal | None,
    action: str,
    release: OsRelease,
    details: dict[str, object],
) -> None:
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=None,
        action=action,
        target_type="os-release",
        target_id=release.id,
        details=details,
        actor_name=None if principal else PROMOTER_ACTOR,
    )


def release_image_sha256(session: Session, release: OsRelease) -> str:
    """The package digest of the release's image (its measurement and TUF target)."""
    image = session.get(Image, release.image_id)
    if image is None:  # the foreign key makes this impossible
        raise NotFoundError(f"the image of release {release.version} is missing")
    return image.sha256
