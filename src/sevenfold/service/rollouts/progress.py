"""Reading rollouts: who may see which, and their per-wave progress
(docs/failures.md §3).

The platform administrator sees every rollout. A tenant principal with ``read``
sees its tenant's deployment rollouts and the OS rollouts that have at least one of
its devices as a member; in those it counts only its own devices.
"""

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from sevenfold.protocol.rollouts import RolloutState
from sevenfold.service.access.permissions import Permission
from sevenfold.service.access.principal import Principal
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import NotFoundError, PermissionDeniedError
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts.models import Rollout, RolloutMember, RolloutWave


@dataclass(frozen=True, slots=True)
class WaveProgress:
    """One wave and what its members did so far."""

    wave: RolloutWave
    devices: int
    ran: int
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class RolloutView:
    """A rollout with its waves' progress, as the caller may see it."""

    rollout: Rollout
    os_release_version: str | None
    waves: list[WaveProgress]


def _concerns_tenant(tenant_id: str) -> Exists:
    """An OS rollout with a member device in ``tenant_id``."""
    return exists(
        select(RolloutMember.device_id)
        .join(Device, Device.id == RolloutMember.device_id)
        .where(RolloutMember.rollout_id == Rollout.id, Device.tenant_id == tenant_id)
    )


def _reader_tenant(principal: Principal) -> str | None:
    """None for the platform administrator (sees every rollout), else the tenant
    whose rollouts the principal reads."""
    if principal.is_platform_administrator:
        return None
    tenant_id = principal.require_tenant()
    if Permission.READ not in principal.permissions:
        raise PermissionDeniedError("this token's role does not allow 'read'")
    return tenant_id


def visible_rollout(session: Session, principal: Principal, rollout_id: str) -> Rollout:
    tenant_id = _reader_tenant(principal)
    rollout = session.get(Rollout, rollout_id)
    visible = rollout is not None and (
        tenant_id is None
        or rollout.tenant_id == tenant_id
        or (
            rollout.tenant_id is None
            and bool(
                session.scalar(
                    select(_concerns_tenant(tenant_id)).where(Rollout.id == rollout_id)
                )
            )
        )
    )
    if rollout is None or not visible:
        raise NotFoundError(f"no rollout '{rollout_id}'")
    return rollout


def list_rollouts(
    *,
    session: Session,
    principal: Principal,
    state: RolloutState | None = None,
    os_release_id: str | None = None,
    deployment_id: str | None = None,
) -> list[RolloutView]:
    """Rollouts the caller may see, newest first.

    The platform administrator sees every rollout. A tenant principal sees its
    tenant's deployment rollouts and the OS rollouts that have at least one of its
    tenant's devices as a member, with progress counted over its devices only.
    """
    tenant_id = _reader_tenant(principal)
    query = select(Rollout)
    if tenant_id is not None:
        query = query.where(
            (Rollout.tenant_id == tenant_id)
            | (Rollout.tenant_id.is_(None) & _concerns_tenant(tenant_id))
        )
    if state is not None:
        query = query.where(Rollout.state == state.value)
    if os_release_id is not None:
        query = query.where(Rollout.os_release_id == os_release_id)
    if deployment_id is not None:
        query = query.where(Rollout.deployment_id == deployment_id)
    rollouts = session.scalars(
        query.order_by(Rollout.created_at.desc(), Rollout.id)
    ).all()
    return _views(session, tenant_id, list(rollouts))


def get_rollout(
    *, session: Session, principal: Principal, rollout_id: str
) -> RolloutView:
    """One rollout with its per-wave progress.

    Raises:
        NotFoundError: no such rollout the caller may see.
    """
    rollout = visible_rollout(session, principal, rollout_id)
    return _views(session, _reader_tenant(principal), [rollout])[0]


def _views(
    session: Session, tenant_id: str | None, rollouts: list[Rollout]
) -> list[RolloutView]:
    if not rollouts:
        return []
    ids = [rollout.id for rollout in rollouts]
    waves: dict[str, list[RolloutWave]] = {rollout_id: [] for rollout_id in ids}
    for wave in session.scalars(
        select(RolloutWave)
        .where(RolloutWave.rollout_id.in_(ids))
        .order_by(RolloutWave.rollout_id, RolloutWave.position)
    ).all():
        waves[wave.rollout_id].append(wave)
    counts = _progress_counts(session, tenant_id, ids)
    versions = dict(
        session.execute(
            select(OsRelease.id, OsRelease.version).where(
                OsRelease.id.in_(
                    [r.os_release_id for r in rollouts if r.os_release_id is not None]
                )
            )
        ).all()
    )
    views: list[RolloutView] = []
    for rollout in rollouts:
        progress = []
        for wave in waves[rollout.id]:
            devices, ran, succeeded, failed = counts.get(
                (rollout.id, wave.position), (0, 0, 0, 0)
            )
            progress.append(WaveProgress(wave, devices, ran, succeeded, failed))
        version = versions.get(rollout.os_release_id) if rollout.os_release_id else None
        views.append(RolloutView(rollout, version, progress))
    return views


def _progress_counts(
    session: Session, tenant_id: str | None, rollout_ids: list[str]
) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    """(rollout, wave) -> (devices, ran, succeeded, failed); over the tenant's
    devices only when ``tenant_id`` is given."""
    query = select(
        RolloutMember.rollout_id,
        RolloutMember.wave,
        func.count(),
        func.count(RolloutMember.ran_at),
        func.count(RolloutMember.succeeded_at),
        func.count(RolloutMember.failed_at),
    ).where(RolloutMember.rollout_id.in_(rollout_ids))
    if tenant_id is not None:
        query = query.join(Device, Device.id == RolloutMember.device_id).where(
            Device.tenant_id == tenant_id
        )
    rows = session.execute(
        query.group_by(RolloutMember.rollout_id, RolloutMember.wave)
    ).all()
    return {
        (rollout_id, wave): (devices, ran, succeeded, failed)
        for rollout_id, wave, devices, ran, succeeded, failed in rows
    }
