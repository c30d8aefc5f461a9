"""Putting a backup back onto a fresh install: `fabfleet restore`.

Everything is checked first (the archive's every digest, its format, the fleet file inside,
that no container of the project runs, that nothing would be overwritten without
``--force``); then each piece is written into a staging directory, the printers' volumes are
made, and the staged directories get their names last. With ``--force`` what is replaced is
first kept in ``<state_dir>/before-restore-<time>/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import docker

from orchestrator.backup.archive import ArchiveError, Verified, check_destination
from orchestrator.backup.backup import stored_formats
from orchestrator.backup.manifest import FLEET_FILE, PRINTERS, STATE, Member
from orchestrator.fleet.file import dump_fleet, parse_fleet, write_atomically
from orchestrator.fleet.model import Fleet
from orchestrator.fleet.problems import FleetFileError
from orchestrator.stack.secrets import GATE_KEY, HUB_DATA, SECRETS_DIR
from orchestrator.stack.volumes import (
    fill_new_volume,
    read_printer_data,
    remove_volume,
    running_services,
    volume_exists,
)

PRIVATE_DIR = 0o700
SECRET_MODE_MASK = 0o600
DATA_MODE_MASK = 0o700
HUB_DATABASE = f"{HUB_DATA}/hub.sqlite"
ASIDE_PREFIX = "before-restore-"


class RestoreRefused(Exception):
    """Restoring would lose data, or cannot be done here; the message says what to do."""


@dataclass(frozen=True, slots=True)
class RestoreSettings:
    config: Path
    project: str
    force: bool = False
    state_dir: Path | None = None


@dataclass(slots=True)
class RestoreReport:
    state_dir: Path
    printers: list[str] = field(default_factory=list)
    aside: Path | None = None
    manifest_version: str = ""
    created: str = ""


class _Owner:
    """Files get the containers' user when run as root (as `up` gives the keys)."""

    def __init__(self, fleet: Fleet) -> None:
        self.uid, self.gid = fleet.site.container_uid, fleet.site.container_gid
        self.applies = os.geteuid() == 0

    def give(self, path: Path) -> None:
        if self.applies:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)


def _fleet_of(verified: Verified, settings: RestoreSettings) -> tuple[Fleet, bytes]:
    for member, source in verified.members():
        if member.path == FLEET_FILE:
            text = source.read()
            break
    else:
        raise ArchiveError(f"{verified.path} holds no fleet file")
    try:
        fleet = parse_fleet(text.decode("utf-8"), f"{verified.path}:{FLEET_FILE}")
    except (FleetFileError, UnicodeDecodeError) as error:
        raise ArchiveError(f"the fleet file in {verified.path} does not load: {error}") from None
    if settings.state_dir is not None:
        site = fleet.site.model_copy(update={"state_dir": str(settings.state_dir)})
        fleet = fleet.model_copy(update={"site": site})
        text = dump_fleet(fleet).encode("utf-8")
        parse_fleet(text.decode(), str(settings.config))
    missing = set(verified.manifest.printers) - {p.name for p in fleet.printers}
    if missing:
        raise ArchiveError(
            f"{verified.path} holds data of printers its fleet file lacks: {sorted(missing)}"
        )
    return fleet, text


def _existing_data(client: docker.DockerClient, fleet: Fleet, project: str) -> list[str]:
    """What of a fleet is already here: what restoring would overwrite."""
    state_dir = Path(fleet.site.state_dir)
    found = [str(state_dir / n) for n in (HUB_DATABASE, GATE_KEY) if (state_dir / n).exists()]
    found += [
        f"printer {p.name}'s data volume"
        for p in fleet.printers
        if volume_exists(client, project, p.name)
    ]
    return found


def _stage_file(
    root: Path, relative: str, source: IO[bytes], mode: int, owner: _Owner, mask: int
) -> None:
    path = root / relative
    for parent in reversed(PurePosixPath(relative).parents[:-1]):
        folder = root / parent
        if not folder.exists():
            folder.mkdir(mode=PRIVATE_DIR)
            owner.give(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & mask)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode & mask)
        if owner.applies:
            os.fchown(out.fileno(), owner.uid, owner.gid)
        shutil.copyfileobj(source, out)


def _volume_member(
    tar: tarfile.TarFile, relative: str, member: Member, source: IO[bytes], owner: _Owner,
    made: set[str],
) -> None:  # fmt: skip
    for parent in reversed(PurePosixPath(relative).parents[:-1]):
        if str(parent) in made:
            continue
        made.add(str(parent))
        folder = tarfile.TarInfo(str(parent))
        folder.type, folder.mode = tarfile.DIRTYPE, PRIVATE_DIR
        folder.uid, folder.gid = owner.uid, owner.gid
        tar.addfile(folder)
    info = tarfile.TarInfo(relative)
    info.size, info.mode = member.size, member.mode & DATA_MODE_MASK
    info.uid, info.gid = owner.uid, owner.gid
    tar.addfile(info, source)


