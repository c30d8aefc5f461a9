"""The fleet queue's records: submitted files on disk, queue entries in SQLite.

A submitted file is written to ``<data_dir>/queue/.incoming-*`` (streamed),
fsynced and renamed to ``<data_dir>/queue/<file id>.gcode``; its row is
committed only after the rename, so a crash leaves at worst a stray file that
the next start removes. A file is deleted when none of its entries can still
print it (every one done or cancelled). Every state change is one committed
write, so a restart of the hub loses nothing.

Order: higher ``priority`` first, then lower ``position``. States::

    queued → sent → printing → done | failed | interrupted
    queued → cancelled;  sent/printing → cancelled (cancelled on the printer)
    failed | interrupted → queued (requeue, by a person)
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hub.queue.gcode_scan import Box, GcodeFacts

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_files (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    material TEXT,
    nozzle REAL,
    box TEXT,
    estimated_seconds REAL,
    submitted_at REAL NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    filament_mm REAL
);
CREATE TABLE IF NOT EXISTS queue_jobs (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES queue_files(id),
    copy INTEGER NOT NULL,
    copies INTEGER NOT NULL,
    target TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    position REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',
    printer TEXT,
    printer_job INTEGER,
    submitted_by TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    sent_at REAL,
    started_at REAL,
    ended_at REAL,
    reason TEXT,
    overrides TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS queue_jobs_state ON queue_jobs(state);
"""

State = Literal["queued", "sent", "printing", "done", "failed", "cancelled", "interrupted"]
STATES: tuple[str, ...] = (
    "queued", "sent", "printing", "done", "failed", "cancelled", "interrupted",
)  # fmt: skip
# On a printer: the dispatcher follows these.
ACTIVE = ("sent", "printing")
# A person may put these back in the queue.
REQUEUEABLE = ("failed", "interrupted")
# The file is no longer needed once every entry is in one of these.
FINISHED = ("done", "cancelled")
INCOMING = ".incoming-"
# filament_mm and overrides came after the first release: hub/migrations.py adds them.


@dataclass(frozen=True, slots=True)
class QueueFile:
    id: int
    name: str
    size: int
    material: str | None
    nozzle: float | None
    box: Box | None
    estimated_seconds: float | None
    # Net filament the file pushes (mm); None when unknown.
    filament_mm: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filament_mm": None if self.filament_mm is None else round(self.filament_mm, 1),
            "name": self.name,
            "size": self.size,
            "material": self.material,
            "nozzle": self.nozzle,
            "box": None if self.box is None else self.box.to_json(),
            "estimated_seconds": self.estimated_seconds,
        }


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    file: QueueFile
    copy: int
    copies: int
    target: str
    tags: tuple[str, ...]
    priority: int
    position: float
    state: str
    printer: str | None
    printer_job: int | None
    submitted_by: str
    submitted_at: float
    sent_at: float | None
    started_at: float | None
    ended_at: float | None
    reason: str | None
    # Dispatch-check items an admin overrode for this entry (hub/dispatch/check.py codes).
    overrides: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file.to_json(),
            "copy": self.copy,
            "copies": self.copies,
            "target": self.target,
            "tags": list(self.tags),
            "priority": self.priority,
            "state": self.state,
            "printer": self.printer,
            "printer_job": self.printer_job,
            "submitted_by": self.submitted_by,
            "submitted_at": self.submitted_at,
            "sent_at": self.sent_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "reason": self.reason,
            # Item → the admin who let it pass for this entry.
            "overrides": dict(o.split("=", 1) for o in self.overrides if "=" in o),
        }


def queue_dir(data_dir: Path) -> Path:
    return data_dir / "queue"


def file_path(data_dir: Path, file_id: int) -> Path:
    return queue_dir(data_dir) / f"{file_id}.gcode"


