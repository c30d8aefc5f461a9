"""Heater temperatures over time: linear heat-up and cool-down towards a target."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Heater:
    """One heater; its temperature is a function of time, recomputed from the last change."""

    letter: str
    index: int | None
    ambient: float
    heat_rate: float  # degrees per second of model time, already scaled
    cool_rate: float
    since: float = 0.0
    start: float = 0.0
    target: float = 0.0

    def __post_init__(self) -> None:
        self.start = self.ambient

    def temperature(self, now: float) -> float:
        elapsed = max(0.0, now - self.since)
        goal = self.target if self.target > 0 else self.ambient
        if math.isinf(self.heat_rate if self.start < goal else self.cool_rate):
            return goal
        if self.start < goal:
            return min(goal, self.start + self.heat_rate * elapsed)
        return max(goal, self.start - self.cool_rate * elapsed)

    def set_target(self, target: float, now: float) -> None:
        self.start = self.temperature(now)
        self.since = now
        self.target = max(0.0, target)

    def power(self, now: float) -> int:
        if self.target <= 0:
            return 0
        return 127 if self.temperature(now) < self.target - 0.5 else 32

    def reached_at(self, window: float) -> float:
        """Model time at which the heater is within ``window`` of its target."""
        if self.target <= 0:
            return self.since
        gap = self.target - window - self.start
        if gap <= 0:
            # Marlin's M109 S waits only while heating; cooling to within the window is immediate.
            return self.since
        if math.isinf(self.heat_rate):
            return self.since
        return self.since + gap / self.heat_rate
