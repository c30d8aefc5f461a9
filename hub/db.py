"""The hub's SQLite database: one file, WAL, each feature module's tables, one schema version.

Every feature module that keeps data declares ``SCHEMA`` (``CREATE TABLE IF NOT
EXISTS`` statements, the tables' newest shape); :func:`open_database` runs them all.
The file's ``PRAGMA user_version`` says which of the numbered steps in
:mod:`hub.migrations` it has had. A file from an earlier release is copied aside
first (``hub.sqlite.v<N>-<time>.bak``, 0600, through SQLite's online backup), then
given the missing steps and the schemas in one transaction; a file from a newer
release, or one that is not a database, is refused and left as it is
(docs/upgrades.md). Writes are short and made from the event loop's thread;
``fabfleet user`` on the host may write the same file at the same time (WAL and a
busy timeout make that safe).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from hub.migrations import STEPS

# The version this release writes: one per step in hub/migrations.py.
SCHEMA_VERSION = len(STEPS)


class DatabaseRefused(Exception):
    """The database cannot be opened as it is; the message names the file and what to do."""


def schema_version() -> int:
    """The hub database's version this release knows (for backups, docs/upgrades.md)."""
    return SCHEMA_VERSION


log = logging.getLogger(__name__)

# SQLite's primary result code for "database or disk is full".
SQLITE_FULL = 13
DISK_FULL = (
    "the hub's disk is full: this change could not be saved. Free space on the hub's"
    " volume and try again; everything already saved can still be read"
)

# Less free than this, and the database cannot be opened: the disk is full.
NEARLY_FULL = 1024 * 1024
DISK_FULL_AT_START = (
    "the hub's disk is full: its database cannot be opened. Free space on the hub's volume;"
    " its container starts it again by itself"
)


def disk_full(error: BaseException) -> bool:
    """``error`` is a write that found no room: SQLite's SQLITE_FULL, or ENOSPC/EDQUOT."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF == SQLITE_FULL
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def write_if_room(db: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> None:
    """Housekeeping a read does on its way (a session's or a key's last use): on a full
    disk it is left for a later request, and the read goes on."""
    try:
        db.execute(sql, params)
    except sqlite3.OperationalError as error:
        if not disk_full(error):
            raise
        log.warning("not written, the disk is full: %s", sql.split(" WHERE")[0])


def open_database(path: Path, schemas: Iterable[str]) -> sqlite3.Connection:
    """The database at ``path`` (created 0600 if new) with every schema applied, brought up
    to :data:`SCHEMA_VERSION`. Raises :class:`DatabaseRefused` for a newer or unreadable
    file, which is then left untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Created private: it holds password hashes and session tokens.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    try:
        _prepare(connection, path, list(schemas))
    except sqlite3.DatabaseError as error:
        connection.close()
        # WAL needs its shared-memory file: on a full disk it cannot be made.
        if shutil.disk_usage(path.parent).free < NEARLY_FULL:
            raise OSError(errno.ENOSPC, f"{DISK_FULL_AT_START} ({error})") from error
        raise DatabaseRefused(
            f"hub database {path} cannot be read ({error}); it has been left as it is."
            " Restore it from a backup, or move it aside to start with an empty one."
        ) from error
    except BaseException:
        connection.close()
        raise
    return connection


def _too_new(path: Path, version: int) -> DatabaseRefused:
    return DatabaseRefused(
        f"hub database {path} was written by a newer fabfleet (schema version {version};"
        f" this release knows up to {SCHEMA_VERSION}); it has been left as it is:"
        " upgrade fabfleet"
    )


def _version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _prepare(connection: sqlite3.Connection, path: Path, schemas: list[str]) -> None:
    # The header is read before anything could write: a file that is not a database,
    # or one from a newer release, is refused here untouched.
    version = _version(connection)
    if version > SCHEMA_VERSION:
        raise _too_new(path, version)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    if version == SCHEMA_VERSION:
        for schema in schemas:
            connection.executescript(schema)
        return
    if connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
        backup_copy(connection, path, version)
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process (the hub, `fabfleet user`) may have upgraded it meanwhile.
        version = _version(connection)
        if version > SCHEMA_VERSION:
            raise _too_new(path, version)
        for step in STEPS[version:]:
            step.apply(connection)
        for schema in schemas:
            for statement in _statements(schema):
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def backup_copy(connection: sqlite3.Connection, path: Path, version: int) -> Path:
    """A consistent copy of the open database beside it, named for its version and the
    time (0600: it holds password hashes), made with SQLite's online backup."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.v{version}-{stamp}.bak")
    tries = 1
    while True:
        # Created private before SQLite writes a page into it; never over an older copy.
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            tries += 1
            target = path.with_name(f"{path.name}.v{version}-{stamp}-{tries}.bak")
    copy = sqlite3.connect(target)
    try:
        connection.backup(copy)
        # One self-contained file: no -wal beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
    return target


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script`` one by one (``executescript`` would commit first)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                yield pending
            pending = ""
