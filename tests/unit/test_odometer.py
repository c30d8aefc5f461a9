"""The print server's odometer (instance/odometer.py): what it counts, how heater time is
integrated from temperature reports, and what a saved file gives back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instance.machine_state import MachineState
from instance.odometer import MAX_REPORT_GAP, JobShare, Odometer, OdometerFileError
from instance.odometer_file import FILE_NAME, OdometerFile


def test_jobs_add_their_share_once_each_by_outcome() -> None:
    odometer = Odometer(since=1000.0)
    odometer.job_started(1)
    odometer.job_running(1, JobShare(60.0, 100.0, 5000.0))
    live = odometer.reading()
    assert (live.print_seconds, live.filament_mm, live.move_mm) == (60.0, 100.0, 5000.0)
    assert sum(live.jobs.values()) == 0  # a running job has no outcome yet
    odometer.job_ended(1, "completed", JobShare(90.0, 150.0, 7000.0))
    odometer.job_started(2)
    odometer.job_ended(2, "cancelled", JobShare(10.0, 5.0, 300.0))
    total = odometer.reading()
    assert total.print_seconds == 100.0
    assert total.filament_mm == 155.0
    assert total.move_mm == 7300.0
    assert dict(total.jobs) == {"completed": 1, "cancelled": 1, "failed": 0, "interrupted": 0}
    assert total.since == 1000.0
    with pytest.raises(ValueError, match="unknown outcome"):
        odometer.job_ended(3, "exploded", JobShare())


def test_heater_time_counts_between_reports_while_the_target_is_above_zero() -> None:
    odometer = Odometer(since=0.0)
    odometer.temperatures(10.0, {"T0": 200.0, "B": 0.0})
    odometer.temperatures(11.0, {"T0": 200.0, "B": 60.0})
    odometer.temperatures(12.5, {"T0": 0.0, "B": 60.0})
    odometer.temperatures(13.0, {"T0": None, "B": 0.0})
    odometer.temperatures(20.0, {"T0": None, "B": 0.0})
    assert dict(odometer.reading().heater_on_seconds) == {"T0": 2.5, "B": 2.0}


def test_a_target_set_between_reports_counts_from_then_and_a_long_gap_is_capped() -> None:
    odometer = Odometer(since=0.0)
    odometer.temperatures(0.0, {"T0": 0.0})
    odometer.target_set(0.4, "T0", 210.0)
    odometer.temperatures(1.0, {"T0": 210.0})
    assert odometer.reading().heater_on_seconds["T0"] == pytest.approx(0.6)
    # The link was away for a minute: only MAX_REPORT_GAP of it counts.
    odometer.temperatures(61.0, {"T0": 210.0})
    assert odometer.reading().heater_on_seconds["T0"] == pytest.approx(0.6 + MAX_REPORT_GAP)
    odometer.link_lost()
    odometer.temperatures(70.0, {"T0": 210.0})
    assert odometer.reading().heater_on_seconds["T0"] == pytest.approx(0.6 + MAX_REPORT_GAP)


def test_a_saved_odometer_comes_back_and_a_job_left_running_counts_as_interrupted() -> None:
    odometer = Odometer(since=5.0)
    odometer.job_started(1)
    odometer.job_ended(1, "failed", JobShare(30.0, 40.0, 50.0))
    odometer.temperatures(0.0, {"B": 60.0})
    odometer.temperatures(2.0, {"B": 60.0})
    odometer.job_started(2)
    odometer.job_running(2, JobShare(12.0, 3.0, 4.0))
    saved = json.loads(json.dumps(odometer.to_json()))
    loaded, interrupted = Odometer.from_json(saved)
    assert interrupted == 2
    reading = loaded.reading()
    assert dict(reading.jobs) == {"completed": 0, "cancelled": 0, "failed": 1, "interrupted": 1}
    assert (reading.print_seconds, reading.filament_mm, reading.move_mm) == (42.0, 43.0, 54.0)
    assert dict(reading.heater_on_seconds) == {"B": 2.0}
    assert reading.since == 5.0
    assert loaded.running is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not an odometer file"),
        ({"format": 2, "totals": {}}, "not an odometer file"),
        ({"format": 1}, "totals is missing"),
        ({"format": 1, "totals": {"jobs": {}}}, "heater_on_seconds is missing"),
        (
            {"format": 1, "totals": {"jobs": {}, "heater_on_seconds": {}, "print_seconds": -1}},
            "print_seconds is negative",
        ),
        (
            {"format": 1, "totals": {"jobs": {"completed": "x"}, "heater_on_seconds": {}}},
            "jobs.completed is not a number",
        ),
    ],
)
def test_a_file_that_is_not_an_odometer_is_refused_with_the_reason(
    document: object, message: str
) -> None:
    with pytest.raises(OdometerFileError, match=message):
        Odometer.from_json(document)


def test_travel_is_the_straight_distance_of_moves_once_positions_are_known() -> None:
    machine = MachineState()
    machine.apply("G1 X10 Y10")  # from an unknown position: not counted
    assert machine.travel_mm == 0.0
    machine.apply("G28")
    machine.apply("G1 X3 Y4 F3000")
    machine.apply("G1 Z12")
    machine.apply("G1 E5")  # the extruder alone moves no axis
    machine.apply("G91")
    machine.apply("G1 X-3 Y-4")
    assert machine.travel_mm == pytest.approx(5.0 + 12.0 + 5.0)


def test_the_file_is_written_whole_only_when_something_changed(tmp_path: Path) -> None:
    first = OdometerFile(tmp_path)
    assert first.problem is None and first.interrupted_job is None
    first.odometer.job_started(7)
    first.odometer.job_running(7, JobShare(5.0, 6.0, 7.0))
    first.save()
    path = tmp_path / FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.tmp"))
    path.unlink()
    first.save()  # nothing changed since: nothing written
    assert not path.exists()
    first.save(force=True)
    again = OdometerFile(tmp_path)
    assert again.interrupted_job == 7
    assert again.odometer.reading().jobs["interrupted"] == 1
    assert again.odometer.reading().print_seconds == 5.0


def test_an_unreadable_file_is_kept_aside_and_counting_starts_again(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("{not json")
    loaded = OdometerFile(tmp_path)
    assert loaded.problem is not None and "could not be read" in loaded.problem
    assert sum(loaded.odometer.reading().jobs.values()) == 0
    (kept,) = tmp_path.glob(f"{FILE_NAME}.bad-*")
    assert kept.read_text() == "{not json"
    assert not (tmp_path / FILE_NAME).exists()
