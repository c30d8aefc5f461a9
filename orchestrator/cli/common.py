"""What every `fabfleet` command shares: the --config option, failing, loading the fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from orchestrator.fleet.file import load_fleet
from orchestrator.fleet.model import Fleet
from orchestrator.fleet.problems import FleetFileError

ConfigOption = Annotated[
    Path,
    typer.Option("--config", envvar="FABFLEET_CONFIG", help="The fleet file.", dir_okay=False),
]


def fail(message: str, *, every_line: bool = False) -> NoReturn:
    """Print ``message`` on stderr after "fabfleet: " (on each line if asked) and exit 1."""
    lines = message.splitlines() if every_line else [message]
    for line in lines:
        typer.echo(f"fabfleet: {line}", err=True)
    raise typer.Exit(1)


def load(config: Path) -> Fleet:
    """The fleet in ``config``, or exit 1 with every problem the file has."""
    try:
        return load_fleet(config)
    except FleetFileError as error:
        fail(str(error))
