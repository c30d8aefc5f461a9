"""Copying a SQLite database with its online backup API: a consistent copy while it is written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT = 30.0


def copy_database(source: Path, target: Path) -> None:
    """Copy the database at ``source`` (its WAL folded in) into a new file ``target``.

    SQLite's backup restarts when a writer changes a page it copied, so the copy is one
    moment of the database even while the hub or a print server keeps writing.
    """
    # Opened read-write: a reader of a WAL database needs its -shm file, which it may create.
    origin = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT)
    try:
        copy = sqlite3.connect(target)
        try:
            origin.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        origin.close()


def check_database(path: Path) -> str | None:
    """Why the database at ``path`` is damaged, or None when SQLite finds it whole."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = db.execute("PRAGMA quick_check").fetchone()
        finally:
            db.close()
    except sqlite3.Error as error:
        return str(error)
    return None if found and found[0] == "ok" else str(found[0] if found else "no answer")
