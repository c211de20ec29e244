"""Rollouts: waves, their membership, the state machine and the failure judgement
(docs/failures.md §3-4). Pure: no I/O; the service stores and schedules, this
module decides.

Wave membership is deterministic: devices are ordered by
``SHA-256(rollout id ‖ device id)`` and the waves take them in that order, so a
device's wave never depends on when it asked or on the database's row order.
"""

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sevenfold.protocol.errors import RolloutError
from sevenfold.protocol.failures import FailureKind

MAX_WAVES = 20
MAX_SOAK_S = 90 * 86_400
MAX_CRASH_WINDOW_S = 30 * 86_400
CLOCK_SKEW_S = 300
"""How far a device's clock may lag the service's. Event times are the device's,
``ran_at`` is the service's: an update failure stamped a little before the service
saw the device take the update (a clock a few seconds behind) must still count, while
a backlog from before the update must not."""


class RolloutState(StrEnum):
    """Where a rollout stands."""

    RUNNING = "running"
    PAUSED = "paused"  # by hand, or by the failure policy (``halted_at`` set)
    ABORTED = "aborted"
    COMPLETED = "completed"


class RolloutAction(StrEnum):
    """What an operator (or the evaluator) asks of a rollout."""

    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    HALT = "halt"  # the failure policy's pause (evaluator only)
    COMPLETE = "complete"  # every wave open and soaked (evaluator only)


ROLLOUT_TRANSITIONS: dict[tuple[RolloutState, RolloutAction], RolloutState] = {
    (RolloutState.RUNNING, RolloutAction.PAUSE): RolloutState.PAUSED,
    (RolloutState.RUNNING, RolloutAction.HALT): RolloutState.PAUSED,
    (RolloutState.RUNNING, RolloutAction.ABORT): RolloutState.ABORTED,
    (RolloutState.RUNNING, RolloutAction.COMPLETE): RolloutState.COMPLETED,
    (RolloutState.PAUSED, RolloutAction.RESUME): RolloutState.RUNNING,
    (RolloutState.PAUSED, RolloutAction.ABORT): RolloutState.ABORTED,
}
"""The whole rollout state machine; anything not listed is refused (409)."""


def next_state(state: RolloutState, action: RolloutAction) -> RolloutState:
    """The state ``action`` leads to.

    Raises:
        RolloutError: the transition is not in ``ROLLOUT_TRANSITIONS``.
    """
    try:
        return ROLLOUT_TRANSITIONS[(state, action)]
    except KeyError:
        raise RolloutError(f"a {state.value} rollout cannot {action.value}") from None


class WaveUnit(StrEnum):
    """How a wave's size is given."""

    COUNT = "count"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveSpec:
    """One wave: its size, when it may open at the earliest, and how long it soaks
    (stays open alone) before the next one may open."""

    size: int
    unit: WaveUnit
    min_soak_s: int = 0
    earliest_start_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.unit is WaveUnit.PERCENT and not 1 <= self.size <= 100:
            raise RolloutError("a percentage wave is 1-100 %")
        if self.unit is WaveUnit.COUNT and not 1 <= self.size <= 10_000_000:
            raise RolloutError("a wave counts at least one device")
        if not 0 <= self.min_soak_s <= MAX_SOAK_S:
            raise RolloutError(f"a soak time is 0-{MAX_SOAK_S} seconds")
        if self.earliest_start_at is not None and self.earliest_start_at.tzinfo is None:
            raise RolloutError("a wave's earliest start carries a time zone")


def check_waves(waves: Sequence[WaveSpec]) -> None:
    """Raises ``RolloutError`` unless 1-``MAX_WAVES`` waves whose percentages add
    up to at most 100."""
    if not 1 <= len(waves) <= MAX_WAVES:
        raise RolloutError(f"a rollout has 1-{MAX_WAVES} waves")
    percent = sum(w.size for w in waves if w.unit is WaveUnit.PERCENT)
    if percent > 100:
        raise RolloutError("the waves' percentages add up to more than 100")


def membership_hash(rollout_id: str, device_id: str) -> str:
    """The device's place in the rollout's order (hex SHA-256)."""
    return hashlib.sha256(f"{rollout_id}\n{device_id}".encode()).hexdigest()


def wave_sizes(waves: Sequence[WaveSpec], population: int) -> list[int]:
    """How many devices each wave takes out of ``population``, in order.

    Percentages round up (a 1 % wave of 50 devices is one device); a wave never
    takes more than what is left. Devices left over belong to no wave and get the
    update when the rollout completes.
    """
    left = population
    sizes: list[int] = []
    for wave in waves:
        wanted = (
            wave.size
            if wave.unit is WaveUnit.COUNT
            else math.ceil(population * wave.size / 100)
        )
        taken = min(wanted, left)
        sizes.append(taken)
        left -= taken
    return sizes


