"""`fabfleet watch`: the hotplug service that restarts a replugged device's container."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import docker
import typer
from docker.errors import DockerException

from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.cli.stack import DEFAULT_PROJECT, ProjectOption
from orchestrator.devices.hotplug import (
    PRESENCE_FILE,
    FormatRefused,
    Presence,
    Watcher,
    watch_udev,
)
from orchestrator.fleet.file import DEFAULT_PATH, load_fleet
from orchestrator.fleet.model import Fleet
from orchestrator.fleet.problems import FleetFileError
from orchestrator.stack.apply import COMPOSE_FILE
from orchestrator.stack.compose_runner import ComposeError, compose_up, find_compose
from orchestrator.stack.control import StackError, project_containers, restart, service_of
from orchestrator.stack.docker_engine import EngineError, connect


def _say(line: str) -> None:
    typer.echo(f"{time.strftime('%H:%M:%S')} {line}")


class _FleetFile:
    """The fleet file, read again whenever it changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._read_stamp()

    def _read_stamp(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def changed(self) -> Fleet | None:
        """The fleet when the file changed since last asked and is valid; else None."""
        stamp = self._read_stamp()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            fleet = load_fleet(self.path)
        except FleetFileError as error:
            _say(f"{self.path} changed but is not valid; still using the previous fleet:\n{error}")
            return None
        _say(f"{self.path} changed: {_counts(fleet)}")
        return fleet


def _counts(fleet: Fleet) -> str:
    return f"{len(fleet.printers)} printers, {len(fleet.cameras)} cameras"


def _replug(client: docker.DockerClient, project: str, state_dir: Path, service: str) -> str:
    """Restart ``service`` so Docker opens the new device; create it if `up` had to skip it,
    or recreate it when `up` had to start it without its device (a camera showing "offline")."""
    running = [c for c in project_containers(client, project) if service_of(c) == service]
    if running and all((c.attrs.get("HostConfig") or {}).get("Devices") for c in running):
        restart(client, project, service)
        return f"restarted {service}"
    compose = find_compose(os.environ.get("PATH"), Path(sys.executable).parent)
    compose_up(
        compose, project, state_dir / COMPOSE_FILE, [service], lambda line: _say(f"  {line}")
    )
    return f"recreated {service} with its device" if running else f"started {service}"


def _stop(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def watch_command(
    config: ConfigOption = DEFAULT_PATH, project: ProjectOption = DEFAULT_PROJECT
) -> None:
    """Watch udev: restart a printer's or camera's container when its device comes back."""
    fleet_file = _FleetFile(config)
    fleet = load(config)
    try:
        client = connect()
    except EngineError as error:
        fail(str(error))
    state_dir = Path(fleet.site.state_dir)

    def replug(service: str) -> str:
        try:
            return _replug(client, project, state_dir, service)
        except (StackError, ComposeError, DockerException) as error:
            raise RuntimeError(str(error)) from None

    presence = Presence(state_dir / PRESENCE_FILE)
    try:
        presence.upgrade()
    except FormatRefused as error:
        client.close()
        fail(str(error))
    watcher = Watcher(fleet, replug, presence, _say)
    signal.signal(signal.SIGTERM, _stop)
    try:
        watch_udev(
            watcher,
            fleet_file.changed,
            ready=lambda: _say(f"watching udev for {_counts(fleet)} (Ctrl-C stops)"),
        )
    except KeyboardInterrupt:
        _say("stopped")
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    """Add `watch` to ``app``."""
    app.command("watch")(watch_command)
