"""Service tasks in the fleet file: checked where they are written, carried into
hub/fleet.json, and read back by the hub as it reads that file (docs/maintenance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.fleet.roster import parse_fleet
from hub.maintenance.due import tasks_for
from orchestrator.fleet.file import load_fleet
from orchestrator.fleet.problems import FleetFileError
from orchestrator.rendering.hub_fleet import hub_fleet

FLEET = """
site:
  maintenance:
    - task: Replace nozzle
      every: {print_hours: 300, filament_m: 1000}
      guide: https://example.org/nozzle
    - task: Lube rails
      every: {move_km: 200, days: 90}
      groups: [lab]
printers:
  - name: mk3
    simulated: true
    groups: [lab]
    maintenance:
      - task: Clean fan
        every: {jobs: 50}
  - name: mini
    simulated: true
"""


def test_tasks_reach_the_hub_as_written(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    fleet = load_fleet(path)
    document = json.loads(hub_fleet(fleet))
    assert document["site"]["maintenance"] == [
        {"task": "Replace nozzle", "every": {"print_hours": 300.0, "filament_m": 1000.0},
         "printers": [], "groups": [], "guide": "https://example.org/nozzle"},
        {"task": "Lube rails", "every": {"move_km": 200.0, "days": 90.0},
         "printers": [], "groups": ["lab"]},
    ]  # fmt: skip
    assert document["printers"][0]["maintenance"] == [
        {"task": "Clean fan", "every": {"jobs": 50}, "printers": [], "groups": []}
    ]
    assert "maintenance" not in document["printers"][1]
    hub = parse_fleet(document)
    mk3, mini = hub.printers
    assert [t.task for t in tasks_for(hub, mk3)] == ["Replace nozzle", "Lube rails", "Clean fan"]
    assert [(t.task, t.every) for t in tasks_for(hub, mini)] == [
        ("Replace nozzle", (("print_hours", 300.0), ("filament_m", 1000.0)))
    ]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        ("every: {move_km: 200, days: 90}", "every: {}", "give at least one interval"),
        ("every: {move_km: 200, days: 90}", "every: {miles: 3}", "miles"),
        ("groups: [lab]", "groups: [attic]", "no printer is in group 'attic'"),
        ("groups: [lab]", "printers: [prusa]", "no printer 'prusa'"),
        ("task: Lube rails", "task: Replace nozzle", "task 'Replace nozzle' is listed twice"),
        ("guide: https://example.org/nozzle", "guide: see the binder", "a guide is a web address"),
        ("every: {jobs: 50}", "every: {jobs: 50}\n        groups: [lab]", "leave out 'groups'"),
    ],
)
def test_a_wrong_task_is_refused_at_its_line(
    tmp_path: Path, change: str, line: str, message: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET.replace(change, line, 1))
    with pytest.raises(FleetFileError) as refused:
        load_fleet(path)
    assert message in str(refused.value)
    assert "maintenance" in str(refused.value)