def incoming_path(data_dir: Path) -> Path:
    """A fresh temporary path for one upload (same directory, so the rename is atomic)."""
    folder = queue_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{INCOMING}{os.getpid()}-{time.monotonic_ns()}"


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def add_file(
    db: sqlite3.Connection, data_dir: Path, name: str, incoming: Path, facts: GcodeFacts
) -> QueueFile:
    """Keep an uploaded (already fsynced) temporary file as a queue file."""
    size = incoming.stat().st_size
    box = None if facts.box is None else json.dumps(facts.box.to_json())
    final: Path | None = None
    db.execute("BEGIN IMMEDIATE")
    try:
        cursor = db.execute(
            "INSERT INTO queue_files (name, size, material, nozzle, box, estimated_seconds,"
            " submitted_at, filament_mm) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                size,
                facts.material,
                facts.nozzle,
                box,
                facts.estimated_seconds,
                time.time(),
                facts.filament_mm,
            ),
        )
        file_id = int(cursor.lastrowid or 0)
        final = file_path(data_dir, file_id)
        os.replace(incoming, final)
        _fsync_directory(final.parent)
        db.execute("COMMIT")
    except BaseException:
        # A full disk's commit fails: the file goes with the row (SQLite may have rolled
        # the transaction back by itself).
        if final is not None:
            final.unlink(missing_ok=True)
        rollback(db)
        raise
    return QueueFile(file_id, name, size, facts.material, facts.nozzle, facts.box,
                     facts.estimated_seconds, facts.filament_mm)  # fmt: skip


def rollback(db: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does on a full disk)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def _file(row: sqlite3.Row) -> QueueFile:
    box = None if row["box"] is None else Box(**json.loads(row["box"]))
    return QueueFile(
        id=row["file_id"],
        name=row["name"],
        size=row["size"],
        material=row["material"],
        nozzle=row["nozzle"],
        box=box,
        estimated_seconds=row["estimated_seconds"],
        filament_mm=row["filament_mm"],
    )


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        file=_file(row),
        copy=row["copy"],
        copies=row["copies"],
        target=row["target"],
        tags=tuple(t for t in row["tags"].split(",") if t),
        priority=row["priority"],
        position=row["position"],
        state=row["state"],
        printer=row["printer"],
        printer_job=row["printer_job"],
        submitted_by=row["submitted_by"],
        submitted_at=row["submitted_at"],
        sent_at=row["sent_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        reason=row["reason"],
        overrides=tuple(o for o in (row["overrides"] or "").split(",") if o),
    )


_SELECT = (
    "SELECT j.*, f.name, f.size, f.material, f.nozzle, f.box, f.estimated_seconds, f.filament_mm"
    " FROM queue_jobs j JOIN queue_files f ON f.id = j.file_id"
)
ORDER = " ORDER BY j.priority DESC, j.position ASC, j.id ASC"


def add_jobs(
    db: sqlite3.Connection,
    file: QueueFile,
    copies: int,
    target: str,
    tags: Iterable[str],
    priority: int,
    user: str,
) -> list[Job]:
    """``copies`` queue entries for one file, after every entry already queued."""
    now = time.time()
    db.execute("BEGIN IMMEDIATE")
    try:
        last = db.execute("SELECT COALESCE(MAX(position), 0) FROM queue_jobs").fetchone()[0]
        ids = [
            int(
                db.execute(
                    "INSERT INTO queue_jobs (file_id, copy, copies, target, tags, priority,"
                    " position, submitted_by, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (file.id, n, copies, target, ",".join(tags), priority, last + n, user, now),
                ).lastrowid
                or 0
            )
            for n in range(1, copies + 1)
        ]
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise
    return [job for job in (get(db, i) for i in ids) if job is not None]


def get(db: sqlite3.Connection, job_id: int) -> Job | None:
    row = db.execute(_SELECT + " WHERE j.id = ?", (job_id,)).fetchone()
    return None if row is None else _job(row)


def jobs(db: sqlite3.Connection, states: Iterable[str] | None = None) -> list[Job]:
    """Entries in queue order (all states, or those given)."""
    if states is None:
        rows = db.execute(_SELECT + ORDER).fetchall()
    else:
        wanted = tuple(states)
        marks = ",".join("?" * len(wanted))
        rows = db.execute(_SELECT + f" WHERE j.state IN ({marks})" + ORDER, wanted).fetchall()
    return [_job(row) for row in rows]


