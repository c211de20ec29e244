"""Waiting in the agent's loops: an injected sleep that a stop event cuts short.

The sleep is injected (virtual time in tests and the simulator), so the loops cannot
use ``asyncio.wait_for(stop.wait(), timeout)``.
"""

import asyncio
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


async def sleep_unless_stopped(
    sleep: Sleep, delay_s: float, stop: asyncio.Event
) -> None:
    """Sleep ``delay_s`` with ``sleep``, or less if ``stop`` is set meanwhile."""
    sleeper = asyncio.ensure_future(sleep(delay_s))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        stopper.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
