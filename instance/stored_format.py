"""The version every stored file carries, for the files that are not the hub's database.

Two kinds (docs/upgrades.md):

- a JSON file says its own version in a top-level ``"format"`` key;
- a directory of files that carry none themselves (the print server's data dir: the
  G-code files and their analysis records, ``bed.json``; the host's key files) has a
  ``format.json`` beside them that says the version of all of them.

A version newer than the code knows is refused with :class:`FormatRefused` and the
file is not touched; so is a file that cannot be read. An older one is brought up to
date by the caller's numbered steps, after a copy of what a step rewrites
(``<name>.v<N>-<time>.bak``, mode kept). SQLite files (the job records) use
``PRAGMA user_version`` instead, with a copy made through SQLite's online backup
(:func:`backup_database`). No import of the hub or the orchestrator: both the print
server and the host's ``fabfleet`` use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MARKER = "format.json"
FORMAT_KEY = "format"


class FormatRefused(Exception):
    """A stored file cannot be used as it is; the message names it and what to do."""


def too_new(what: str, path: Path, found: int, known: int) -> FormatRefused:
    return FormatRefused(
        f"{what} {path} was written by a newer fabfleet (format {found}; this release knows"
        f" up to {known}); it has been left as it is: upgrade fabfleet"
    )


def unreadable(what: str, path: Path, why: str) -> FormatRefused:
    return FormatRefused(
        f"{what} {path} cannot be read ({why}); it has been left as it is."
        " Restore it from a backup, or move it aside to start anew."
    )


def _stamped(path: Path, version: int) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.v{version}-{stamp}.bak")
    tries = 1
    while target.exists():
        tries += 1
        target = path.with_name(f"{path.name}.v{version}-{stamp}-{tries}.bak")
    return target


def backup_file(path: Path, version: int) -> Path:
    """A copy of ``path`` beside it, with its mode, before a step rewrites it."""
    target = _stamped(path, version)
    shutil.copy2(path, target)
    return target


def backup_database(connection: sqlite3.Connection, path: Path, version: int) -> Path:
    """A consistent copy of the open SQLite database (0600), through the online backup."""
    target = _stamped(path, version)
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    with contextlib.closing(sqlite3.connect(target)) as copy:
        connection.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    return target


def read_json(path: Path, what: str) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when there is no such file."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise unreadable(what, path, str(error)) from None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise unreadable(what, path, f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise unreadable(what, path, "not a JSON object")
    return document


def version_of(document: dict[str, Any], path: Path, what: str, known: int) -> int:
    """The ``format`` a document says (0: none, written before files had one); refused when
    it is newer than ``known`` or not a whole number."""
    found = document.get(FORMAT_KEY, 0)
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        raise unreadable(what, path, f"its format is {found!r}, not a version number")
    if found > known:
        raise too_new(what, path, found, known)
    return found


def write_json(path: Path, document: dict[str, Any], mode: int = 0o600) -> None:
    """``document`` in ``path``, whole or not at all (a temporary file, fsync, rename)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), mode)
            json.dump(document, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# A step takes the directory from the version before it to its own; it backs up
# (backup_file) whatever it rewrites.
DirectoryStep = Callable[[Path], None]


def first_marker(_directory: Path) -> None:
    """Step 1 of every directory: version 1 is the layout each release before the markers
    wrote, so only the marker is new."""


def directory_version(directory: Path, what: str, known: int) -> int:
    """The version ``directory``'s marker says: 0 when it has none yet (written before the
    markers); refused when newer than ``known`` or unreadable."""
    marker = directory / MARKER
    document = read_json(marker, what)
    return 0 if document is None else version_of(document, marker, what, known)


def upgrade_directory(directory: Path, what: str, steps: Sequence[DirectoryStep]) -> int:
    """Bring ``directory`` to version ``len(steps)``: the steps it has not had, then its
    marker. Returns the version it had."""
    known = len(steps)
    found = directory_version(directory, what, known)
    if found < known:
        for step in steps[found:]:
            step(directory)
        write_json(directory / MARKER, {FORMAT_KEY: known}, 0o600)
    return found
