"""The background loop that leases and processes operations, owned by the app lifespan.

Blocking database work runs in a worker thread; the loop itself only sleeps and
dispatches, so it never stalls request handling.
"""

import asyncio
import logging

from sqlalchemy.orm import Session, sessionmaker

from sevenfold.protocol.clock import Clock
from sevenfold.service.operations import service

log = logging.getLogger(__name__)


class OperationRunner:
    """Processes queued operations until cancelled."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        poll_interval_s: float,
        batch_size: int,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size

    def run_once(self) -> bool:
        """Lease and finish one operation; return False when none was waiting."""
        with self._session_factory() as session:
            operation_id = service.lease_next(session=session, clock=self._clock)
        if operation_id is None:
            return False
        status = service.process(
            session_factory=self._session_factory,
            clock=self._clock,
            operation_id=operation_id,
            batch_size=self._batch_size,
        )
        log.info("operation.finished id=%s status=%s", operation_id, status.value)
        return True

    async def run_forever(self) -> None:
        """Poll for work; survive database errors by logging and trying again."""
        while True:
            try:
                worked = await asyncio.to_thread(self.run_once)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failing operation must not kill the loop
                log.exception("operation.runner.error")
                worked = False
            if not worked:
                await asyncio.sleep(self._poll_interval_s)
