"""How long a job has left: the slicer's estimate, corrected by how fast this printer goes.

A slicer predicts the print time of a file; a printer runs faster or slower than
that (its firmware limits, a simulator at 20x, a speed override). The estimate
here starts as the slicer's remaining time at the current file position (its
latest ``M73 R``, else its total for the part not yet printed) and blends in
the observed rate, print time per second of slicer time, once enough of the job
has run. Time spent waiting for heaters (``M109``, ``M190``…) and paused time
are not counted as printing: the slicer does not count them either.

All times are print time (seconds, paused time excluded) from the job's
:class:`~instance.gcode_file.ProgressClock`, so the estimate is deterministic
under test.
"""

from __future__ import annotations

# Commands that wait for a temperature: what they take is heating, not printing.
HEAT_WAITS = frozenset({"M109", "M190", "M191", "M116"})
# The observed rate counts once this share of the slicer's time, or this much
# print time, has passed; it weighs fully at FULL_AT times either.
START_SHARE = 0.02
START_SECONDS = 30.0
FULL_AT = 5.0
# Beyond these, an observed rate says more about a hiccup than about the printer.
RATE_LIMITS = (0.01, 100.0)


class RemainingTime:
    """The remaining-time estimate of one job (docs/print-server.md#time-remaining)."""

    def __init__(self, slicer_total: float | None, start_fraction: float = 0.0) -> None:
        self.slicer_total = slicer_total if slicer_total and slicer_total > 0 else None
        self._start_fraction = start_fraction
        self._heating = 0.0
        self._last_ack = 0.0
        self._first_m73: float | None = None
        # The latest M73 R (slicer seconds left) and the printing time (heating excluded)
        # it was acknowledged at.
        self._m73: tuple[float, float] | None = None
        # Slicer seconds done and print seconds spent (heating excluded) at the latest M73.
        self._m73_progress: tuple[float, float] | None = None

    def acknowledged(self, print_time: float, code: str) -> None:
        """The printer acknowledged a line of the file with G/M ``code`` at ``print_time``."""
        if code in HEAT_WAITS:
            # The printer sat in this wait since it acknowledged the line before it.
            self._heating += max(0.0, print_time - self._last_ack)
        self._last_ack = print_time

    def note_m73(self, print_time: float, remaining: float) -> None:
        """The file's ``M73 R`` (in seconds) was acknowledged at ``print_time``."""
        if self._first_m73 is None:
            self._first_m73 = remaining
        printing = self._printing(print_time)
        self._m73 = (remaining, printing)
        total = self.slicer_total or self._first_m73
        self._m73_progress = (total - remaining, printing)

    def rate_weight(self, slicer_done: float, printing: float) -> float:
        """How much the observed rate counts (0 to 1) after this much of the job."""
        total = self.slicer_total or self._first_m73
        share = slicer_done / total if total else 0.0
        reached = max(share / START_SHARE, printing / START_SECONDS)
        if reached < 1.0:
            return 0.0
        return min(1.0, (reached - 1.0) / (FULL_AT - 1.0))

    def factor(self, slicer_done: float, printing: float) -> float:
        """Print seconds per slicer second to expect from here on (1.0: as sliced)."""
        if slicer_done <= 0 or printing <= 0:
            return 1.0
        low, high = RATE_LIMITS
        rate = min(high, max(low, printing / slicer_done))
        return 1.0 + (rate - 1.0) * self.rate_weight(slicer_done, printing)

    def estimate(self, print_time: float, fraction: float, heating: bool = False) -> float | None:
        """Seconds left at ``print_time`` with ``fraction`` of the file done; None: no slicer
        figure to go on. ``heating``: the printer is in a heat-up wait now (the clock stands
        still until it ends)."""
        if fraction >= 1.0:
            return 0.0
        if heating:
            print_time = min(print_time, self._last_ack)
        if self._m73 is not None and self._m73_progress is not None:
            remaining, at = self._m73
            factor = self.factor(*self._m73_progress)
            # Counted down by the printing time since: smooth between the file's M73 lines.
            return max(0.0, remaining * factor - (self._printing(print_time) - at))
        if self.slicer_total is None:
            return None
        done = self.slicer_total * max(0.0, fraction - self._start_fraction)
        factor = self.factor(done, self._printing(print_time))
        return self.slicer_total * (1.0 - fraction) * factor

    def _printing(self, print_time: float) -> float:
        return max(0.0, print_time - self._heating)
