"""A print server's counters (``GET /api/v1/counters``) as the hub keeps them; no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("completed", "cancelled", "failed", "interrupted")


class CountersError(ValueError):
    """An answer that is not a print server's counters; the message says what is wrong."""


def _figure(raw: Any, name: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise CountersError(f"'{name}' is not a number")
    if raw < 0:
        raise CountersError(f"'{name}' is negative")
    return float(raw)


@dataclass(frozen=True, slots=True)
class Counters:
    """One reading of a printer's counters, and when the hub took it (Unix time)."""

    at: float
    print_seconds: float = 0.0
    filament_mm: float = 0.0
    move_mm: float = 0.0
    jobs: dict[str, int] = field(default_factory=dict)
    heater_on_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def jobs_total(self) -> int:
        return sum(self.jobs.values())

    @property
    def hotend_seconds(self) -> float:
        """The tool heaters' (T0, T1, …) time with a target, summed."""
        return sum(v for k, v in self.heater_on_seconds.items() if k.startswith("T"))

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "print_seconds": self.print_seconds,
            "filament_mm": self.filament_mm,
            "move_mm": self.move_mm,
            "jobs": dict(self.jobs),
            "heater_on_seconds": dict(self.heater_on_seconds),
        }


def parse_counters(raw: Any, at: float) -> Counters:
    """The counters in a print server's answer (or a stored reading); CountersError if not."""
    if not isinstance(raw, dict):
        raise CountersError("the answer is not a JSON object")
    jobs_raw = raw.get("jobs")
    heat_raw = raw.get("heater_on_seconds")
    if not isinstance(jobs_raw, dict) or not isinstance(heat_raw, dict):
        raise CountersError("'jobs' or 'heater_on_seconds' is missing")
    return Counters(
        at=at,
        print_seconds=_figure(raw.get("print_seconds"), "print_seconds"),
        filament_mm=_figure(raw.get("filament_mm"), "filament_mm"),
        move_mm=_figure(raw.get("move_mm"), "move_mm"),
        jobs={o: int(_figure(jobs_raw.get(o, 0), f"jobs.{o}")) for o in OUTCOMES},
        heater_on_seconds={
            str(k)[:40]: _figure(v, f"heater_on_seconds.{k}") for k, v in heat_raw.items()
        },
    )
