"""Automatic promotion: a ``retail-eval`` release becomes ``retail`` once its
evaluation window has passed (docs/updates.md §3).

Readers never wait for this: ``service.effective_state`` already treats a due release
as retail. The promoter makes the stored state (and the audit log) catch up.
"""

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.updates import ReleaseState
from sevenfold.service.periodic import run_periodically
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.releases.service import move_release

log = logging.getLogger(__name__)


def promote_due(session: Session, clock: Clock) -> list[OsRelease]:
    """Promote every ``retail-eval`` release whose ``promote_at`` has passed,
    except those a halted rollout flagged for review (docs/failures.md §4): an
    operator decides those.

    Audited with the system actor; safe to run in several processes at once (each
    move is a conditional update, so a release is promoted once).
    """
    due = session.scalars(
        select(OsRelease)
        .where(
            OsRelease.state == ReleaseState.RETAIL_EVAL.value,
            OsRelease.promote_at <= clock.now(),
            OsRelease.review_flagged_at.is_(None),
        )
        .order_by(OsRelease.version_key)
    ).all()
    promoted = [
        release
        for release in due
        if move_release(
            session=session,
            clock=clock,
            principal=None,
            release=release,
            target=ReleaseState.RETAIL,
            reason="evaluation window ended",
        )
    ]
    session.commit()
    return promoted


class ReleasePromoter:
    """Runs :func:`promote_due` every ``poll_interval_s`` until cancelled."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        poll_interval_s: float,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._poll_interval_s = poll_interval_s

    def run_once(self) -> list[str]:
        """Promote what is due; return the promoted versions."""
        with self._session_factory() as session:
            promoted = promote_due(session, self._clock)
            versions = [release.version for release in promoted]
        for version in versions:
            log.info("os-release.promoted version=%s", version)
        return versions

    async def run_forever(self) -> None:
        """Poll; survive database errors by logging and trying again."""
        await run_periodically(
            self.run_once,
            interval_s=self._poll_interval_s,
            error_event="os-release.promoter.error",
        )
