"""A hub database made before the dispatch check (no ``filament_mm``, no ``overrides``)
opens, gains the columns, and keeps its entries (hub/migrations.py, step 1)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.app import schemas
from hub.db import open_database
from hub.queue import store

# The two tables as the release before wrote them.
BEFORE = """
CREATE TABLE queue_files (id INTEGER PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL,
    material TEXT, nozzle REAL, box TEXT, estimated_seconds REAL, submitted_at REAL NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE queue_jobs (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL
    REFERENCES queue_files(id), copy INTEGER NOT NULL, copies INTEGER NOT NULL,
    target TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '', priority INTEGER NOT NULL DEFAULT 0,
    position REAL NOT NULL, state TEXT NOT NULL DEFAULT 'queued', printer TEXT,
    printer_job INTEGER, submitted_by TEXT NOT NULL, submitted_at REAL NOT NULL, sent_at REAL,
    started_at REAL, ended_at REAL, reason TEXT);
INSERT INTO queue_files VALUES (1, 'benchy.gcode', 100, 'PLA', 0.4, NULL, 60, 1.0, 0);
INSERT INTO queue_jobs (file_id, copy, copies, target, position, submitted_by, submitted_at)
    VALUES (1, 1, 1, 'fleet', 1, 'ada', 1.0);
"""


def test_an_old_database_gains_the_columns_and_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    old = sqlite3.connect(path)
    old.executescript(BEFORE)
    old.close()
    open_database(path, schemas()).close()
    db = open_database(path, schemas())  # a second start changes nothing
    (job,) = store.jobs(db, ("queued",))
    assert job.file.name == "benchy.gcode" and job.submitted_by == "ada"
    assert job.file.filament_mm is None and job.overrides == ()
    store.update(db, job.id, overrides="heat=ada")
    again = store.get(db, job.id)
    assert again is not None and again.to_json()["overrides"] == {"heat": "ada"}
