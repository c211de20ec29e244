"""The pure rollout rules (docs/failures.md §3-4): deterministic wave membership,
wave sizes, the strict threshold, and which failures count."""

from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.protocol.errors import RolloutError
from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.rollouts import (
    CLOCK_SKEW_S,
    FailurePolicy,
    WaveSpec,
    WaveUnit,
    assign_waves,
    judge,
    wave_sizes,
)

RAN_AT = datetime(2026, 11, 25, 12, tzinfo=UTC)
device_ids = st.lists(
    st.text("0123456789abcdef", min_size=8, max_size=8), unique=True, max_size=200
)
waves = st.lists(
    st.one_of(
        st.builds(WaveSpec, size=st.integers(1, 40), unit=st.just(WaveUnit.PERCENT)),
        st.builds(WaveSpec, size=st.integers(1, 60), unit=st.just(WaveUnit.COUNT)),
    ),
    min_size=1,
    max_size=4,
)


@given(device_ids, waves, st.randoms())
def test_membership_depends_on_the_devices_not_their_order(
    devices: list[str], specs: list[WaveSpec], rng: Random
) -> None:
    shuffled = list(devices)
    rng.shuffle(shuffled)
    assert assign_waves("r1", devices, specs) == assign_waves("r1", shuffled, specs)


@given(device_ids, waves)
def test_waves_take_what_their_sizes_say_and_never_more_than_there_is(
    devices: list[str], specs: list[WaveSpec]
) -> None:
    members = assign_waves("r1", devices, specs)
    sizes = wave_sizes(specs, len(devices))
    assert sum(sizes) == len(members) <= len(devices)
    for index, size in enumerate(sizes):
        assert sum(wave == index for wave in members.values()) == size


@given(device_ids)
def test_another_rollout_orders_the_same_devices_differently(
    devices: list[str],
) -> None:
    """The hash includes the rollout: the same devices are not always first."""
    specs = [WaveSpec(size=1, unit=WaveUnit.COUNT)]
    if len(devices) >= 8:
        firsts = {
            next(iter(assign_waves(f"rollout-{n}", devices, specs))) for n in range(20)
        }
        assert len(firsts) > 1


def test_a_one_percent_wave_of_fifty_devices_is_one_device() -> None:
    assert wave_sizes([WaveSpec(size=1, unit=WaveUnit.PERCENT)], 50) == [1]


@given(st.integers(1, 500), st.integers(0, 500), st.floats(0, 100))
def test_a_rollout_halts_only_strictly_above_the_threshold_after_the_minimum(
    min_devices: int, ran: int, threshold: float
) -> None:
    policy = FailurePolicy(min_devices=min_devices, threshold_percent=threshold)
    for failed in range(ran + 1):
        verdict = judge(policy, ran=ran, failed=failed)
        expected = ran >= min_devices and failed * 100 > threshold * ran
        assert verdict.halt is expected


def test_a_bad_link_never_counts_against_a_release() -> None:
    with pytest.raises(RolloutError):
        FailurePolicy(counted_kinds=frozenset({FailureKind.NETWORK_FAILURE}))


def test_a_device_clock_a_little_behind_still_counts_but_an_old_backlog_does_not() -> (
    None
):
    policy = FailurePolicy()
    skew = timedelta(seconds=CLOCK_SKEW_S)
    assert policy.counts(FailureKind.UPDATE_FAILURE, RAN_AT - skew, RAN_AT)
    assert not policy.counts(
        FailureKind.UPDATE_FAILURE, RAN_AT - skew - timedelta(seconds=1), RAN_AT
    )


def test_an_app_crash_counts_only_within_the_crash_window() -> None:
    policy = FailurePolicy(crash_window_s=600)
    window = timedelta(seconds=600)
    assert policy.counts(FailureKind.APP_CRASH, RAN_AT + window, RAN_AT)
    assert not policy.counts(
        FailureKind.APP_CRASH, RAN_AT + window + timedelta(seconds=1), RAN_AT
    )
