"""Feed-rate and flow overrides (M220, M221) and Z babystepping (M290) during a print.

They go to the firmware as commands of their own, queued behind the few lines of
the job already handed to the link, so they act within a move or two, while the
printer prints (jogs and other manual moves are refused then). What was set is
kept here for the page; a new job starts from 100 % and no babystep, and a
feed-rate or flow left changed by the last job is set back to 100 % before its
first line (Marlin keeps both until it is told otherwise or reset).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from instance.printer import Printer, PrinterError

FEED_PERCENT = (10, 500)
FLOW_PERCENT = (10, 200)
BABYSTEP_MM = 0.5
DEFAULT_PERCENT = 100


@dataclass
class Overrides:
    """What the user set during the current job (or since the last one ended)."""

    feed_percent: int = DEFAULT_PERCENT
    flow_percent: int = DEFAULT_PERCENT
    babystep_z_mm: float = 0.0
    _job_id: int | None = None
    _printer: Printer | None = None

    def watch(self, printer: Printer) -> None:
        """Start every new job of ``printer`` from the defaults."""
        if self._printer is printer:
            return  # already watching (an app built twice on one context)
        self._printer = printer
        printer.subscribe(self._printer_changed)

    def set_feed(self, percent: int) -> None:
        self._send(f"M220 S{percent}")
        self.feed_percent = percent

    def set_flow(self, percent: int) -> None:
        self._send(f"M221 S{percent}")
        self.flow_percent = percent

    def babystep(self, z_mm: float) -> None:
        self._send(f"M290 Z{z_mm:g}")
        self.babystep_z_mm = round(self.babystep_z_mm + z_mm, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "feed_percent": self.feed_percent,
            "flow_percent": self.flow_percent,
            "babystep_z_mm": self.babystep_z_mm,
        }

    def _send(self, command: str) -> None:
        assert self._printer is not None, "Overrides.watch(printer) first"
        # The terminal's path: allowed while printing, queued between the job's lines.
        self._printer.send_gcode(command)

    def _printer_changed(self) -> None:
        printer = self._printer
        job = None if printer is None else printer.job
        if printer is None or job is None or job.id == self._job_id:
            return
        self._job_id = job.id
        # Called as the job's state is set, before its first line is queued.
        with contextlib.suppress(PrinterError):
            if self.feed_percent != DEFAULT_PERCENT:
                printer.send_gcode(f"M220 S{DEFAULT_PERCENT}")
            if self.flow_percent != DEFAULT_PERCENT:
                printer.send_gcode(f"M221 S{DEFAULT_PERCENT}")
        self.feed_percent = self.flow_percent = DEFAULT_PERCENT
        self.babystep_z_mm = 0.0
