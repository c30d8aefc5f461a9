"""The hub database's numbered steps, oldest first: step N takes a file to version N.

A file with ``user_version`` 0 was written before the hub numbered its schema (every
release up to the one that added this module), so the first steps are the columns
those releases added on the fly, in the order they came; each step is tolerant of
what such a file may already have. A step never assumes its table exists: the
features' ``SCHEMA`` (run after the steps, in the same transaction) makes a missing
table in its newest shape. Add a step at the end for every change to a table that
already shipped, and never change a step once released (docs/upgrades.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    """One change of the schema: what it does, in a person's words, and the change."""

    what: str
    apply: Callable[[sqlite3.Connection], None]


def add_column(db: sqlite3.Connection, table: str, column: str, kind: str) -> None:
    """``column`` added to ``table`` unless the table is absent or already has it."""
    present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    if present and column not in present:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _dispatch_check_columns(db: sqlite3.Connection) -> None:
    add_column(db, "queue_files", "filament_mm", "REAL")
    add_column(db, "queue_jobs", "overrides", "TEXT NOT NULL DEFAULT ''")


def _app_key_columns(db: sqlite3.Connection) -> None:
    # Old keys read NULL: not limited to a printer, made by no app.
    add_column(db, "api_keys", "printer", "TEXT")
    add_column(db, "api_keys", "app", "TEXT")


def _archive_timelapse_column(db: sqlite3.Connection) -> None:
    add_column(db, "job_archive", "timelapse", "INTEGER NOT NULL DEFAULT 0")


STEPS: tuple[Step, ...] = (
    Step("queue entries' filament and dispatch overrides", _dispatch_check_columns),
    Step("API keys limited to one printer, and the app that asked", _app_key_columns),
    Step("archived jobs say whether they had a timelapse", _archive_timelapse_column),
)