def recent(db: sqlite3.Connection, finished_limit: int = 200) -> list[Job]:
    """What the queue page shows: every open entry, and the latest finished ones."""
    open_jobs = jobs(db, ("queued", "sent", "printing", "failed", "interrupted"))
    rows = db.execute(
        _SELECT + " WHERE j.state IN ('done', 'cancelled') ORDER BY j.id DESC LIMIT ?",
        (finished_limit,),
    ).fetchall()
    return open_jobs + [_job(row) for row in rows]


def update(db: sqlite3.Connection, job_id: int, **fields: Any) -> None:
    """Set columns of one entry (one committed write)."""
    if "state" in fields and fields["state"] not in STATES:
        raise ValueError(f"unknown state {fields['state']!r}")
    columns = ", ".join(f"{name} = ?" for name in fields)
    db.execute(f"UPDATE queue_jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))


def transition(
    db: sqlite3.Connection, job_id: int, from_states: Iterable[str], **fields: Any
) -> bool:
    """Like :func:`update`, only while the entry is in one of ``from_states``; done or not."""
    allowed = tuple(from_states)
    columns = ", ".join(f"{name} = ?" for name in fields)
    marks = ",".join("?" * len(allowed))
    cursor = db.execute(
        f"UPDATE queue_jobs SET {columns} WHERE id = ? AND state IN ({marks})",
        (*fields.values(), job_id, *allowed),
    )
    return cursor.rowcount == 1


Where = Literal["up", "down", "top"]


def move(db: sqlite3.Connection, job_id: int, where: Where) -> bool:
    """Move a queued entry one place up or down, or to the top, of the queued entries.

    Moving past an entry of another priority takes on that entry's priority (so
    the order shown is the order printed). False when it is not queued.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        order = jobs(db, ("queued",))
        index = next((i for i, job in enumerate(order) if job.id == job_id), None)
        if index is None:
            db.execute("ROLLBACK")
            return False
        goal = {"up": max(index - 1, 0), "down": min(index + 1, len(order) - 1), "top": 0}[where]
        job = order[index]
        # The entry it passes (for "top", the first): it sits next to it, so takes its priority.
        priority = job.priority if goal == index else order[goal].priority
        if where == "top":
            priority = max(job.priority, order[0].priority)
        order.insert(goal, order.pop(index))
        for position, entry in enumerate(order, start=1):
            db.execute("UPDATE queue_jobs SET position = ? WHERE id = ?", (position, entry.id))
        db.execute("UPDATE queue_jobs SET priority = ? WHERE id = ?", (priority, job_id))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return True


def release_files(db: sqlite3.Connection, data_dir: Path) -> list[int]:
    """Delete the files no entry can print any more; the ids removed."""
    rows = db.execute(
        "SELECT f.id FROM queue_files f WHERE f.removed = 0 AND NOT EXISTS"
        " (SELECT 1 FROM queue_jobs j WHERE j.file_id = f.id AND j.state NOT IN (?, ?))",
        FINISHED,
    ).fetchall()
    removed: list[int] = []
    for row in rows:
        file_path(data_dir, row["id"]).unlink(missing_ok=True)
        db.execute("UPDATE queue_files SET removed = 1 WHERE id = ?", (row["id"],))
        removed.append(row["id"])
    return removed


def recover(db: sqlite3.Connection, data_dir: Path) -> list[int]:
    """At start: remove unfinished uploads and files no row knows. The entries caught
    between "send" and the printer's answer are returned, still "sent": the dispatcher
    finds out from their printer whether it took them (``Dispatcher.adopt``)."""
    folder = queue_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    known = {row["id"] for row in db.execute("SELECT id FROM queue_files WHERE removed = 0")}
    for path in folder.iterdir():
        stem = path.name.removesuffix(".gcode")
        if path.name.startswith(INCOMING) or not stem.isdigit() or int(stem) not in known:
            path.unlink(missing_ok=True)
    caught = db.execute(
        "SELECT id FROM queue_jobs WHERE state = 'sent' AND printer_job IS NULL ORDER BY id"
    ).fetchall()
    release_files(db, data_dir)
    return [int(row["id"]) for row in caught]
