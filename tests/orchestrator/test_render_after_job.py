"""Each printer's print server is told its after-job policy and its presets by the stack."""

from __future__ import annotations

import json
from typing import Any

import yaml

from instance.materials import parse_presets
from orchestrator.fleet.file import parse_fleet
from orchestrator.rendering.render import render_stack

FLEET = """\
site:
  after_job: {fans: keep}
  materials:
    PETG: {hotend: 235, bed: 85}
printers:
  - name: mk3
    simulated: true
    profile:
      materials: [petg, PLA]
      after_job: {heaters: keep}
  - name: ender
    simulated: true
"""


def printer_env(name: str) -> dict[str, Any]:
    compose = yaml.safe_load(
        render_stack(parse_fleet(FLEET, "fleet.yaml"), "1.2.3")["compose.yaml"]
    )
    env: dict[str, Any] = compose["services"][f"printer-{name}"]["environment"]
    return env


def test_the_profile_over_the_site_reaches_the_print_server() -> None:
    mk3, ender = printer_env("mk3"), printer_env("ender")
    assert (mk3["FABFLEET_AFTER_JOB_HEATERS"], mk3["FABFLEET_AFTER_JOB_FANS"]) == ("keep", "keep")
    assert (ender["FABFLEET_AFTER_JOB_HEATERS"], ender["FABFLEET_AFTER_JOB_FANS"]) == (
        "off",
        "keep",
    )


def test_presets_are_the_profiles_materials_with_the_sites_temperatures() -> None:
    presets = json.loads(printer_env("mk3")["FABFLEET_PRESETS"])
    assert presets == [
        {"name": "PETG", "hotend": 235, "bed": 85},
        {"name": "PLA", "hotend": 210, "bed": 60},
    ]
    # What the print server's --presets accepts, and for a printer listing none: every one.
    everything = parse_presets(printer_env("ender")["FABFLEET_PRESETS"])
    assert [p.name for p in everything] == ["PLA", "PETG", "ABS", "ASA", "TPU", "PA", "PC"]
