"""A print server whose data dir fills up: uploads refused (507), the print goes on and is
recorded, the job database stays whole, and all is well again once space returns."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from instance.printer import RECORDS_WAIT
from tests.camera_stand_in import stand_in_camera
from tests.conftest import file_commands, file_head, without_host
from tests.small_volume import MB, chunked_upload, fill, integrity, small_volume
from tests.web.big_upload import BOUNDARY
from tests.web.server import GCODE, Served, running_server

pytestmark = pytest.mark.timeout(180)

SOURCE = GCODE / "cube_slic3r.gcode"


def recorded_outcome(served: Served, job_id: int) -> str | None:
    """The job's outcome as the job database holds it (not as the API shows it)."""
    db = sqlite3.connect(f"file:{served.data_dir / 'jobs.sqlite3'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT outcome FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        db.close()
    return None if row is None else row[0]


def left_behind(served: Served) -> list[str]:
    """Everything in the files directory: stored files and unfinished uploads."""
    files = served.files_dir
    return sorted(p.name for p in files.iterdir() if p.is_file()) + sorted(
        p.name for p in (files / ".uploads").iterdir()
    )


def test_a_full_disk_refuses_uploads_and_the_print_goes_on_recorded(tmp_path: Path) -> None:
    part = file_head(SOURCE, 600, tmp_path / "part.gcode")
    with (
        small_volume(tmp_path / "data", 24) as volume,
        # Moves of 10 ms: the print outlasts filling the disk and the refused uploads.
        running_server(
            tmp_path, "--disk-reserve-mb", "0", sim_args=("--fault", "slow_planner:delay=0.01")
        ) as s,
    ):
        started = s.upload(part.name, part.read_bytes(), path="/api/v1/files", print="true")
        assert started.status_code == 201, started.text
        job_id = started.json()["job"]
        s.wait_state("printing")
        before = left_behind(s)
        filler = fill(volume)
        os.truncate(filler, filler.stat().st_size - MB)

        # A file larger than the 1 MB left, sent with no size: the disk fills while it is
        # written; refused with a sentence and nothing of it kept.
        filled = s.http.post(
            s.url + "/api/v1/files",
            data=chunked_upload("chunked.gcode", 3 * MB),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=60,
        )
        assert filled.status_code == 507, filled.text
        assert "filled up" in filled.json()["error"]
        assert left_behind(s) == before

        fill(volume)
        # OctoPrint's upload, as slicers send it, larger than the free space by its
        # Content-Length: refused before it is stored.
        refused = s.upload("second.gcode", b"G28\nG1 X10 Y10\n" * 2000)
        assert refused.status_code == 507, refused.text
        assert "not enough free disk space" in refused.json()["error"]
        assert left_behind(s) == before

        # The print ends as it began: every line of the file, once, in order.
        s.wait_for(lambda: s.state() == "finished", 120)
        job = s.get(f"/api/v1/history/{job_id}").json()
        assert job["outcome"] == "completed"
        executed = without_host(s.sim.executed())
        assert executed[: len(file_commands(part))] == file_commands(part)
        # The disk had no room for the record: it waits in memory and the page says so.
        assert recorded_outcome(s, job_id) is None
        assert s.get("/api/v1/printer").json()["notice"] == RECORDS_WAIT
        # A new job cannot be recorded: it is not started, and says why.
        cleared = s.post("/api/v1/bed/clear")
        assert cleared.status_code == 200, cleared.text
        start = s.post("/api/v1/job", json={"file": part.name})
        assert start.status_code == 507, start.text
        assert "not started" in start.json()["error"]
        assert s.state() == "ready"

        # Room again: the record is written without a restart, uploads are taken again.
        filler.unlink()
        s.wait_for(lambda: recorded_outcome(s, job_id) == "completed", 20)
        s.wait_for(lambda: s.get("/api/v1/printer").json()["notice"] is None, 10)
        again = s.upload("second.gcode", b"G28\nG1 X10 Y10\n" * 2000)
        assert again.status_code == 201, again.text
        assert integrity(s.data_dir / "jobs.sqlite3") == "ok"
        assert s.process.poll() is None


def recorded_timelapse(served: Served, job_id: int) -> dict[str, Any] | None:
    """The job's timelapse as the job database holds it."""
    db = sqlite3.connect(f"file:{served.data_dir / 'jobs.sqlite3'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT timelapse FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        db.close()
    found: dict[str, Any] | None = json.loads(row[0]) if row and row[0] else None
    return found


def test_timelapse_frames_without_room_leave_a_note_and_the_print_goes_on(
    tmp_path: Path,
) -> None:
    part = file_head(SOURCE, 600, tmp_path / "part.gcode")
    (tmp_path / "camera").mkdir()
    with (
        stand_in_camera(tmp_path / "camera") as camera,
        small_volume(tmp_path / "data", 24) as volume,
        running_server(
            tmp_path, "--disk-reserve-mb", "0", "--camera-snapshot-url", camera.url,
            "--timelapse", "interval", "--timelapse-interval", "0.3",
            sim_args=("--fault", "slow_planner:delay=0.01"),
        ) as s,
    ):  # fmt: skip
        started = s.upload(part.name, part.read_bytes(), path="/api/v1/files", print="true")
        assert started.status_code == 201, started.text
        job_id = started.json()["job"]
        frames = s.data_dir / "timelapse" / f"job-{job_id}"
        s.wait_for(lambda: frames.is_dir() and len(list(frames.iterdir())) >= 2, 30)
        filler = fill(volume)

        s.wait_for(lambda: s.state() == "finished", 120)
        executed = without_host(s.sim.executed())
        assert executed[: len(file_commands(part))] == file_commands(part)

        def settled() -> bool:
            timelapse = s.get(f"/api/v1/history/{job_id}").json()["timelapse"]
            return timelapse is not None and timelapse["state"] not in ("capturing", "assembling")

        s.wait_for(settled, 60)
        job = s.get(f"/api/v1/history/{job_id}").json()
        assert job["outcome"] == "completed"
        timelapse = job["timelapse"]
        assert timelapse["missed"] > 0
        assert any(
            note.startswith("no room for frames at")
            and "the frame could not be written: No space left on device" in note
            for note in timelapse["notes"]
        ), timelapse["notes"]

        # Room again: the record, the timelapse's notes with it, is written.
        filler.unlink()
        s.wait_for(lambda: recorded_outcome(s, job_id) == "completed", 20)
        s.wait_for(lambda: recorded_timelapse(s, job_id) == timelapse, 20)
        assert integrity(s.data_dir / "jobs.sqlite3") == "ok"
