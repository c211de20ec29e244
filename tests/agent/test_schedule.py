"""Renewal and backoff timing: the bounds hold for every input (Hypothesis)."""

import random

from hypothesis import given
from hypothesis import strategies as st

from sevenfold.agent.schedule import (
    MIN_RENEWAL_DELAY_S,
    backoff_cap_s,
    backoff_delay_s,
    renewal_delay_s,
)

lifetimes_s = st.floats(min_value=0.0, max_value=10 * 365 * 86400.0)
seeds = st.integers(min_value=0, max_value=2**32)
bases_s = st.floats(min_value=0.01, max_value=600.0)
failures = st.integers(min_value=1, max_value=10_000)


@given(remaining_s=lifetimes_s, seed=seeds)
def test_renewal_is_two_thirds_of_the_lifetime_within_ten_percent(
    remaining_s: float, seed: int
) -> None:
    delay_s = renewal_delay_s(remaining_s, random.Random(seed))
    two_thirds = remaining_s * 2 / 3
    assert delay_s >= MIN_RENEWAL_DELAY_S
    if two_thirds * 0.9 >= MIN_RENEWAL_DELAY_S:
        assert two_thirds * 0.9 <= delay_s <= two_thirds * 1.1
        assert delay_s < remaining_s  # always renewed before expiry


@given(
    count=failures,
    base_s=bases_s,
    extra_s=st.floats(min_value=0.0, max_value=86400.0),
    seed=seeds,
)
def test_backoff_never_exceeds_its_cap_or_the_max(
    count: int, base_s: float, extra_s: float, seed: int
) -> None:
    max_s = base_s + extra_s
    delay_s = backoff_delay_s(count, base_s, max_s, random.Random(seed))
    assert 0.0 <= delay_s <= backoff_cap_s(count, base_s, max_s) <= max_s


@given(count=failures, base_s=bases_s, extra_s=st.floats(0.0, 86400.0))
def test_the_backoff_cap_doubles_until_the_max(
    count: int, base_s: float, extra_s: float
) -> None:
    max_s = base_s + extra_s
    before = backoff_cap_s(count, base_s, max_s)
    after = backoff_cap_s(count + 1, base_s, max_s)
    assert after == min(max_s, before * 2) or after == max_s
    assert after >= before
    assert backoff_cap_s(1, base_s, max_s) == base_s
    assert backoff_cap_s(64, base_s, max_s) == max_s or base_s * 2.0**63 < max_s
