"""The remaining-time estimate converges to the printer's real pace, on a synthetic clock.

A file the slicer says takes 100 minutes (6 s a move line, M73 in whole minutes
every minute of slicer time, as PrusaSlicer writes it, or none) is "printed" by
acknowledging its lines while a fake clock advances as a printer 20x faster, or
2x slower, would take; heat-ups and a pause take their own time, which the
slicer never counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from instance.eta import RemainingTime
from instance.gcode_file import GcodeFile, GcodeLine, SlicerEstimate
from instance.job import PrintJob
from instance.job_records import JobRecords

MOVES = 1000
PER_MOVE = 6.0  # slicer seconds
SLICER_TOTAL = MOVES * PER_MOVE
HEAT_UP = 120.0  # each of M190 and M109


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write_file(path: Path, with_m73: bool) -> Path:
    lines = ["M140 S60", "M104 S200", "M190 S60", "M109 S200", "G28"]
    for move in range(MOVES):
        if with_m73 and move % 10 == 0:
            left = SLICER_TOTAL - move * PER_MOVE
            lines.append(f"M73 P{100 * move // MOVES} R{left // 60:.0f}")
        lines.append(f"G1 X{move % 200:03d}.5 Y{(move * 7) % 200:03d}.5 E0.04000")
    lines.append("M104 S0")
    path.write_text("\n".join(lines) + "\n")
    return path


class Run:
    """A PrintJob fed and acknowledged line by line as a printer at ``pace`` (real seconds per
    slicer second) would."""

    def __init__(self, tmp_path: Path, pace: float, with_m73: bool) -> None:
        self.clock = FakeClock()
        self.pace = pace
        path = write_file(tmp_path / "part.gcode", with_m73)
        self.records = JobRecords(tmp_path / "data")
        job_id = self.records.start(path.name, path.stat().st_size, 0.0)
        self.job = PrintJob(
            job_id,
            GcodeFile(path),
            self.records,
            SlicerEstimate(print_time=SLICER_TOTAL),
            clock=self.clock,
        )
        sent: list[GcodeLine] = []
        self.job.feeding = True
        while not self.job.complete and len(sent) < 100_000:
            before = len(sent)
            self.job.feed(lambda _command, tag: sent.append(tag), 0)  # type: ignore[arg-type]
            if len(sent) == before:
                break
        self.lines = sent

    def steps(self) -> Iterator[tuple[GcodeLine, float]]:
        """Acknowledge each line after the time it takes; yields (line, real seconds left)."""
        moves = [line for line in self.lines if line.command.startswith("G1")]
        move = PER_MOVE * self.pace
        left = len(moves) * move
        for line in self.lines:
            if line.command.split()[0] in ("M190", "M109"):
                self.clock.now += HEAT_UP
            elif line.command.startswith("G1"):
                self.clock.now += move
                left -= move
            self.job.acknowledged(line)
            yield line, left


@pytest.mark.parametrize("with_m73", [False, True], ids=["no M73", "M73"])
@pytest.mark.parametrize("pace", [0.05, 2.0], ids=["20x faster", "2x slower"])
def test_the_estimate_converges_to_the_real_remaining_time(
    tmp_path: Path, pace: float, with_m73: bool
) -> None:
    run = Run(tmp_path, pace, with_m73)
    estimates: list[tuple[float, float, float]] = []
    for _line, left in run.steps():
        progress = run.job.progress()
        assert progress.remaining is not None
        estimates.append((progress.fraction, progress.remaining, left))
    # From a fifth of the file on, within 10 % of what is really left (plus the last
    # move's time: M73 counts whole minutes).
    for fraction, remaining, left in estimates:
        if 0.2 <= fraction < 0.99:
            assert remaining == pytest.approx(left, rel=0.1, abs=PER_MOVE * pace), fraction
    # At the start, before anything was printed: the slicer's figure.
    assert estimates[0][1] == pytest.approx(SLICER_TOTAL, rel=0.02)
    run.records.close()


def test_the_estimate_does_not_jump_around(tmp_path: Path) -> None:
    """On a steady printer the estimate goes down, never noticeably back up."""
    run = Run(tmp_path, 0.05, with_m73=True)
    previous = None
    for _line, _left in run.steps():
        remaining = run.job.progress().remaining
        assert remaining is not None
        if previous is not None:
            # (The first M73 may say a little more than the file position did: 0.5 %.)
            assert remaining <= previous * 1.005 + PER_MOVE * 0.05
        previous = remaining
    run.records.close()


def test_heat_up_does_not_count_as_slow_printing() -> None:
    """Four minutes of heating, then printing at the slicer's pace: the slicer's estimate stands."""
    estimate = RemainingTime(1000.0)
    estimate.acknowledged(0.0, "M140")
    estimate.acknowledged(240.0, "M190")
    estimate.acknowledged(240.0, "G28")
    # 30 % printed in 300 s of printing (as sliced) after the heat-up.
    assert estimate.estimate(540.0, 0.3) == pytest.approx(700.0)


def test_paused_time_is_not_printing(tmp_path: Path) -> None:
    run = Run(tmp_path, 0.05, with_m73=False)
    steps = run.steps()
    for _line, _left in steps:
        if run.job.progress().fraction > 0.5:
            break
    before = run.job.progress().remaining
    run.job.progress_clock.pause(run.clock.now)
    run.clock.now += 3600.0
    assert run.job.progress().remaining == pytest.approx(before)
    run.job.progress_clock.resume(run.clock.now)
    next(steps)
    after = run.job.progress().remaining
    assert before is not None and after is not None
    # One more move done: a little less left, not an hour more.
    assert before - PER_MOVE <= after <= before
    run.records.close()


def test_no_slicer_figure_extrapolates_the_time_so_far() -> None:
    estimate = RemainingTime(None)
    assert estimate.estimate(100.0, 0.25) is None
    assert RemainingTime(SLICER_TOTAL).estimate(100.0, 1.0) == 0.0


def test_the_observed_rate_counts_only_after_enough_of_the_job() -> None:
    estimate = RemainingTime(1000.0)
    # 1 % of the slicer's time in 0.5 s (20x faster): too little to go on.
    assert estimate.estimate(0.5, 0.01) == pytest.approx(990.0)
    # 2 % in 1 s: the threshold, still the slicer's figure.
    assert estimate.estimate(1.0, 0.02) == pytest.approx(980.0)
    # 10 % in 5 s: the observed rate weighs fully.
    assert estimate.estimate(5.0, 0.10) == pytest.approx(900.0 * 0.05)
    # Or 30 s of printing at the slicer's pace: the threshold by time.
    assert RemainingTime(1000.0).estimate(30.0, 0.015) == pytest.approx(985.0)


def test_the_estimate_stands_still_while_the_printer_heats(tmp_path: Path) -> None:
    """Four minutes in M190 take nothing off the time left, during the wait or after it."""
    run = Run(tmp_path, 1.0, with_m73=True)
    job = run.job
    by_code = {line.command.split()[0]: line for line in reversed(run.lines)}
    job.acknowledged(by_code["M140"])
    job.acknowledged(by_code["M104"])
    before = job.progress().remaining
    assert before is not None
    # The printer sits in M190 (every line before it acknowledged): four minutes pass.
    run.clock.now += 240.0
    assert job.progress().remaining == before
    job.acknowledged(by_code["M190"])
    # (The M190 line itself is a few bytes of the file done.)
    assert job.progress().remaining == pytest.approx(before, abs=PER_MOVE)
    run.records.close()


def test_an_m73_countdown_stands_still_while_the_printer_heats() -> None:
    estimate = RemainingTime(1800.0)
    estimate.acknowledged(0.0, "M73")
    estimate.note_m73(0.0, 1800.0)
    assert estimate.estimate(240.0, 0.0, heating=True) == 1800.0
    estimate.acknowledged(240.0, "M190")
    assert estimate.estimate(240.0, 0.001) == 1800.0
    # Then it counts down with the printing.
    assert estimate.estimate(300.0, 0.03) == pytest.approx(1740.0)
