"""`fabfleet images` as a typer app of its own, until cli.py registers it."""

from __future__ import annotations

import typer

from orchestrator.cli.images import register

app = typer.Typer()
register(app)


@app.callback()
def _group() -> None:
    """Keep `images` a subcommand, as it is in `fabfleet`."""
