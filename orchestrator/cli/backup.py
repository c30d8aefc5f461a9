"""`fabfleet backup FILE` and `fabfleet restore FILE` (docs/backup.md)."""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from docker.errors import DockerException

from orchestrator.backup.archive import ArchiveError, check_destination, verify
from orchestrator.backup.backup import BackupSettings, make_backup
from orchestrator.backup.restore import RestoreRefused, RestoreSettings, restore
from orchestrator.cli.common import ConfigOption, fail, load
from orchestrator.cli.stack import DEFAULT_PROJECT, ProjectOption
from orchestrator.fleet.file import DEFAULT_PATH
from orchestrator.stack.control import StackError
from orchestrator.stack.docker_engine import EngineError, connect

ArchiveArgument = Annotated[Path, typer.Argument(help="The archive.")]
SECRETS_WARNING = (
    "warning: {file} holds the fleet's secrets: the gate's master key, every printer's key, "
    "the power devices' passwords, and every user's password hash and API key. Anyone who "
    "has it can act as the hub. It is written 0600; keep it, and its copies, as safe as "
    "the host itself."
)


def _fail(message: str) -> NoReturn:
    fail(message, every_line=True)


def _note(line: str) -> None:
    typer.echo(line, err=True)


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def backup_command(
    file: ArchiveArgument,
    without_timelapses: Annotated[
        bool,
        typer.Option("--without-timelapses", help="Leave the timelapse videos out (smaller)."),
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace FILE when it exists.")
    ] = False,
    config: ConfigOption = DEFAULT_PATH,
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Copy the fleet (hub, every printer's records and files, fleet file, keys) into FILE,
    while the stack runs."""
    fleet = load(config)
    try:
        check_destination(file)
    except ArchiveError as error:
        _fail(str(error))
    if os.path.lexists(file) and not replace:
        _fail(f"{file} exists; give --replace to replace it, or another name")
    _note(f"fabfleet: {SECRETS_WARNING.format(file=file)}")
    try:
        client = connect()
    except EngineError as error:
        _fail(str(error))
    settings = BackupSettings(file, project, version("fabfleet"), not without_timelapses)
    try:
        report = make_backup(fleet, config.read_bytes(), settings, client, _note)
    except ArchiveError as error:
        _fail(str(error))
    except (StackError, DockerException) as error:
        _fail(f"cannot read the printers' data: {error}")
    except OSError as error:
        _fail(f"cannot write {file}: {error.strerror or error}; nothing was written")
    finally:
        client.close()
    typer.echo(
        f"backup: {report.files} files of the hub and {len(report.printers)} printers in "
        f"{file} ({_size(report.size)}, 0600)"
    )


def restore_command(
    file: ArchiveArgument,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace this host's fleet data; what is replaced is kept in the state "
            "directory's before-restore-<time>/.",
        ),
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", help="Restore into this state directory (the fleet file then names it)."
        ),
    ] = None,
    config: ConfigOption = DEFAULT_PATH,
    project: ProjectOption = DEFAULT_PROJECT,
) -> None:
    """Put a backup back onto this host (a fresh install, unless --force); then run
    `fabfleet up`."""
    if state_dir is not None and not state_dir.is_absolute():
        state_dir = state_dir.absolute()
    try:
        verified = verify(file)
    except ArchiveError as error:
        _fail(f"{error}; nothing was restored")
    try:
        client = connect()
    except EngineError as error:
        _fail(str(error))
    settings = RestoreSettings(config, project, force, state_dir)
    try:
        report = restore(verified, settings, client, _note)
    except (ArchiveError, RestoreRefused) as error:
        _fail(f"{error}")
    except (StackError, DockerException) as error:
        _fail(f"the Docker engine refused: {error}")
    except OSError as error:
        _fail(f"cannot restore: {error}")
    finally:
        client.close()
    typer.echo(
        f"restore: the fleet of {report.created} (fabfleet {report.manifest_version}), "
        f"{len(report.printers)} printers' data, into {report.state_dir}; "
        "run `fabfleet up` to start it"
    )


def register(app: typer.Typer) -> None:
    """Add `backup` and `restore` to ``app``."""
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
