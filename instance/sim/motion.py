"""Where the toolhead is, and how long a move takes on a trapezoidal velocity profile."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

STEPS_PER_MM = {"X": 80.0, "Y": 80.0, "Z": 400.0, "E": 93.0}


def move_seconds(distance: float, feed_mm_s: float, acceleration: float) -> float:
    """Time for a move that starts and ends at rest (no junction speed carried over)."""
    if distance <= 0 or feed_mm_s <= 0:
        return 0.0
    ramp = feed_mm_s * feed_mm_s / acceleration
    if distance >= ramp:
        return distance / feed_mm_s + feed_mm_s / acceleration
    # Never reaches the feed rate: a triangle.
    return 2.0 * math.sqrt(distance / acceleration)


@dataclass(slots=True)
class Toolhead:
    """Logical position and the modal state a G-code stream changes (G90/G91, M82/M83, F)."""

    position: dict[str, float] = field(
        default_factory=lambda: {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
    )
    relative: bool = False
    relative_e: bool = False
    feed_rate: float = 1500.0  # mm/min, as G-code gives it
    speed_factor: float = 100.0
    flow_factor: float = 100.0
    tool: int = 0

    def move(self, words: dict[str, float]) -> float:
        """Apply a G0/G1; the distance travelled in mm (E counts only when nothing else moves)."""
        if "F" in words and words["F"] > 0:
            self.feed_rate = words["F"]
        squares = 0.0
        extruded = 0.0
        for axis in ("X", "Y", "Z", "E"):
            if axis not in words:
                continue
            relative = self.relative_e if axis == "E" else self.relative
            new = self.position[axis] + words[axis] if relative else words[axis]
            delta = new - self.position[axis]
            self.position[axis] = new
            if axis == "E":
                extruded = abs(delta)
            else:
                squares += delta * delta
        return math.sqrt(squares) if squares > 0 else extruded

    def feed_mm_s(self) -> float:
        return self.feed_rate / 60.0 * self.speed_factor / 100.0

    def set_position(self, words: dict[str, float]) -> None:
        for axis in ("X", "Y", "Z", "E"):
            if axis in words:
                self.position[axis] = words[axis]

    def report(self) -> str:
        """M114's answer, Marlin style."""
        pos = self.position
        counts = " ".join(
            f"{axis}:{round(pos[axis] * STEPS_PER_MM[axis])}" for axis in ("X", "Y", "Z")
        )
        return f"X:{pos['X']:.2f} Y:{pos['Y']:.2f} Z:{pos['Z']:.2f} E:{pos['E']:.2f} Count {counts}"
