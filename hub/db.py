"""The hub's SQLite database: one file, WAL, each feature module's tables.

Every feature module that keeps data declares ``SCHEMA`` (``CREATE TABLE IF NOT
EXISTS`` statements); :func:`open_database` runs them all. Writes are short and
made from the event loop's thread; ``fabfleet user`` on the host may write the
same file at the same time (WAL and a busy timeout make that safe).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path


def open_database(path: Path, schemas: Iterable[str]) -> sqlite3.Connection:
    """The database at ``path`` (created 0600 if new) with every schema applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Created private: it holds password hashes and session tokens.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    for schema in schemas:
        connection.executescript(schema)
    return connection
