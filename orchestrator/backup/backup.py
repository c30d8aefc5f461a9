"""Gathering a fleet's data into one archive while the stack runs: `fabfleet backup`."""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker

from orchestrator.backup.archive import ArchiveError, ArchiveWriter
from orchestrator.backup.manifest import FLEET_FILE, PRINTERS, STATE, Manifest
from orchestrator.backup.sqlite_copy import copy_database
from orchestrator.fleet.model import Fleet
from orchestrator.stack.formats import printer_data_versions, state_dir_versions
from orchestrator.stack.printer_data_script import DATABASE as JOB_DATABASE
from orchestrator.stack.printer_data_script import skipped
from orchestrator.stack.secrets import HUB_DATA, SECRETS_DIR
from orchestrator.stack.volumes import read_printer_data, volume_exists

HUB_DATABASE = "hub.sqlite"
TIMELAPSE_FOLDER = "timelapse"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# Files the hub is still writing: a queue upload streaming in, a temp file.
_HUB_SKIPPED_PREFIXES = ("queue/.incoming-",)


@dataclass(frozen=True, slots=True)
class BackupSettings:
    destination: Path
    project: str
    version: str
    timelapses: bool = True


@dataclass(slots=True)
class BackupReport:
    """What went into the archive."""

    path: Path
    printers: list[str] = field(default_factory=list)
    # Printers of the fleet file that have no data volume yet (never brought up).
    without_data: list[str] = field(default_factory=list)
    files: int = 0
    size: int = 0


def stored_formats() -> dict[str, int]:
    """This release's stored formats, named as the archive names the files."""
    formats = {f"{STATE}/{name}": version for name, version in state_dir_versions().items()}
    for name, version in printer_data_versions().items():
        formats[f"{PRINTERS}/*/{name}"] = version
    return formats


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every regular file under ``root``, in a stable order."""
    for folder, directories, names in os.walk(root):
        directories.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix(), path


def _hub_skips(relative: str) -> bool:
    return (
        relative.endswith(tuple(HUB_DATABASE + s for s in SQLITE_SIDE_FILES))
        or relative.startswith(_HUB_SKIPPED_PREFIXES)
        or relative.endswith(".tmp")
    )


def _add_state(writer: ArchiveWriter, state_dir: Path, scratch: Path) -> None:
    for relative, path in _files(state_dir / SECRETS_DIR):
        writer.add_file(f"{STATE}/{SECRETS_DIR}/{relative}", path)
    hub = state_dir / HUB_DATA
    for relative, path in _files(hub):
        name = f"{STATE}/{HUB_DATA}/{relative}"
        if relative == HUB_DATABASE:
            copy = scratch / HUB_DATABASE
            copy_database(path, copy)
            writer.add_file(name, copy, mode=0o600)
            copy.unlink()
        elif not _hub_skips(relative):
            writer.add_file(name, path)


def _add_printer(
    writer: ArchiveWriter,
    client: docker.DockerClient,
    fleet: Fleet,
    printer: str,
    settings: BackupSettings,
    scratch: Path,
) -> None:
    without = () if settings.timelapses else (TIMELAPSE_FOLDER,)
    owner = (fleet.site.container_uid, fleet.site.container_gid)
    dump = scratch / f"printer-{printer}.tar"
    with dump.open("wb") as out:
        online = read_printer_data(client, settings.project, printer, owner, out, without)
    with tarfile.open(dump, mode="r:") as tar:
        for info in tar:
            relative = info.name.removeprefix("data/").removeprefix("./")
            if not info.isfile() or relative == "data" or skipped(relative, without):
                continue
            name = f"{PRINTERS}/{printer}/{relative}"
            if relative == JOB_DATABASE and not online:
                writer.add_file(name, _fold_wal(tar, info, scratch), mode=0o600)
                continue
            source = tar.extractfile(info)
            assert source is not None
            writer.add(name, source, info.size, info.mode)
    dump.unlink()


def _fold_wal(tar: tarfile.TarFile, database: tarfile.TarInfo, scratch: Path) -> Path:
    """The job records of a volume nobody runs on, with a WAL left by a killed print server
    folded in: one consistent file."""
    folder = scratch / "fold"
    folder.mkdir(exist_ok=True)
    for suffix in ("", "-wal"):
        try:
            member = tar.getmember(database.name + suffix)
        except KeyError:
            continue
        source = tar.extractfile(member)
        assert source is not None
        (folder / (JOB_DATABASE + suffix)).write_bytes(source.read())
    copy = scratch / f"folded-{JOB_DATABASE}"
    copy.unlink(missing_ok=True)
    copy_database(folder / JOB_DATABASE, copy)
    return copy


def make_backup(
    fleet: Fleet,
    fleet_text: bytes,
    settings: BackupSettings,
    client: docker.DockerClient,
    note: Callable[[str], None],
) -> BackupReport:
    """Write the archive at ``settings.destination``: all of it, or nothing."""
    destination = settings.destination
    if destination.is_dir():
        raise ArchiveError(f"{destination} is a directory; give the archive's file name")
    state_dir = Path(fleet.site.state_dir)
    manifest = Manifest(
        fabfleet_version=settings.version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        project=settings.project,
        state_dir=str(state_dir),
        printers=[],
        timelapses=settings.timelapses,
        formats=stored_formats(),
    )
    report = BackupReport(destination)
    with (
        ArchiveWriter(destination, manifest) as writer,
        tempfile.TemporaryDirectory(dir=destination.parent, prefix=".fabfleet-backup-") as temp,
    ):
        scratch = Path(temp)
        writer.add_bytes(FLEET_FILE, fleet_text, 0o644)
        _add_state(writer, state_dir, scratch)
        note("hub: database and files copied")
        for printer in fleet.printers:
            if not volume_exists(client, settings.project, printer.name):
                report.without_data.append(printer.name)
                note(f"printer {printer.name}: no data volume yet (never brought up); skipped")
                continue
            _add_printer(writer, client, fleet, printer.name, settings, scratch)
            manifest.printers.append(printer.name)
            note(f"printer {printer.name}: records and files copied")
        writer.finish()
    report.printers = list(manifest.printers)
    report.files = len(manifest.files)
    report.size = destination.stat().st_size
    return report
