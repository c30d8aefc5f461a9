"""Job records on a full disk (a real 4 MB tmpfs): what cannot be written waits in memory, in
order, shown as recorded; a process that dies meanwhile loses no job; room writes it all."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from instance.job_records import (
    REASON_SERVER_STOPPED,
    JobOutcome,
    JobRecords,
    JobWarning,
    RecordsDiskFull,
)
from tests.small_volume import fill, integrity, small_volume


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    with small_volume(tmp_path / "data", 4) as mounted:
        yield mounted


def on_disk(volume: Path, job_id: int) -> tuple[str | None, int | None]:
    """(outcome, number of warnings) as the database file holds them."""
    db = sqlite3.connect(f"file:{volume / 'jobs.sqlite3'}?mode=ro", uri=True)
    try:
        outcome = db.execute("SELECT outcome FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
        warnings = db.execute(
            "SELECT count(*) FROM job_warnings WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
    finally:
        db.close()
    return outcome, warnings


def test_an_end_on_a_full_disk_waits_in_memory_and_is_written_on_room(volume: Path) -> None:
    records = JobRecords(volume)
    try:
        job = records.start("part.gcode", 1000, 100.0)
        records.mark_progress(job, 12, 340)
        filler = fill(volume)
        records.mark_progress(job, 13, 360)  # rewritten in place: no new block needed
        records.add_warning(job, JobWarning(101.0, "stall", "no answer for 30 s", 13))
        ended = records.finish(job, JobOutcome.COMPLETED, None, 110.0)
        assert (ended.outcome, ended.ended_at, ended.last_line) == (JobOutcome.COMPLETED, 110.0, 13)
        assert records.get(job) == ended
        assert records.list()[0] == ended
        assert records.waiting == 2
        assert on_disk(volume, job) == (None, 0)
        # Nothing new can start: it could not be recorded.
        with pytest.raises(RecordsDiskFull, match="not started"):
            records.start("next.gcode", 10, 120.0)
        assert not (volume / "job-new.mark").exists()

        assert records.write_waiting() == 2  # still full: nothing written, nothing lost
        filler.unlink()
        assert records.write_waiting() == 0
        assert on_disk(volume, job) == ("completed", 1)
        assert not (volume / f"job-{job}.mark").exists()
        assert records.get(job) == ended
    finally:
        records.close()
    assert integrity(volume / "jobs.sqlite3") == "ok"


def test_a_process_that_dies_while_the_disk_is_full_loses_no_job(volume: Path) -> None:
    first = JobRecords(volume)
    job = first.start("part.gcode", 1000, 100.0)
    first.mark_progress(job, 40, 900)
    filler = fill(volume)
    assert first.finish(job, JobOutcome.COMPLETED, None, 110.0).outcome is JobOutcome.COMPLETED
    first.close()  # dies before there is room: the end was never written

    # Started again on the still full disk: the job is interrupted at its last line.
    second = JobRecords(volume)
    try:
        [recovered] = second.recover(200.0)
        assert (recovered.id, recovered.outcome, recovered.reason, recovered.last_line) == (
            job,
            JobOutcome.INTERRUPTED,
            REASON_SERVER_STOPPED,
            40,
        )
        assert on_disk(volume, job) == (None, 0)
        filler.unlink()
        assert second.write_waiting() == 0
        assert on_disk(volume, job) == ("interrupted", 0)
        assert second.get(job) == recovered
    finally:
        second.close()
    assert integrity(volume / "jobs.sqlite3") == "ok"


def test_a_start_on_a_full_disk_says_so_and_leaves_the_database_alone(volume: Path) -> None:
    with JobRecords(volume) as records:
        job = records.start("part.gcode", 1000, 100.0)
        records.finish(job, JobOutcome.COMPLETED, None, 110.0)
    filler = fill(volume)
    # SQLite cannot make its shared memory: the disk is full, the database is fine.
    with pytest.raises(RecordsDiskFull, match="disk is full: its job database cannot be opened"):
        JobRecords(volume)
    filler.unlink()
    with JobRecords(volume) as records:
        assert records.get(job) is not None
        assert records.list()[0].outcome is JobOutcome.COMPLETED