def _stage(verified: Verified, staging: Path, fleet: Fleet) -> dict[str, Path]:
    """Every member written under ``staging``: the state directory's pieces as files, each
    printer's data as a tar for its volume. Printer name → its tar."""
    owner = _Owner(fleet)
    tars: dict[str, tarfile.TarFile] = {}
    made: dict[str, set[str]] = {}
    paths: dict[str, Path] = {}
    state = staging / STATE
    state.mkdir(mode=PRIVATE_DIR)
    with contextlib.ExitStack() as open_tars:
        for member, source in verified.members():
            parts = member.path.split("/", 2)
            if parts[0] == STATE:
                mask = SECRET_MODE_MASK if parts[1] == SECRETS_DIR else DATA_MODE_MASK
                _stage_file(state, member.path.split("/", 1)[1], source, member.mode, owner, mask)
            elif parts[0] == PRINTERS and len(parts) == 3:
                printer = parts[1]
                if printer not in tars:
                    paths[printer] = staging / f"printer-{printer}.tar"
                    tars[printer] = open_tars.enter_context(tarfile.open(paths[printer], "w"))
                    made[printer] = set()
                _volume_member(tars[printer], parts[2], member, source, owner, made[printer])
            elif member.path != FLEET_FILE:
                raise ArchiveError(
                    f"{verified.path} holds {member.path}, which fabfleet does not know"
                )
    for name in (SECRETS_DIR, HUB_DATA):
        folder = state / name
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        folder.chmod(PRIVATE_DIR)
        owner.give(folder)
    return paths


def _set_aside(
    client: docker.DockerClient,
    fleet: Fleet,
    settings: RestoreSettings,
    aside: Path,
    note: Callable[[str], None],
) -> None:
    """Move what the restore replaces into ``aside``: the state directory's pieces by
    renaming, each printer's volume as a tar of its files (then the volume is removed)."""
    state_dir = Path(fleet.site.state_dir)
    aside.mkdir(mode=PRIVATE_DIR)
    for name in (SECRETS_DIR, HUB_DATA):
        if (state_dir / name).exists():
            (state_dir / name).rename(aside / name)
    if settings.config.exists():
        shutil.copy2(settings.config, aside / FLEET_FILE)
    owner = (fleet.site.container_uid, fleet.site.container_gid)
    for printer in fleet.printers:
        if not volume_exists(client, settings.project, printer.name):
            continue
        (aside / PRINTERS).mkdir(mode=PRIVATE_DIR, exist_ok=True)
        with (aside / PRINTERS / f"{printer.name}.tar").open("wb") as out:
            read_printer_data(client, settings.project, printer.name, owner, out)
        remove_volume(client, settings.project, printer.name)
    note(f"kept what was replaced in {aside}")


def restore(
    verified: Verified,
    settings: RestoreSettings,
    client: docker.DockerClient,
    note: Callable[[str], None],
) -> RestoreReport:
    """Restore ``verified`` (from :func:`verify`); RestoreRefused or ArchiveError before
    anything is written when it cannot be done."""
    newer = verified.manifest.newer_formats(stored_formats())
    if newer:
        raise RestoreRefused(
            f"{verified.path} was made by fabfleet {verified.manifest.fabfleet_version}, whose "
            f"data is newer than this fabfleet reads: {', '.join(newer)}; upgrade fabfleet "
            "first, then restore"
        )
    fleet, fleet_text = _fleet_of(verified, settings)
    state_dir = Path(fleet.site.state_dir)
    running = running_services(client, settings.project)
    if running:
        raise RestoreRefused(f"the stack runs ({', '.join(running)}); run `fabfleet down` first")
    existing = _existing_data(client, fleet, settings.project)
    if existing and not settings.force:
        raise RestoreRefused(
            "this host has a fleet's data already: " + ", ".join(existing)
            + ". Restoring would replace it; give --force to restore anyway (what is "
            f"replaced is kept in {state_dir}/{ASIDE_PREFIX}<time>/)"
        )  # fmt: skip
    try:
        settings.config.parent.mkdir(parents=True, exist_ok=True)
        check_destination(settings.config)  # the fleet file is written last: it must take it
        state_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=state_dir, prefix=".restore-"))
    except OSError as error:
        where = error.filename or state_dir
        raise RestoreRefused(f"cannot write to {where}: {error.strerror or error}") from None
    report = RestoreReport(state_dir, manifest_version=verified.manifest.fabfleet_version,
                           created=verified.manifest.created)  # fmt: skip
    made: list[str] = []
    try:
        volumes = _stage(verified, staging, fleet)
        note("archive checked; every file staged")
        leftovers = [n for n in (SECRETS_DIR, HUB_DATA) if (state_dir / n).exists()]
        if (
            existing
            or leftovers
            or (volumes and any(volume_exists(client, settings.project, p) for p in volumes))
        ):
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            report.aside = state_dir / f"{ASIDE_PREFIX}{stamp}"
            _set_aside(client, fleet, settings, report.aside, note)
        owner = (fleet.site.container_uid, fleet.site.container_gid)
        for printer, path in volumes.items():
            with path.open("rb") as tar:
                fill_new_volume(client, settings.project, printer, owner, tar)
            made.append(printer)
            note(f"printer {printer}: data volume made")
        for name in (SECRETS_DIR, HUB_DATA):
            (staging / STATE / name).rename(state_dir / name)
        write_atomically(settings.config, fleet_text)
    except BaseException:
        for printer in made:
            with contextlib.suppress(Exception):
                remove_volume(client, settings.project, printer)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.printers = sorted(volumes)
    return report
