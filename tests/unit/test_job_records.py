"""JobRecords: durable records, real kill -9 recovery, torn marks, ownership, bad files."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from instance.job_records import (
    REASON_PRINTER_RESET,
    REASON_SERVER_STOPPED,
    DataDirInUse,
    JobDatabaseUnreadable,
    JobOutcome,
    JobRecords,
    reason_disconnected,
)
from instance.temperature_history import TemperatureSamples

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def records(data_dir: Path) -> Iterator[JobRecords]:
    with JobRecords(data_dir) as opened:
        yield opened


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


CRASH_MID_JOB = """
    import os, signal, sys, time
    from pathlib import Path
    from instance.job_records import JobRecords

    records = JobRecords(Path(sys.argv[1]), save_interval=3600)
    job = records.start("cube.gcode", 627723, time.time())
    for line in range(1, 1235):
        records.mark_progress(job, line, line * 25 + 7)
        if line == 1000:
            records.save_progress()
    print(job, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def crash_mid_job(data_dir: Path) -> int:
    process = run_python(CRASH_MID_JOB, str(data_dir))
    out, _ = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    return int(out)


def test_a_job_is_recorded_from_start_to_end_and_survives_reopening(data_dir: Path) -> None:
    with JobRecords(data_dir) as records:
        job = records.start("cube.gcode", 627723, 1000.0)
        running = records.get(job)
        assert running is not None
        assert running.running
        assert running.outcome is None
        records.mark_progress(job, 10, 300)
        records.mark_progress(job, 11, 320)
        done = records.finish(job, JobOutcome.COMPLETED, None, 2000.0)
        assert (done.outcome, done.last_line, done.last_offset) == ("completed", 11, 320)
        assert not (data_dir / f"job-{job}.mark").exists()
    with JobRecords(data_dir) as records:
        again = records.get(job)
        assert again == done
        assert again is not None
        assert again.file_name == "cube.gcode"
        assert again.file_size == 627723
        assert (again.started_at, again.ended_at) == (1000.0, 2000.0)
        assert records.recover(3000.0) == []


def test_every_outcome_keeps_its_reason(records: JobRecords) -> None:
    firmware = "Thermal Runaway, system stopped! Heater_ID: 0 / Printer halted. kill() called!"
    cases = [
        (JobOutcome.FAILED, firmware),
        (JobOutcome.CANCELLED, "cancelled by the user"),
        (JobOutcome.INTERRUPTED, reason_disconnected("device disconnected or multiple access")),
        (JobOutcome.INTERRUPTED, REASON_PRINTER_RESET),
        (JobOutcome.COMPLETED, None),
    ]
    for index, (outcome, reason) in enumerate(cases):
        job = records.start(f"f{index}.gcode", 1, float(index))
        records.finish(job, outcome, reason, index + 0.5, index * 10, index * 100)
        record = records.get(job)
        assert record is not None
        assert (record.outcome, record.reason) == (outcome, reason)
        assert (record.last_line, record.last_offset) == (index * 10, index * 100)
    assert cases[2][1] == "printer disconnected: device disconnected or multiple access"


def test_finish_keeps_the_first_outcome_and_refuses_unknown_jobs(records: JobRecords) -> None:
    job = records.start("a.gcode", 1, 0.0)
    records.finish(job, "failed", "MAXTEMP triggered", 5.0, 3, 30)
    again = records.finish(job, "completed", None, 6.0, 4, 40)
    assert (again.outcome, again.reason, again.ended_at, again.last_line) == (
        "failed",
        "MAXTEMP triggered",
        5.0,
        3,
    )
    with pytest.raises(ValueError, match="no job 999"):
        records.finish(999, "completed", None, 1.0, None, None)
    with pytest.raises(ValueError, match="not running"):
        records.mark_progress(job, 1, 1)
    with pytest.raises(ValueError, match="completed-ish"):
        records.finish(job, "completed-ish", None, 1.0)


def test_list_is_newest_first_and_limited(records: JobRecords) -> None:
    ids = [records.start(f"{n}.gcode", n, float(n)) for n in range(5)]
    assert [r.id for r in records.list()] == ids[::-1]
    assert [r.id for r in records.list(limit=2)] == ids[:-3:-1]
    assert records.get(12345) is None


def test_a_resumed_job_names_the_interrupted_one(records: JobRecords) -> None:
    first = records.start("a.gcode", 100, 0.0)
    records.finish(first, JobOutcome.INTERRUPTED, REASON_PRINTER_RESET, 1.0, 5, 50)
    second = records.start("a.gcode", 100, 2.0, resumed_from=first, start_offset=50)
    record = records.get(second)
    assert record is not None
    assert (record.resumed_from, record.start_offset) == (first, 50)
    with pytest.raises(ValueError, match="not a recorded job id"):
        records.start("a.gcode", 100, 3.0, resumed_from=123456)


def test_kill_9_mid_job_is_recovered_as_interrupted_at_the_last_acknowledged_line(
    data_dir: Path,
) -> None:
    before = time.time()
    job = crash_mid_job(data_dir)
    assert (data_dir / f"job-{job}.mark").exists()
    with JobRecords(data_dir) as records:
        now = time.time()
        recovered = records.recover(now)
        assert len(recovered) == 1
        record = recovered[0]
        assert record.id == job
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.reason == REASON_SERVER_STOPPED == "print server stopped unexpectedly"
        assert (record.last_line, record.last_offset) == (1234, 1234 * 25 + 7)
        assert record.ended_at is not None
        assert before - 1 <= record.started_at <= record.ended_at <= now
        assert records.get(job) == record
        assert not (data_dir / f"job-{job}.mark").exists()
        assert records.recover(now + 1) == []


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "zeros", "delete"])
def test_a_torn_or_missing_mark_falls_back_to_the_last_sqlite_save(
    data_dir: Path, damage: str
) -> None:
    job = crash_mid_job(data_dir)
    mark = data_dir / f"job-{job}.mark"
    data = bytearray(mark.read_bytes())
    if damage == "flip a byte":
        data[12] ^= 0x40
        mark.write_bytes(data)
    elif damage == "truncate":
        mark.write_bytes(data[:17])
    elif damage == "zeros":
        mark.write_bytes(bytes(len(data)))
    else:
        mark.unlink()
    with JobRecords(data_dir) as records:
        (record,) = records.recover(time.time())
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.reason == REASON_SERVER_STOPPED
        assert (record.last_line, record.last_offset) == (1000, 1000 * 25 + 7)
        assert not mark.exists()


