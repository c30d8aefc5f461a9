"""`fabfleet up`, `down`, `status`, `logs` and `restart`: running the rendered stack."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import docker
import typer
from docker.errors import DockerException

from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.devices.udev_install import DEFAULT_RULES_PATH, UdevError
from orchestrator.fleet.file import DEFAULT_PATH
from orchestrator.images.provider import BuildImages
from orchestrator.model.build import ModelError, stack_of
from orchestrator.stack.apply import COMPOSE_FILE, Output, UpSettings, up
from orchestrator.stack.compose_runner import ComposeError, find_compose
from orchestrator.stack.control import StackError, containers_of, down, restart
from orchestrator.stack.docker_engine import EngineError, connect
from orchestrator.stack.images import ImageProvider, ImagesMissing, RequireImages
from orchestrator.stack.secrets import FormatRefused, identity_headers
from orchestrator.stack.status import ServiceStatus, stack_status
from orchestrator.stack.tls import TlsError

DEFAULT_PROJECT = "fabfleet"

# Hidden: the tests run each stack under its own compose project.
ProjectOption = Annotated[str, typer.Option("--project", envvar="FABFLEET_PROJECT", hidden=True)]
RulesOption = Annotated[
    Path,
    typer.Option(
        "--udev-rules",
        envvar="FABFLEET_UDEV_RULES",
        help="Where the udev rules are installed.",
        dir_okay=False,
    ),
]
WaitOption = Annotated[
    float,
    typer.Option(
        "--wait-for-prints",
        metavar="SECONDS",
        min=0,
        help="How long to wait for printing printers to end their job before their"
        " containers are replaced (a printing printer is never interrupted); 0: do not wait,"
        " the next `fabfleet up` replaces them.",
    ),
]
NoBuildOption = Annotated[
    bool,
    typer.Option(
        "--no-build",
        help="Build no image: run the images this host has, even out of date ones, and stop"
        " with what to do when one is missing (images made by `fabfleet images` or loaded).",
    ),
]
ServiceArgument = Annotated[
    str,
    typer.Argument(help="printer-NAME, camera-NAME, hub, proxy, or a printer or camera name."),
]

# What gets the images `up` finds missing or out of date: it builds them
# (docs/images.md). Tests may set `RequireImages()`, which only says what is missing.
image_provider: ImageProvider = BuildImages()


def _fail(message: str) -> NoReturn:
    fail(message, every_line=True)


@contextmanager
def _engine() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EngineError as error:
        _fail(str(error))
    try:
        yield client
    except DockerException as error:
        _fail(f"the Docker engine refused: {error}")
    except StackError as error:
        _fail(str(error))
    finally:
        client.close()


def _note(line: str) -> None:
    typer.echo(line, err=True)


def up_command(
    config: ConfigOption = DEFAULT_PATH,
    udev_rules: RulesOption = DEFAULT_RULES_PATH,
    project: ProjectOption = DEFAULT_PROJECT,
    wait_for_prints: WaitOption = 0.0,
    no_build: NoBuildOption = False,
) -> None:
    """Render, install the udev rules, and start or update the stack (only what changed;
    a printing printer keeps its container until its job ends)."""
    with _engine() as client:
        try:
            compose = find_compose(os.environ.get("PATH"), Path(sys.executable).parent)
        except ComposeError as error:
            _fail(str(error))
        fleet = load(config)
        provider: ImageProvider = RequireImages() if no_build else image_provider
        if isinstance(provider, BuildImages):
            provider = provider.for_site(fleet.site)
        settings = UpSettings(version("fabfleet"), project, udev_rules, provider, wait_for_prints)
        try:
            report = up(fleet, settings, client, compose, Output(typer.echo, _note))
        except ModelError as error:
            _fail(f"cannot render: {error}")
        except (UdevError, ImagesMissing, ComposeError, FormatRefused, TlsError) as error:
            _fail(str(error))
        except OSError as error:
            _fail(f"cannot write to {fleet.site.state_dir}: {error.strerror or error}")
    total = len(report.started) + len(report.waiting)
    summary = f"up: {len(report.started)} of {total} services running"
    if report.waiting:
        summary += f"; waiting for their device: {', '.join(report.waiting)}"
    if report.printing:
        summary += (
            f"; still printing on the containers they had: {', '.join(report.printing)}"
            " (`fabfleet up` again once their job has ended)"
        )
    typer.echo(summary)


def down_command(project: ProjectOption = DEFAULT_PROJECT) -> None:
    """Stop and remove the stack's containers and networks; the data volumes stay."""
    with _engine() as client:
        result = down(client, project)
    if not result.containers and not result.networks:
        typer.echo("down: nothing is running")
        return
    for name in result.containers:
        typer.echo(f"removed container {name}")
    for name in result.networks:
        typer.echo(f"removed network {name}")
    typer.echo("down: done; data volumes are kept")


def _table(rows: list[ServiceStatus]) -> list[str]:
    with_devices = any(r.device for r in rows)
    cells: list[tuple[str, ...]] = [("SERVICE", "STATE", "HEALTH", "STARTED", "PRINTER", "DEVICE")]
    cells += [
        (r.service, r.state, r.health, r.started_at or "-", r.printer or "-", r.device or "-")
        for r in rows
    ]
    if not with_devices:  # a fleet reached only over the network has no DEVICE column
        cells = [tuple(row[:-1]) for row in cells]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in cells
    ]


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = DEFAULT_PATH,
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Every service: state, health, start time, and what each printer is doing."""
    with _engine() as client:
        fleet = load(config)
        state_dir = Path(fleet.site.state_dir)
        # The fleet file is the source of truth: its model names the services. Before the
        # first `up` or `render` (no compose file in the state directory) nothing is
        # expected yet, so only containers of the project are listed.
        try:
            stack = stack_of(fleet, version("fabfleet"))
        except ModelError as error:
            _fail(f"cannot render: {error}")
        services = stack.services if (state_dir / COMPOSE_FILE).exists() else ()
        rows = stack_status(
            client,
            project,
            services,
            sign=lambda printer: identity_headers(state_dir, printer),
        )
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], indent=2))
    elif not rows:
        typer.echo("nothing is rendered or running; run fabfleet up")
    else:
        for line in _table(rows):
            typer.echo(line)


def logs_command(
    name: ServiceArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    tail: Annotated[
        int | None, typer.Option("--tail", "-n", min=0, help="Only the last N lines.")
    ] = None,
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Print a service's log (stdout and stderr of its container)."""
    with _engine() as client:
        _, containers = containers_of(client, project, name)
        lines: Literal["all"] | int = "all" if tail is None else tail
        for container in containers:
            if not follow:
                typer.echo(container.logs(tail=lines), nl=False)
                continue
            try:
                for chunk in container.logs(stream=True, follow=True, tail=lines):
                    typer.echo(chunk, nl=False)
            except KeyboardInterrupt:
                return


def restart_command(name: ServiceArgument, project: ProjectOption = DEFAULT_PROJECT) -> None:
    """Restart one service's container (a printer's re-opens its device)."""
    with _engine() as client:
        service = restart(client, project, name)
    typer.echo(f"restarted {service}")


def register(app: typer.Typer) -> None:
    """Add `up`, `down`, `status`, `logs` and `restart` to ``app``."""
    app.command("up")(up_command)
    app.command("down")(down_command)
    app.command("status")(status_command)
    app.command("logs")(logs_command)
    app.command("restart")(restart_command)
