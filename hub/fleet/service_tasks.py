"""Service tasks as fleet.json states them (``site.maintenance``, ``printers[].maintenance``).

Each task names its intervals (``every``: one or more of :data:`INTERVALS`; whichever
comes first), optionally the printers or groups it is for (default: every printer),
and a guide's URL. docs/maintenance.md has the rules; hub/maintenance/ uses them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The interval kinds: print hours, metres of filament, jobs, days, km of travel, hours
# of the hotend heaters.
INTERVALS = ("print_hours", "filament_m", "jobs", "days", "move_km", "heater_hours")
MAX_TASK = 100


class ServiceTaskError(ValueError):
    """A service task in fleet.json that is not one; the message says where and why."""


@dataclass(frozen=True, slots=True)
class ServiceTask:
    task: str
    # (interval kind, amount), in the order of INTERVALS.
    every: tuple[tuple[str, float], ...]
    printers: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    guide: str | None = None

    def applies_to(self, printer: str, groups: tuple[str, ...]) -> bool:
        if not self.printers and not self.groups:
            return True
        return printer in self.printers or any(group in self.groups for group in groups)


def _names(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        raise ServiceTaskError(f"{where} must be a list of names")
    return tuple(raw)


def parse_task(raw: Any, where: str) -> ServiceTask:
    if not isinstance(raw, dict):
        raise ServiceTaskError(f"{where} must be an object")
    task = raw.get("task")
    if not isinstance(task, str) or not task.strip() or len(task) > MAX_TASK:
        raise ServiceTaskError(f"{where}.task must be a name of 1 to {MAX_TASK} characters")
    every = raw.get("every")
    if not isinstance(every, dict) or not every:
        raise ServiceTaskError(f"{where}.every must name at least one of {', '.join(INTERVALS)}")
    unknown = sorted(set(every) - set(INTERVALS))
    if unknown:
        raise ServiceTaskError(
            f"{where}.every: unknown {', '.join(unknown)}; known: {', '.join(INTERVALS)}"
        )
    intervals: list[tuple[str, float]] = []
    for kind in INTERVALS:
        if kind not in every:
            continue
        amount = every[kind]
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not math.isfinite(amount)
            or amount <= 0
        ):
            raise ServiceTaskError(f"{where}.every.{kind} must be a number above 0")
        intervals.append((kind, float(amount)))
    guide = raw.get("guide")
    if guide is not None and not isinstance(guide, str):
        raise ServiceTaskError(f"{where}.guide must be a URL")
    return ServiceTask(
        task=task.strip(),
        every=tuple(intervals),
        printers=_names(raw.get("printers"), f"{where}.printers"),
        groups=_names(raw.get("groups"), f"{where}.groups"),
        guide=guide,
    )


def parse_tasks(raw: Any, where: str) -> tuple[ServiceTask, ...]:
    """A list of tasks (absent: none); ServiceTaskError says what is wrong."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ServiceTaskError(f"{where} must be a list of tasks")
    return tuple(parse_task(item, f"{where}[{i}]") for i, item in enumerate(raw))
