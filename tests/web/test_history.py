"""Job history: who, when, how long, outcome, filament, temperatures; filters and CSV; WAL."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from pathlib import Path

import pytest

from instance.job_records import DB_NAME, JobOutcome, JobRecords
from tests.web.server import Served, gcode_head

pytestmark = pytest.mark.timeout(180)


def test_history_records_each_job_and_filters_and_exports(server: Served):
    short = gcode_head("cube_prusa_marlin2.gcode", 400)
    assert server.upload("short.gcode", short).status_code == 201
    assert server.upload("other.gcode", short).status_code == 201
    before = time.time()
    assert server.post("/api/v1/job", json={"file": "short.gcode"}).status_code == 201
    server.wait_state("finished", seconds=60)
    assert server.post("/api/v1/bed/clear").status_code == 200
    assert server.post("/api/v1/job", json={"file": "other.gcode"}).status_code == 201
    server.wait_state("printing", "finished")
    server.post("/api/v1/job/cancel")
    server.wait_state("bed not cleared", "finished", seconds=60)

    jobs = server.get("/api/v1/history").json()["jobs"]
    assert [job["file"] for job in jobs][-2:] == ["other.gcode", "short.gcode"][-len(jobs) :]
    done = next(job for job in jobs if job["file"] == "short.gcode")
    assert done["outcome"] == "completed"
    assert done["reason"] is None
    assert done["started_by"] == "api"
    assert done["started_at"] >= before - 1
    assert done["duration"] == pytest.approx(done["ended_at"] - done["started_at"], abs=0.01)
    assert done["file_size"] == len(short)

    completed = server.get("/api/v1/history", params={"outcome": "completed"}).json()["jobs"]
    assert [job["file"] for job in completed] == ["short.gcode"]
    by_name = server.get("/api/v1/history", params={"file": "OTHER"}).json()["jobs"]
    assert [job["file"] for job in by_name] == ["other.gcode"]
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    assert server.get("/api/v1/history", params={"since": tomorrow}).json()["jobs"] == []
    until = server.get("/api/v1/history", params={"until": tomorrow}).json()["jobs"]
    assert len(until) == 2
    limited = server.get("/api/v1/history", params={"limit": 1}).json()["jobs"]
    assert len(limited) == 1
    assert limited[0]["id"] == max(job["id"] for job in jobs)

    exported = server.get("/api/v1/history.csv", params={"outcome": "completed"})
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 1
    assert rows[0]["file"] == "short.gcode"
    assert rows[0]["outcome"] == "completed"
    assert rows[0]["started_by"] == "api"
    assert rows[0]["started_at"].endswith("+00:00")

    one = server.get(f"/api/v1/history/{done['id']}").json()
    # One job's record adds what went wrong in it without ending it: nothing here.
    assert one.pop("warnings") == []
    assert one == done
    series = server.get(f"/api/v1/history/{done['id']}/temperatures").json()
    assert len(series["times"]) >= 1
    assert "T0.actual" in series["series"]


def test_filament_is_recorded_as_the_printed_share_of_the_file(fast_server: Served):
    server = fast_server
    # The Slic3r fixture names its filament in a footer the head does not reach,
    # so the whole file is printed: the record gets all of it.
    content = (Path(__file__).parent.parent / "fixtures/gcode/cube_slic3r.gcode").read_bytes()
    assert server.upload("whole.gcode", content).status_code == 201
    assert server.post("/api/v1/job", json={"file": "whole.gcode"}).status_code == 201
    server.wait_state("finished", seconds=150)
    job = server.get("/api/v1/history").json()["jobs"][0]
    assert job["outcome"] == "completed"
    assert job["filament_mm"] == pytest.approx(732.2, rel=0.02)


def test_the_job_database_is_in_wal_mode_and_an_old_one_gains_the_new_columns(tmp_path: Path):
    with JobRecords(tmp_path / "fresh") as records:
        assert records.journal_mode() == "wal"
    # A database written by the first schema: no started_by, no filament_mm.
    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(old / DB_NAME)
    db.executescript(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, file_name TEXT NOT NULL,"
        " file_size INTEGER NOT NULL, started_at REAL NOT NULL, ended_at REAL, outcome TEXT,"
        " reason TEXT, last_line INTEGER, last_offset INTEGER, resumed_from INTEGER,"
        " start_offset INTEGER NOT NULL DEFAULT 0, progress_saved_at REAL, temperatures BLOB);"
        "INSERT INTO jobs (file_name, file_size, started_at, ended_at, outcome)"
        " VALUES ('old.gcode', 10, 1.0, 2.0, 'completed');"
        "PRAGMA user_version=1;"
    )
    db.close()
    with JobRecords(old) as records:
        assert records.journal_mode() == "wal"
        (record,) = records.list()
        assert (record.file_name, record.started_by, record.filament_mm) == (
            "old.gcode",
            None,
            None,
        )
        job = records.start("new.gcode", 20, 3.0, started_by="alice")
        records.finish(job, JobOutcome.FAILED, "thermal runaway", 4.0, filament_mm=12.5)
        found = records.search(outcome=JobOutcome.FAILED)
        assert [(r.file_name, r.started_by, r.filament_mm) for r in found] == [
            ("new.gcode", "alice", 12.5)
        ]
        assert records.search(file_name="%") == []
        assert [r.file_name for r in records.search(since=2.5)] == ["new.gcode"]
        assert [r.file_name for r in records.search(until=2.5)] == ["old.gcode"]
