"""`fabfleet demo`: simulated printers, the hub and the proxy on 127.0.0.1, no Docker, no root."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.common import fail
from orchestrator.demo.runtime import DemoError, run_demo


def demo_command(
    printers: Annotated[int, typer.Option("--printers", min=1, max=20)] = 3,
    port: Annotated[
        int,
        typer.Option("--port", min=1024, max=65535, help="The proxy's port: the address to open."),
    ] = 8080,
    time_factor: Annotated[
        float, typer.Option("--time-factor", min=1, help="How much faster than real printing.")
    ] = 20,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", file_okay=False, help="Keep files, history and logs here."),
    ] = None,
) -> None:
    """Run simulated printers, the hub and the proxy on this machine; Ctrl-C stops them."""
    try:
        stopped_by_user = run_demo(printers, port, time_factor, data_dir, typer.echo)
    except DemoError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot run the demo: {error}")
    if not stopped_by_user:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `demo` to ``app``."""
    app.command("demo")(demo_command)
