"""Stutter: the planner running dry between two moves because the next line came late.

A printer stutters when its planner empties while the host still has moves to
send: the toolhead stops, then starts again when the next move arrives. The
firmware cannot know what the host still holds, so it judges by what it runs:
two moves in a row with nothing between them that empties the planner on
purpose (a dwell, homing, ``M400``, a heat-up, a wait for the user, a reset)
should follow each other without a pause. When the second one reaches the
planner after the first has already ended, the gap is a starvation.
"""

from __future__ import annotations

from dataclasses import dataclass

# Gaps shorter than this are not counted as stutter: the simulator runs on the real
# clock, and under load its own wake-ups come a few milliseconds late.
STUTTER_GAP = 0.005


@dataclass(slots=True)
class Starvation:
    """Counts the gaps in which the planner stood empty between two moves of a stream.

    ``moves``: moves that took planner time. ``starved``: moves that found the
    planner already empty for at least ``min_gap`` (the previous move over)
    though nothing waited on purpose since it; ``starved_seconds`` and
    ``longest`` sum and bound those gaps; ``short_gaps`` counts the shorter ones.
    """

    min_gap: float = STUTTER_GAP
    moves: int = 0
    starved: int = 0
    starved_seconds: float = 0.0
    longest: float = 0.0
    short_gaps: int = 0
    _last_end: float | None = None

    def planned(self, now: float, start: float, seconds: float) -> None:
        """A move of ``seconds`` entered the planner at ``now`` and starts at ``start``."""
        last_end = self._last_end
        if last_end is not None and now > last_end:
            gap = now - last_end
            if gap >= self.min_gap:
                self.starved += 1
                self.starved_seconds += gap
                self.longest = max(self.longest, gap)
            else:
                self.short_gaps += 1
        self.moves += 1
        self._last_end = start + seconds

    def paused(self) -> None:
        """The planner empties on purpose (a wait, homing, a reset): no gap until the next move."""
        self._last_end = None

    def as_dict(self) -> dict[str, float | int]:
        return {
            "moves": self.moves,
            "starved": self.starved,
            "starved_seconds": round(self.starved_seconds, 6),
            "longest_starve": round(self.longest, 6),
            "short_gaps": self.short_gaps,
        }
