"""Retention of failure events: a background sweep deletes events older than
``failure_event_retention_days`` (docs/failures.md §2).

Age is measured by ``received_at`` (the service's own clock when the event was
stored), not by the device-reported ``last_at``: a device's clock cannot make its
events outlive the window (a far-future ``last_at``) or vanish on arrival (a
long-past one), and a backlog uploaded after a week offline is kept for the whole
window from the day it arrived.
"""

import logging
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from sevenfold.protocol.clock import Clock
from sevenfold.service.failures.models import FailureEventRecord
from sevenfold.service.periodic import run_periodically

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 6 * 3600.0
"""How often the sweep runs (a few times a day: the window is counted in days)."""
DELETE_CHUNK_ROWS = 5000
"""Rows deleted per transaction, so a large sweep never holds long locks."""


def delete_expired(session: Session, clock: Clock, retention_days: int) -> int:
    """Delete every event received more than ``retention_days`` ago; return how
    many. Commits a chunk at a time; safe to run in several processes at once."""
    cutoff = clock.now() - timedelta(days=retention_days)
    deleted = 0
    while True:
        ids = list(
            session.scalars(
                select(FailureEventRecord.id)
                .where(FailureEventRecord.received_at < cutoff)
                .limit(DELETE_CHUNK_ROWS)
            )
        )
        if not ids:
            return deleted
        session.execute(
            delete(FailureEventRecord)
            .where(FailureEventRecord.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        session.commit()
        deleted += len(ids)


class FailureEventSweeper:
    """Runs :func:`delete_expired` every ``interval_s`` until cancelled."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        retention_days: int,
        interval_s: float = SWEEP_INTERVAL_S,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._retention_days = retention_days
        self._interval_s = interval_s

    def run_once(self) -> int:
        """Delete what has expired; return how many events."""
        with self._session_factory() as session:
            deleted = delete_expired(session, self._clock, self._retention_days)
        if deleted:
            log.info("failure-events.expired count=%d", deleted)
        return deleted

    async def run_forever(self) -> None:
        """Sweep; survive database errors by logging and trying again."""
        await run_periodically(
            self.run_once,
            interval_s=self._interval_s,
            error_event="failure-events.sweeper.error",
        )
