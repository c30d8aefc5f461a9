"""Which spool is loaded where, and the use reports owed to Spoolman: the hub's SQLite.

``spool_assignments`` holds what is loaded now (printer, tool → spool); every change is
also appended to ``spool_loads`` so the spool loaded *when a job ended* can be found
later. ``spool_reports`` holds one row per reported job: written (``pending``) before
anything is sent, marked ``sent`` after Spoolman's 200, so a report is never lost and
never sent twice. ``spool_report_mark`` remembers the last ``job_archive`` row looked at.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool_assignments (
    printer TEXT NOT NULL,
    tool INTEGER NOT NULL,
    spool_id INTEGER NOT NULL,
    assigned_by TEXT NOT NULL,
    assigned_at REAL NOT NULL,
    PRIMARY KEY (printer, tool)
);
CREATE TABLE IF NOT EXISTS spool_loads (
    id INTEGER PRIMARY KEY,
    printer TEXT NOT NULL,
    tool INTEGER NOT NULL,
    spool_id INTEGER,
    by TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spool_loads_by_printer ON spool_loads (printer, tool, at);
CREATE TABLE IF NOT EXISTS spool_reports (
    id INTEGER PRIMARY KEY,
    printer TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    file TEXT NOT NULL,
    spool_id INTEGER NOT NULL,
    filament_mm REAL NOT NULL,
    grams REAL,
    state TEXT NOT NULL DEFAULT 'pending',
    tries INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (printer, job_id, started_at)
);
CREATE INDEX IF NOT EXISTS spool_reports_by_state ON spool_reports (state, next_try);
CREATE TABLE IF NOT EXISTS spool_report_mark (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_row INTEGER NOT NULL
);
"""

STATES = ("pending", "sent", "gone", "failed")
# Tools a printer may have (T0 … T15).
MAX_TOOL = 15


@dataclass(frozen=True, slots=True)
class Assignment:
    printer: str
    tool: int
    spool_id: int
    assigned_by: str
    assigned_at: float


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    printer: str
    job_id: int
    started_at: float
    ended_at: float
    file: str
    spool_id: int
    filament_mm: float
    grams: float | None
    state: str
    tries: int
    next_try: float
    last_error: str | None
    created_at: float
    sent_at: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "printer": self.printer, "job_id": self.job_id,
            "started_at": self.started_at, "ended_at": self.ended_at, "file": self.file,
            "spool_id": self.spool_id, "filament_mm": self.filament_mm, "grams": self.grams,
            "state": self.state, "tries": self.tries, "last_error": self.last_error,
            "created_at": self.created_at, "sent_at": self.sent_at,
        }  # fmt: skip


def _assignment(row: sqlite3.Row) -> Assignment:
    return Assignment(
        row["printer"], row["tool"], row["spool_id"], row["assigned_by"], row["assigned_at"]
    )


def assignments(db: sqlite3.Connection, printer: str | None = None) -> list[Assignment]:
    if printer is None:
        rows = db.execute("SELECT * FROM spool_assignments ORDER BY printer, tool").fetchall()
    else:
        rows = db.execute(
            "SELECT * FROM spool_assignments WHERE printer = ? ORDER BY tool", (printer,)
        ).fetchall()
    return [_assignment(r) for r in rows]


