"""Scenario files: a printer's options and its faults, in TOML."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instance.sim.faults import Fault, make_fault
from instance.sim.options import FIELD_NAMES, SimOptions

_TOP_LEVEL = ("description", "options", "faults")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded scenario; ``options`` holds only what the file sets, so flags can override it."""

    description: str
    options: dict[str, Any]
    faults: tuple[Fault, ...]

    def sim_options(self, **overrides: Any) -> SimOptions:
        return SimOptions(**{**self.options, **overrides})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ValueError names the file and the offending key."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{source}: cannot read: {error.strerror or error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: not valid TOML: {error}") from error
    for key in data:
        if key not in _TOP_LEVEL:
            raise ValueError(f"{source}: unknown key {key!r}; allowed: {', '.join(_TOP_LEVEL)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{source}: description must be text")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ValueError(f"{source}: [options] must be a table")
    for key in options:
        if key not in FIELD_NAMES:
            raise ValueError(
                f"{source}: unknown key {key!r} in [options]; allowed: {', '.join(FIELD_NAMES)}"
            )
    try:
        SimOptions(**options)
    except ValueError as error:
        raise ValueError(f"{source}: [options]: {error}") from error
    raw_faults = data.get("faults", [])
    if not isinstance(raw_faults, list):
        raise ValueError(f"{source}: faults must be an array of tables ([[faults]])")
    faults: list[Fault] = []
    for number, table in enumerate(raw_faults, start=1):
        where = f"{source}: fault #{number}"
        if not isinstance(table, dict):
            raise ValueError(f"{where} must be a table")
        name = table.get("name")
        if not isinstance(name, str):
            raise ValueError(f"{where} needs a name")
        values = {k: v for k, v in table.items() if k != "name"}
        faults.append(make_fault(name, values, source=where))
    return Scenario(description, dict(options), tuple(faults))


def option_fields() -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(SimOptions))
