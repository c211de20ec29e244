"""Background ticks of the lifespan (release promotion, failure-event retention):
run a blocking ``tick`` in a thread every ``interval_s`` until cancelled."""

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def run_periodically(
    tick: Callable[[], object], *, interval_s: float, error_event: str
) -> None:
    """Call ``tick`` now and then every ``interval_s``; a tick that raises (the
    database is away) is logged as ``error_event`` and does not stop later ones."""
    while True:
        try:
            await asyncio.to_thread(tick)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failing tick must not stop later ones
            log.exception(error_event)
        await asyncio.sleep(interval_s)
