"""The update schedule: handle the boot, check at start, then every interval.

Checks run every ``update_check_interval_s`` (20 h by default) +/- 10 %; a failed
check backs off exponentially with jitter, like attestation; a status answer with
``check_requested`` starts another check at once. Each check holds the update lock
(``agent check`` takes the same one). ``run`` returns the outcome when the device
must reboot, which ``agent run`` turns into a process restart.
"""

import asyncio
import logging
import random
from pathlib import Path

from sevenfold.agent.errors import UpdateLockedError
from sevenfold.agent.schedule import backoff_delay_s, update_check_delay_s
from sevenfold.agent.update_cycle import (
    BootOutcome,
    CycleOutcome,
    HealthCheck,
    UpdateCycle,
    update_lock,
)
from sevenfold.agent.waiting import Sleep, sleep_unless_stopped

MAX_REQUESTED_CHECKS_IN_A_ROW = 3  # a service that keeps asking cannot spin us
_log = logging.getLogger(__name__)


class UpdateLoop:
    """Runs one device's update checks beside its attestation loop."""

    def __init__(
        self,
        *,
        cycle: UpdateCycle,
        state_dir: Path,
        interval_s: float,
        backoff_base_s: float,
        backoff_max_s: float,
        boot: BootOutcome | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._cycle = cycle
        self._state_dir = state_dir
        self._interval_s = interval_s
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._boot = boot
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - timing jitter, not secrets
        self._failures = 0
        self.outcomes: list[CycleOutcome] = []

    @property
    def consecutive_failures(self) -> int:
        """Failed checks since the last good one."""
        return self._failures

    async def run(
        self, stop: asyncio.Event, health_check: HealthCheck
    ) -> CycleOutcome | None:
        """Handle the boot, then check until ``stop``; return a reboot outcome."""
        if self._boot is not None:
            booted = await self._cycle.after_boot(self._boot, health_check)
            self._boot = None
            self.outcomes.append(booted)
            if booted.reboot_required:
                return booted
        requested_in_a_row = 0
        while not stop.is_set():
            outcome = await self.check_once()
            if outcome is not None and outcome.reboot_required:
                return outcome
            if outcome is not None and outcome.check_requested:
                requested_in_a_row += 1
                if requested_in_a_row <= MAX_REQUESTED_CHECKS_IN_A_ROW:
                    _log.info("the service asked for a check; checking now")
                    continue
            requested_in_a_row = 0
            await self._wait(self._next_delay_s(), stop)
        return None

    async def check_once(self) -> CycleOutcome | None:
        """One check under the update lock; ``None`` when another holds it."""
        try:
            with update_lock(self._state_dir):
                outcome = await self._cycle.check()
        except UpdateLockedError:
            _log.info("an update check is already running; trying later")
            self._failures += 1
            return None
        self.outcomes.append(outcome)
        self._failures = self._failures + 1 if outcome.failed else 0
        return outcome

    def _next_delay_s(self) -> float:
        if self._failures:
            return backoff_delay_s(
                self._failures, self._backoff_base_s, self._backoff_max_s, self._rng
            )
        return update_check_delay_s(self._interval_s, self._rng)

    async def _wait(self, delay_s: float, stop: asyncio.Event) -> None:
        await sleep_unless_stopped(self._sleep, delay_s, stop)
