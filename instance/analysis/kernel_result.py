"""What a move kernel hands back after a whole file."""

from __future__ import annotations

from dataclasses import dataclass

# Tools T0..T15 are tracked separately; higher tool numbers are ignored.
MAX_TOOLS = 16


@dataclass(frozen=True, slots=True)
class KernelResult:
    """Totals of one pass over a file's moves.

    ``extruded_mm[t]`` is filament pushed by tool ``t``: the high-water mark of
    its net E travel, so retractions and their matching unretractions cancel
    and ``G92`` resets change nothing. ``bbox`` is min/max X, Y, Z over moves
    that extrude while moving in X/Y (None if none do). ``layer_z`` is the Z of
    each layer in print order (a layer starts where an extruding move first
    reaches a new Z). ``time_s`` is motion time from the planner; ``dwell_s``
    the total of ``G4`` dwells, kept apart. ``limit_lines`` counts the
    ``M201``/``M203``/``M204``/``M205`` lines that changed the limits.
    """

    time_s: float
    dwell_s: float
    extruded_mm: tuple[float, ...]
    bbox: tuple[float, float, float, float, float, float] | None
    layer_z: tuple[float, ...]
    move_count: int
    limit_lines: int
