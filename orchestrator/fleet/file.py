"""Reading and atomically rewriting the fleet file on disk."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

import yaml

from orchestrator.fleet.check import check_fleet
from orchestrator.fleet.marked_yaml import read_marked_yaml
from orchestrator.fleet.model import Fleet
from orchestrator.fleet.problems import FleetFileError, Problem
from orchestrator.fleet.starter import STARTER

DEFAULT_PATH = Path("/etc/fabfleet/fleet.yaml")
# Readable by the fabfleet group (the hub reads names from it), private otherwise.
NEW_FILE_MODE = 0o640
HEADER = (
    "# fabfleet fleet file; see docs/fleet-file.md.\n"
    "# fabfleet rewrote this file: comments are not kept when it edits it.\n"
)


def parse_fleet(text: str, source: str) -> Fleet:
    """The fleet in ``text``; ``source`` names it in problems."""
    try:
        marked = read_marked_yaml(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = None if mark is None else mark.line + 1
        what = " ".join(p for p in (error.context, error.problem) if p)
        raise FleetFileError([Problem(source, line, "", f"not valid YAML: {what}")]) from None
    except yaml.YAMLError as error:
        raise FleetFileError([Problem(source, None, "", f"not valid YAML: {error}")]) from None
    return check_fleet(marked, source)


def load_fleet(path: Path) -> Fleet:
    """The fleet in the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FleetFileError(
            [
                Problem(
                    str(path),
                    None,
                    "",
                    f"no fleet file; create one with `fabfleet init --config {path}`",
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise FleetFileError([Problem(str(path), None, "", f"cannot read: {error}")]) from None
    return parse_fleet(text, str(path))


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as people write them by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def dump_fleet(fleet: Fleet) -> str:
    """The fleet as YAML: model order, only what was set, so a hand-written file stays short."""
    data = fleet.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    return HEADER + yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def write_fleet(path: Path, fleet: Fleet) -> None:
    """Replace the file at ``path`` with ``fleet``, refusing to write anything invalid."""
    text = dump_fleet(fleet)
    # Reading back what is about to be written is the one check that cannot drift
    # from loading: an invalid fleet never reaches the disk.
    parse_fleet(text, str(path))
    write_atomically(path, text.encode("utf-8"))


def write_starter(path: Path) -> None:
    """Create a commented starter fleet file; FileExistsError if there is one already."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, STARTER.encode("utf-8"), NEW_FILE_MODE)
    try:
        # link() fails if the name exists, so a file created meanwhile is never replaced.
        os.link(tmp, path)
    finally:
        os.unlink(tmp)


def write_atomically(path: Path, data: bytes, new_mode: int = NEW_FILE_MODE) -> None:
    """Readers see the old file or the new one, never half of one, even after a power cut.

    An existing file keeps its mode; a new one gets ``new_mode``.
    """
    target = Path(os.path.realpath(path))  # keep a symlinked fleet file a symlink
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    mode = new_mode if old is None else stat.S_IMODE(old.st_mode)
    tmp = _write_temp(target, data, mode)
    try:
        if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
            # Only root may give the file back to its owner; others keep their own.
            with contextlib.suppress(PermissionError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(target.parent)


def _write_temp(path: Path, data: bytes, mode: int) -> str:
    """A synced temp file beside ``path`` (same file system, so rename is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
