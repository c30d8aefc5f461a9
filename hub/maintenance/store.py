"""Service records in the hub's database: each "done", and each printer's first reading.

``maintenance_done``: one row per task marked done, with who, when, the printer's
counters at that moment (the task's new baseline) and a note. ``maintenance_start``:
the first counters the hub read from a printer, the baseline of every task never done.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.maintenance.counters import Counters, CountersError, parse_counters

SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenance_done (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    printer TEXT NOT NULL,
    task TEXT NOT NULL,
    done_by TEXT NOT NULL,
    done_at REAL NOT NULL,
    counters TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS maintenance_done_by_task ON maintenance_done (printer, task, done_at);
CREATE TABLE IF NOT EXISTS maintenance_start (
    printer TEXT PRIMARY KEY,
    counters TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Done:
    id: int
    printer: str
    task: str
    done_by: str
    done_at: float
    counters: Counters
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "printer": self.printer,
            "task": self.task,
            "done_by": self.done_by,
            "done_at": self.done_at,
            "counters": self.counters.to_json(),
            "note": self.note,
        }


def _counters(text: str, at: float) -> Counters | None:
    try:
        raw = json.loads(text)
        return parse_counters(raw, float(raw.get("at", at)))
    except (ValueError, TypeError, AttributeError, CountersError):
        return None


def _done(row: Any) -> Done | None:
    counters = _counters(row["counters"], row["done_at"])
    if counters is None:
        return None
    return Done(
        int(row["id"]),
        str(row["printer"]),
        str(row["task"]),
        str(row["done_by"]),
        float(row["done_at"]),
        counters,
        str(row["note"]),
    )


def record_done(
    db: sqlite3.Connection, printer: str, task: str, user: str, counters: Counters, note: str
) -> Done:
    cursor = db.execute(
        "INSERT INTO maintenance_done (printer, task, done_by, done_at, counters, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (printer, task, user, counters.at, json.dumps(counters.to_json()), note),
    )
    return Done(int(cursor.lastrowid or 0), printer, task, user, counters.at, counters, note)


def last_done(db: sqlite3.Connection) -> dict[tuple[str, str], Done]:
    """The latest "done" of every (printer, task)."""
    rows = db.execute(
        "SELECT * FROM maintenance_done d WHERE id = (SELECT id FROM maintenance_done"
        " WHERE printer = d.printer AND task = d.task ORDER BY done_at DESC, id DESC LIMIT 1)"
    ).fetchall()
    found = [done for row in rows if (done := _done(row)) is not None]
    return {(done.printer, done.task): done for done in found}


def log_of(db: sqlite3.Connection, printer: str, limit: int) -> list[Done]:
    """``printer``'s service log, newest first."""
    rows = db.execute(
        "SELECT * FROM maintenance_done WHERE printer = ? ORDER BY done_at DESC, id DESC LIMIT ?",
        (printer, limit),
    ).fetchall()
    return [done for row in rows if (done := _done(row)) is not None]


def starts(db: sqlite3.Connection) -> dict[str, Counters]:
    rows = db.execute("SELECT printer, counters FROM maintenance_start").fetchall()
    found = {str(row["printer"]): _counters(row["counters"], 0.0) for row in rows}
    return {name: counters for name, counters in found.items() if counters is not None}


def record_start(db: sqlite3.Connection, printer: str, counters: Counters) -> None:
    db.execute(
        "INSERT OR IGNORE INTO maintenance_start (printer, counters) VALUES (?, ?)",
        (printer, json.dumps(counters.to_json())),
    )
