"""The model's time arithmetic: how close two times must be to count as one, and cadences."""

from __future__ import annotations

import math

# Times are floats summed from byte times and delays: compare them with this much slack.
EPSILON = 1e-9


def next_tick(previous: float, interval: float, now: float) -> float:
    """The next time on a fixed cadence after ``now`` (skipping ticks missed while catching up)."""
    if interval <= 0:
        return math.inf
    ticks = max(1, math.floor((now - previous) / interval) + 1)
    return previous + ticks * interval