def test_a_crash_before_any_acknowledgement_records_no_line(data_dir: Path) -> None:
    with JobRecords(data_dir) as records:
        job = records.start("a.gcode", 1, time.time())
        # Leave it running, as a crash would: close without finishing.
    with JobRecords(data_dir) as records:
        (record,) = records.recover(time.time())
        assert record.id == job
        assert (record.last_line, record.last_offset) == (None, None)


def test_recover_leaves_this_processs_own_running_jobs_alone(records: JobRecords) -> None:
    job = records.start("a.gcode", 1, 0.0)
    records.mark_progress(job, 1, 10)
    assert records.recover(5.0) == []
    record = records.get(job)
    assert record is not None
    assert record.running


def test_a_second_owner_is_refused_while_the_first_lives(data_dir: Path) -> None:
    owner = run_python(
        """
        import sys
        from pathlib import Path
        from instance.job_records import JobRecords
        records = JobRecords(Path(sys.argv[1]))
        print("ready", flush=True)
        sys.stdin.read()
        """,
        str(data_dir),
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        with pytest.raises(DataDirInUse) as refused:
            JobRecords(data_dir)
        assert str(refused.value).startswith(
            f"data dir {data_dir} is in use by another fabfleet-instance (pid {owner.pid})"
        )
    finally:
        owner.kill()
        owner.communicate(timeout=30)
    with JobRecords(data_dir) as records:
        assert records.list() == []


def test_a_second_owner_in_the_same_process_is_refused_too(records: JobRecords) -> None:
    with pytest.raises(DataDirInUse, match=f"pid {os.getpid()}"):
        JobRecords(records.data_dir)


def test_a_corrupt_database_is_named_and_left_untouched(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    db = data_dir / "jobs.sqlite3"
    garbage = b"this is not a database, but it is somebody's file\n" * 200
    db.write_bytes(garbage)
    with pytest.raises(JobDatabaseUnreadable) as refused:
        JobRecords(data_dir)
    assert str(db) in str(refused.value)
    assert "left as it is" in str(refused.value)
    assert db.read_bytes() == garbage
    # The refusal released the data dir: once the file is moved aside, start-up works.
    db.rename(data_dir / "jobs.sqlite3.broken")
    with JobRecords(data_dir) as records:
        assert records.list() == []


def test_files_and_dir_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    old_umask = os.umask(0)
    try:
        with JobRecords(data_dir) as records:
            job = records.start("a.gcode", 1, 0.0)
            records.mark_progress(job, 1, 1)
            names = {path.name for path in data_dir.iterdir()}
            assert {"jobs.sqlite3", "instance.lock", f"job-{job}.mark"} <= names
            for path in data_dir.iterdir():
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
            assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    finally:
        os.umask(old_umask)


def test_temperatures_are_stored_with_the_job(records: JobRecords) -> None:
    job = records.start("a.gcode", 1, 0.0)
    assert records.temperatures(job) is None
    samples = TemperatureSamples(
        100.0,
        2.0,
        {"T0.actual": array("f", [20.5, 100.25, float("nan")]), "B.actual": array("f", [55.0])},
    )
    records.attach_temperatures(job, samples)
    stored = records.temperatures(job)
    assert stored is not None
    assert stored.times() == [100.0, 102.0, 104.0]
    assert stored.values("T0.actual") == [20.5, 100.25, None]
    assert stored.values("B.actual") == [55.0, None, None]
    with pytest.raises(ValueError, match="no job"):
        records.attach_temperatures(999, samples)


def test_mark_progress_is_cheap(records: JobRecords) -> None:
    job = records.start("a.gcode", 1, 0.0)
    calls = 20_000
    started = time.process_time()
    for line in range(calls):
        records.mark_progress(job, line, line * 30)
    per_call = (time.process_time() - started) / calls
    # The whole host budget is 100 µs of CPU per line; progress may take a sliver.
    assert per_call < 20e-6