def assign_waves(
    rollout_id: str, device_ids: Iterable[str], waves: Sequence[WaveSpec]
) -> dict[str, int]:
    """Device id -> wave index (0-based) for the devices that fall in a wave."""
    ordered = sorted(set(device_ids), key=lambda d: membership_hash(rollout_id, d))
    members: dict[str, int] = {}
    start = 0
    for index, size in enumerate(wave_sizes(waves, len(ordered))):
        for device_id in ordered[start : start + size]:
            members[device_id] = index
        start += size
    return members


def wave_may_open(
    index: int,
    waves: Sequence[WaveSpec],
    opened_at: Sequence[datetime | None],
    now: datetime,
) -> bool:
    """Whether wave ``index`` may open at ``now``: its earliest start has passed,
    and the wave before it has been open for its soak time."""
    wave = waves[index]
    if wave.earliest_start_at is not None and now < wave.earliest_start_at:
        return False
    if index == 0:
        return True
    before = opened_at[index - 1]
    return before is not None and now >= before + timedelta(
        seconds=waves[index - 1].min_soak_s
    )


def rollout_complete(
    waves: Sequence[WaveSpec], opened_at: Sequence[datetime | None], now: datetime
) -> bool:
    """Every wave is open and the last has soaked."""
    last = opened_at[-1]
    return all(at is not None for at in opened_at) and (
        last is not None and now >= last + timedelta(seconds=waves[-1].min_soak_s)
    )


DEFAULT_COUNTED_KINDS = (
    FailureKind.UPDATE_FAILURE,
    FailureKind.ROLLBACK,
    FailureKind.BAD_SLOT_BOOT,
    FailureKind.APP_CRASH,
    FailureKind.ATTESTATION_FAILURE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailurePolicy:
    """When a rollout halts itself.

    Among devices of open waves that ran the update (since the rollout started or
    was last resumed), once at least ``min_devices`` have, the rollout halts when
    more than ``threshold_percent`` of them failed (strictly more, as hawkBit and
    AWS IoT Jobs; 0 halts on the first failure). A device failed when it recorded
    an event of a counted kind after it ran the update (allowing ``CLOCK_SKEW_S``
    for its clock); an ``app-crash`` counts only within ``crash_window_s`` of that.
    """

    counted_kinds: frozenset[FailureKind] = frozenset(DEFAULT_COUNTED_KINDS)
    min_devices: int = 5
    threshold_percent: float = 10.0
    crash_window_s: int = 3600

    def __post_init__(self) -> None:
        if FailureKind.NETWORK_FAILURE in self.counted_kinds:
            # A flaky link is the device's, not the release's (threat: a few devices
            # on bad links halting every rollout).
            raise RolloutError("network failures do not count against a release")
        if self.min_devices < 1:
            raise RolloutError("a policy judges after at least one device")
        if not 0 <= self.threshold_percent <= 100:
            raise RolloutError("the failure threshold is 0-100 %")
        if not 0 <= self.crash_window_s <= MAX_CRASH_WINDOW_S:
            raise RolloutError(f"the crash window is 0-{MAX_CRASH_WINDOW_S} seconds")

    def counts(self, kind: FailureKind, at: datetime, ran_at: datetime) -> bool:
        """Whether an event of ``kind`` at ``at`` (device clock) makes a device that
        ran the update at ``ran_at`` (service clock) a failure; ``CLOCK_SKEW_S``
        of lag is allowed."""
        if kind not in self.counted_kinds:
            return False
        if at < ran_at - timedelta(seconds=CLOCK_SKEW_S):
            return False
        if kind is FailureKind.APP_CRASH:
            return at <= ran_at + timedelta(seconds=self.crash_window_s)
        return True


@dataclass(frozen=True, slots=True)
class Judgement:
    """The failure policy's verdict on one rollout now."""

    ran: int
    failed: int
    halt: bool

    @property
    def failure_percent(self) -> float:
        """Failed devices as a percentage of those that ran the update."""
        return 0.0 if self.ran == 0 else 100.0 * self.failed / self.ran


def judge(policy: FailurePolicy, *, ran: int, failed: int) -> Judgement:
    """Apply ``policy`` to the counts of devices that ran the update and failed."""
    if not 0 <= failed <= ran:
        raise RolloutError("failed devices are a subset of those that ran")
    halt = ran >= policy.min_devices and 100.0 * failed > policy.threshold_percent * ran
    return Judgement(ran=ran, failed=failed, halt=halt)
