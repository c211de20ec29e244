"""When the agent attests next: renewal at about two thirds of a certificate's
lifetime, and exponential backoff with full jitter after a failure.

Pure functions of their inputs and a ``random.Random``, so the bounds can be checked
exhaustively (Hypothesis) and the daemon's timing replayed from a seed.
"""

import random

RENEWAL_FRACTION = 2 / 3
RENEWAL_JITTER = 0.10  # the renewal delay varies by +/- 10 %
MIN_RENEWAL_DELAY_S = 1.0


def renewal_delay_s(remaining_s: float, rng: random.Random) -> float:
    """Seconds until renewing a certificate that is valid for ``remaining_s`` more.

    About two thirds of the remaining lifetime, +/- 10 %, so a fleet certified at
    the same moment does not renew at the same moment; never before one second.
    """
    jitter = rng.uniform(1 - RENEWAL_JITTER, 1 + RENEWAL_JITTER)
    return max(MIN_RENEWAL_DELAY_S, remaining_s * RENEWAL_FRACTION * jitter)


def backoff_cap_s(failures: int, base_s: float, max_s: float) -> float:
    """The longest wait after ``failures`` failures in a row: base * 2^(n-1), capped."""
    if failures < 1:
        return 0.0
    exponent = min(failures - 1, 64)  # 2**64 * base is past any sensible max
    return min(max_s, base_s * 2.0**exponent)


def backoff_delay_s(
    failures: int, base_s: float, max_s: float, rng: random.Random
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: uniform in [0, cap]."""
    return rng.uniform(0.0, backoff_cap_s(failures, base_s, max_s))


UPDATE_CHECK_JITTER = 0.10  # update checks vary by +/- 10 %, as renewals do


def update_check_delay_s(interval_s: float, rng: random.Random) -> float:
    """Seconds until the next update check: ``interval_s`` +/- 10 %, so a fleet
    started together does not ask for metadata together (docs/updates.md §5)."""
    jitter = rng.uniform(1 - UPDATE_CHECK_JITTER, 1 + UPDATE_CHECK_JITTER)
    return max(MIN_RENEWAL_DELAY_S, interval_s * jitter)