def assign(db: sqlite3.Connection, printer: str, tool: int, spool_id: int | None, by: str) -> None:
    """Load ``spool_id`` into ``printer``'s ``tool`` (None: unload), logged with the time."""
    now = time.time()
    db.execute("BEGIN IMMEDIATE")
    try:
        if spool_id is None:
            db.execute(
                "DELETE FROM spool_assignments WHERE printer = ? AND tool = ?", (printer, tool)
            )
        else:
            db.execute(
                "INSERT INTO spool_assignments (printer, tool, spool_id, assigned_by, assigned_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (printer, tool) DO UPDATE SET"
                " spool_id = excluded.spool_id, assigned_by = excluded.assigned_by,"
                " assigned_at = excluded.assigned_at",
                (printer, tool, spool_id, by, now),
            )
        db.execute(
            "INSERT INTO spool_loads (printer, tool, spool_id, by, at) VALUES (?, ?, ?, ?, ?)",
            (printer, tool, spool_id, by, now),
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def loaded_at(db: sqlite3.Connection, printer: str, tool: int, at: float) -> int | None:
    """The spool loaded in ``printer``'s ``tool`` at time ``at`` (None: none was)."""
    row = db.execute(
        "SELECT spool_id FROM spool_loads WHERE printer = ? AND tool = ? AND at <= ?"
        " ORDER BY at DESC, id DESC LIMIT 1",
        (printer, tool, at),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


@dataclass(frozen=True, slots=True)
class EndedJob:
    row: int
    printer: str
    job_id: int
    started_at: float
    ended_at: float
    file: str
    filament_mm: float | None


def jobs_after_mark(db: sqlite3.Connection, limit: int = 500) -> list[EndedJob]:
    """``job_archive`` rows added since the last look (in the order they were added)."""
    mark = db.execute("SELECT last_row FROM spool_report_mark WHERE id = 1").fetchone()
    if mark is None:
        # The first look: jobs archived before the hub knew of spools have nothing to report.
        newest = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM job_archive").fetchone()[0]
        db.execute("INSERT INTO spool_report_mark (id, last_row) VALUES (1, ?)", (newest,))
        return []
    rows = db.execute(
        "SELECT rowid, printer, job_id, started_at, ended_at, file, filament_mm FROM job_archive"
        " WHERE rowid > ? ORDER BY rowid LIMIT ?",
        (mark[0], limit),
    ).fetchall()
    return [EndedJob(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def add_reports(
    db: sqlite3.Connection, jobs: list[tuple[EndedJob, int, float | None]], last_row: int
) -> int:
    """A pending report per (job, spool, grams if known), and the mark moved past every job
    looked at (``last_row``), in one transaction; how many reports were added."""
    now = time.time()
    added = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        for job, spool_id, grams in jobs:
            cursor = db.execute(
                "INSERT OR IGNORE INTO spool_reports (printer, job_id, started_at, ended_at, file,"
                " spool_id, filament_mm, grams, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.printer, job.job_id, job.started_at, job.ended_at, job.file, spool_id,
                    job.filament_mm, grams, now,
                ),
            )  # fmt: skip
            added += cursor.rowcount
        db.execute(
            "UPDATE spool_report_mark SET last_row = MAX(last_row, ?) WHERE id = 1", (last_row,)
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return added


def _report(row: sqlite3.Row) -> Report:
    return Report(**dict(row))


def due_reports(db: sqlite3.Connection, now: float) -> list[Report]:
    rows = db.execute(
        "SELECT * FROM spool_reports WHERE state = 'pending' AND next_try <= ? ORDER BY id",
        (now,),
    ).fetchall()
    return [_report(r) for r in rows]


def reports(db: sqlite3.Connection, printers: list[str] | None, limit: int = 100) -> list[Report]:
    """The newest reports first, of ``printers`` (None: of all)."""
    if printers is None:
        rows = db.execute(
            "SELECT * FROM spool_reports ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
    else:
        marks = ",".join("?" * len(printers))
        rows = db.execute(
            f"SELECT * FROM spool_reports WHERE printer IN ({marks}) ORDER BY id DESC LIMIT ?",
            (*printers, limit),
        ).fetchall()
    return [_report(r) for r in rows]


def set_grams(db: sqlite3.Connection, report: int, grams: float) -> None:
    db.execute("UPDATE spool_reports SET grams = ? WHERE id = ?", (grams, report))


def mark_sent(db: sqlite3.Connection, report: int) -> None:
    db.execute(
        "UPDATE spool_reports SET state = 'sent', sent_at = ?, tries = tries + 1,"
        " last_error = NULL WHERE id = ?",
        (time.time(), report),
    )


def mark_ended(db: sqlite3.Connection, report: int, state: str, error: str) -> None:
    """A report that will never be sent: ``gone`` (no such spool) or ``failed`` (refused)."""
    db.execute(
        "UPDATE spool_reports SET state = ?, tries = tries + 1, last_error = ? WHERE id = ?",
        (state, error, report),
    )


def mark_retry(db: sqlite3.Connection, report: int, error: str, next_try: float) -> None:
    db.execute(
        "UPDATE spool_reports SET tries = tries + 1, last_error = ?, next_try = ? WHERE id = ?",
        (error, next_try, report),
    )


def retry_now(db: sqlite3.Connection) -> None:
    """Spoolman answers again: every pending report is due."""
    db.execute("UPDATE spool_reports SET next_try = 0 WHERE state = 'pending' AND next_try > 0")
