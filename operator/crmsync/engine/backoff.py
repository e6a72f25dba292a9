"""Repeated failures wait longer each time: exponential, capped, with jitter."""

from __future__ import annotations

from datetime import timedelta

FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(minutes=30)


def retry_delay(failures: int, jitter: float) -> timedelta:
    """The wait after the ``failures``-th failure in a row (1, 2, …). ``jitter`` in [0, 1)
    spreads retries over the upper half of the step ("equal jitter"), so many objects
    failing together do not retry together."""
    doublings: int = min(max(failures, 1) - 1, 16)
    step = min(LONGEST_RETRY, FIRST_RETRY * (1 << doublings))
    return step / 2 + step / 2 * min(max(jitter, 0.0), 1.0)
