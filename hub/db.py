"""The hub's SQLite database: one file, WAL, each feature module's tables.

Every feature module that keeps data declares ``SCHEMA`` (``CREATE TABLE IF NOT
EXISTS`` statements); :func:`open_database` runs them all. Writes are short and
made from the event loop's thread; ``fabfleet user`` on the host may write the
same file at the same time (WAL and a busy timeout make that safe).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path

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
    """The database at ``path`` (created 0600 if new) with every schema applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Created private: it holds password hashes and session tokens.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        connection.close()
        # WAL needs its shared-memory file: on a full disk it cannot be made.
        if shutil.disk_usage(path.parent).free < NEARLY_FULL:
            raise OSError(errno.ENOSPC, f"{DISK_FULL_AT_START} ({error})") from error
        raise
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    for schema in schemas:
        connection.executescript(schema)
    return connection
