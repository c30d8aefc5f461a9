"""Which service tasks are due: pure decisions from counters, no I/O (docs/maintenance.md).

A task's use is counted from its baseline: the counters when it was last marked done,
or, never done, the printer's first counters reading. Per interval the use is
``now - baseline`` (days: the time since the baseline was taken); a counter below its
baseline (the print server started counting again, e.g. on a new data volume) counts
from zero. The task's fraction is the largest of its intervals' (whichever comes
first): **due** from 90 % used, **overdue** from 100 %.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hub.fleet.roster import Fleet, FleetPrinter
from hub.fleet.service_tasks import ServiceTask
from hub.maintenance.counters import Counters

DUE_AT = 0.9
State = Literal["ok", "due", "overdue", "unknown"]


@dataclass(frozen=True, slots=True)
class Unit:
    # How the amount reads after "312 of 300 …" and after "overdue by 12 …".
    words: str
    short: str
    measure: Callable[[Counters], float]


UNITS: dict[str, Unit] = {
    "print_hours": Unit("print hours", "h", lambda c: c.print_seconds / 3600.0),
    "filament_m": Unit("m of filament", "m", lambda c: c.filament_mm / 1000.0),
    "jobs": Unit("jobs", "jobs", lambda c: float(c.jobs_total)),
    "days": Unit("days", "days", lambda c: c.at / 86400.0),
    "move_km": Unit("km of travel", "km", lambda c: c.move_mm / 1e6),
    "heater_hours": Unit("hotend heater hours", "h", lambda c: c.hotend_seconds / 3600.0),
}


@dataclass(frozen=True, slots=True)
class Use:
    """One interval of a task: how much of it is used."""

    kind: str
    used: float
    every: float

    @property
    def fraction(self) -> float:
        return self.used / self.every

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "used": round(self.used, 3),
            "every": self.every,
            "fraction": round(self.fraction, 4),
        }


@dataclass(frozen=True, slots=True)
class TaskState:
    task: str
    printer: str
    state: State
    # The largest fraction of the task's intervals used (None: no counters yet).
    fraction: float | None
    sentence: str
    uses: tuple[Use, ...] = ()
    guide: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "state": self.state,
            "fraction": None if self.fraction is None else round(self.fraction, 4),
            "sentence": self.sentence,
            "intervals": [use.to_json() for use in self.uses],
            "guide": self.guide,
        }


def tasks_for(fleet: Fleet, printer: FleetPrinter) -> list[ServiceTask]:
    """The site's tasks for ``printer`` (by name or group; default every printer), then its
    own; a task of its own replaces a site task of the same name."""
    own = {task.task: task for task in printer.maintenance}
    found = [
        task
        for task in fleet.maintenance
        if task.task not in own and task.applies_to(printer.name, printer.groups)
    ]
    return found + list(printer.maintenance)


def amount(value: float) -> str:
    """312, 9.5, 0.024: whole numbers from 10 up, else at most three decimals."""
    if abs(value) >= 10:
        return f"{round(value):d}"
    return f"{round(value, 3):g}"


def used(kind: str, now: Counters, baseline: Counters) -> float:
    unit = UNITS[kind]
    if kind == "days":
        return max(0.0, unit.measure(now) - unit.measure(baseline))
    current, before = unit.measure(now), unit.measure(baseline)
    return current - before if current >= before else current


def assess(
    task: ServiceTask, printer: str, now: Counters | None, baseline: Counters | None
) -> TaskState:
    """The task's state on ``printer`` from the latest counters and its baseline."""
    if now is None or baseline is None:
        return TaskState(
            task.task,
            printer,
            "unknown",
            None,
            f"{task.task}: no counters read from {printer} yet",
            guide=task.guide,
        )
    uses = tuple(Use(kind, used(kind, now, baseline), every) for kind, every in task.every)
    worst = max(uses, key=lambda use: use.fraction)
    unit = UNITS[worst.kind]
    sentence = f"{task.task}: {amount(worst.used)} of {amount(worst.every)} {unit.words}"
    state: State
    if worst.fraction >= 1.0:
        state = "overdue"
        sentence += f", overdue by {amount(worst.used - worst.every)} {unit.short}"
    elif worst.fraction >= DUE_AT:
        state = "due"
        sentence += f", due ({amount(worst.every - worst.used)} {unit.short} left)"
    else:
        state = "ok"
    return TaskState(task.task, printer, state, worst.fraction, sentence, uses, task.guide)
