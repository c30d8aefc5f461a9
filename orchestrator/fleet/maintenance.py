"""Service tasks in the fleet file: ``site.maintenance`` and ``printers[].maintenance``.

Carried to the hub as they are (hub/fleet.json, parsed by hub/fleet/service_tasks.py);
docs/maintenance.md explains intervals and the due/overdue rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from orchestrator.fleet.problems import FieldPath

_MODEL = ConfigDict(extra="forbid", frozen=True, strict=True)
Amount = Annotated[float, Field(gt=0, le=1e9)]


def _check_guide(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("a guide is a web address starting with https:// or http://")
    return value


class Every(BaseModel):
    """A task's intervals; the first one reached makes it due."""

    model_config = _MODEL

    print_hours: Amount | None = None
    filament_m: Amount | None = None
    jobs: Annotated[int, Field(ge=1, le=10**9)] | None = None
    days: Amount | None = None
    move_km: Amount | None = None
    heater_hours: Amount | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Every:
        if not self.model_dump(exclude_none=True):
            raise ValueError(
                "give at least one interval: print_hours, filament_m, jobs, days, move_km"
                " or heater_hours"
            )
        return self


class ServiceTask(BaseModel):
    """One service task: what to do, how often, on which printers, and where the guide is."""

    model_config = _MODEL

    task: Annotated[str, Field(min_length=1, max_length=100)]
    every: Every
    # Default (neither given): every printer.
    printers: list[Annotated[str, Field(min_length=1, max_length=64)]] = []
    groups: list[Annotated[str, Field(min_length=1, max_length=64)]] = []
    guide: Annotated[str, AfterValidator(_check_guide)] | None = None

    def hub_json(self) -> dict[str, Any]:
        """The task as hub/fleet.json carries it."""
        return self.model_dump(mode="json", exclude_none=True)


def task_problems(
    site_tasks: Iterable[ServiceTask],
    printers: Iterable[tuple[str, list[str], list[ServiceTask]]],
) -> list[tuple[FieldPath, str]]:
    """Printers and groups a site task names that the fleet does not have, a printer's own
    task that names printers or groups, and a task named twice in one list; ``printers``
    are (name, groups, own tasks)."""
    entries = list(printers)
    names = {name for name, _, _ in entries}
    groups = {group for _, printer_groups, _ in entries for group in printer_groups}
    found: list[tuple[FieldPath, str]] = []
    site = list(site_tasks)
    for index, task in enumerate(site):
        for position, name in enumerate(task.printers):
            if name not in names:
                found.append(
                    (("site", "maintenance", index, "printers", position), f"no printer '{name}'")
                )
        for position, group in enumerate(task.groups):
            if group not in groups:
                found.append(
                    (
                        ("site", "maintenance", index, "groups", position),
                        f"no printer is in group '{group}'",
                    )
                )
    for i, (name, _, own) in enumerate(entries):
        for index, task in enumerate(own):
            for key in ("printers", "groups"):
                if getattr(task, key):
                    found.append(
                        (
                            ("printers", i, "maintenance", index, key),
                            f"a task of printer '{name}' is for that printer alone;"
                            f" leave out '{key}' (or move the task to site: maintenance:)",
                        )
                    )
    lists: list[tuple[FieldPath, list[ServiceTask]]] = [(("site", "maintenance"), site)]
    lists += [(("printers", i, "maintenance"), own) for i, (_, _, own) in enumerate(entries)]
    for where, tasks in lists:
        seen: set[str] = set()
        for index, task in enumerate(tasks):
            if task.task in seen:
                found.append(((*where, index, "task"), f"task '{task.task}' is listed twice"))
            seen.add(task.task)
    return found
