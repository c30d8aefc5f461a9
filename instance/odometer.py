"""The printer's odometer: what it did over its life, as the print server saw it (no I/O).

Counted per printer and kept across restarts (instance/odometer_file.py writes it):

- print seconds: each job's printing time, pauses excluded (the job's progress clock);
- filament mm: each job's printed share of the file's filament (as the job record has it);
- jobs by outcome: completed, cancelled, failed, interrupted;
- heater-on seconds per heater: time between two temperature reports while the
  heater's reported target was above 0 (a target the firmware acknowledged between
  two reports counts from that moment) (a gap longer than ``MAX_REPORT_GAP`` counts
  as that long: the link was away and nothing is known of it);
- move mm: X/Y/Z travel of the job's acknowledged moves (MachineState.travel_mm).

A running job's figures so far are shown with the totals (:meth:`Odometer.reading`)
and saved with them, so a print server that dies mid-job loses at most the last
flush; the next start folds that job in as interrupted (:meth:`Odometer.from_json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

OUTCOMES = ("completed", "cancelled", "failed", "interrupted")
# The longest gap between two temperature reports that counts in full.
MAX_REPORT_GAP = 10.0
FORMAT = 1


@dataclass(frozen=True, slots=True)
class JobShare:
    """What one job added so far."""

    print_seconds: float = 0.0
    filament_mm: float = 0.0
    move_mm: float = 0.0


@dataclass(frozen=True, slots=True)
class Reading:
    """The odometer's figures at one moment (a running job's share included)."""

    print_seconds: float = 0.0
    filament_mm: float = 0.0
    move_mm: float = 0.0
    jobs: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    heater_on_seconds: Mapping[str, float] = field(default_factory=dict)
    # When this odometer started counting (Unix time).
    since: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "print_seconds": round(self.print_seconds, 3),
            "filament_mm": round(self.filament_mm, 3),
            "move_mm": round(self.move_mm, 3),
            "jobs": {outcome: int(self.jobs.get(outcome, 0)) for outcome in OUTCOMES},
            "heater_on_seconds": {
                name: round(value, 3) for name, value in sorted(self.heater_on_seconds.items())
            },
            "since": self.since,
        }


class OdometerFileError(ValueError):
    """A saved odometer that is not one; the message says what is wrong."""


def _figure(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise OdometerFileError(f"{where} is not a number")
    if raw < 0:
        raise OdometerFileError(f"{where} is negative")
    return float(raw)


class Odometer:
    """Accumulates the counters; every method is cheap and does no I/O."""

    def __init__(self, since: float, totals: Reading | None = None) -> None:
        self.totals = totals if totals is not None else Reading(since=since)
        self.running: tuple[int, JobShare] | None = None
        # Heaters with a target above 0 at the last report, and when it came (monotonic).
        self._heating: tuple[str, ...] = ()
        self._reported_at: float | None = None
        # Bumped by every change, so a flush writes only when something changed.
        self.changes = 0

    # ------------------------------------------------------------------ jobs

    def job_started(self, job_id: int) -> None:
        self.running = (job_id, JobShare())
        self.changes += 1

    def job_running(self, job_id: int, share: JobShare) -> None:
        """The running job's figures so far (they only grow)."""
        if self.running is None or self.running[0] != job_id or self.running[1] == share:
            return
        self.running = (job_id, share)
        self.changes += 1

    def job_ended(self, job_id: int, outcome: str, share: JobShare) -> None:
        """Fold a job's figures into the totals; counted once, by its outcome."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        if self.running is not None and self.running[0] == job_id:
            self.running = None
        self.totals = _added(self.totals, share, outcome)
        self.changes += 1

    # -------------------------------------------------------------- heaters

    def temperatures(self, now: float, targets: Mapping[str, float | None]) -> None:
        """A temperature report at ``now`` (monotonic seconds) with each heater's target."""
        self._advance(now)
        self._reported_at = now
        self._heating = tuple(name for name, target in targets.items() if target and target > 0)

    def target_set(self, now: float, heater: str, target: float) -> None:
        """The firmware accepted a new target (M104, M140...) between two reports."""
        if self._reported_at is None:
            return
        self._advance(now)
        self._reported_at = now
        others = tuple(name for name in self._heating if name != heater)
        self._heating = (*others, heater) if target > 0 else others

    def _advance(self, now: float) -> None:
        """Count the time since the last report or target for the heaters that were on."""
        last = self._reported_at
        if last is None or not self._heating or now <= last:
            return
        gap = min(now - last, MAX_REPORT_GAP)
        heat = dict(self.totals.heater_on_seconds)
        for name in self._heating:
            heat[name] = heat.get(name, 0.0) + gap
        self.totals = replace(self.totals, heater_on_seconds=heat)
        self.changes += 1

    def link_lost(self) -> None:
        """No report is coming: the time until the next one is not heater-on time."""
        self._reported_at = None
        self._heating = ()

    # -------------------------------------------------------------- reading

    def reading(self) -> Reading:
        """The totals with the running job's share so far."""
        if self.running is None:
            return self.totals
        share = self.running[1]
        return replace(
            self.totals,
            print_seconds=self.totals.print_seconds + share.print_seconds,
            filament_mm=self.totals.filament_mm + share.filament_mm,
            move_mm=self.totals.move_mm + share.move_mm,
        )

    # --------------------------------------------------------------- saving

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"format": FORMAT, "totals": self.totals.to_json()}
        if self.running is not None:
            job_id, share = self.running
            document["running"] = {
                "job": job_id,
                "print_seconds": share.print_seconds,
                "filament_mm": share.filament_mm,
                "move_mm": share.move_mm,
            }
        return document

    @classmethod
    def from_json(cls, raw: Any) -> tuple[Odometer, int | None]:
        """The odometer a saved document holds, and the id of a job it had running.

        That job's print server stopped without ending it: its share so far is
        counted, as an interrupted job. OdometerFileError says what is wrong.
        """
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise OdometerFileError(f"not an odometer file (format {FORMAT})")
        totals = raw.get("totals")
        if not isinstance(totals, dict):
            raise OdometerFileError("totals is missing")
        jobs_raw = totals.get("jobs")
        heat_raw = totals.get("heater_on_seconds")
        if not isinstance(jobs_raw, dict) or not isinstance(heat_raw, dict):
            raise OdometerFileError("totals.jobs or totals.heater_on_seconds is missing")
        jobs = {o: int(_figure(jobs_raw.get(o, 0), f"jobs.{o}")) for o in OUTCOMES}
        heat = {str(k): _figure(v, f"heater_on_seconds.{k}") for k, v in heat_raw.items()}
        reading = Reading(
            print_seconds=_figure(totals.get("print_seconds"), "print_seconds"),
            filament_mm=_figure(totals.get("filament_mm"), "filament_mm"),
            move_mm=_figure(totals.get("move_mm"), "move_mm"),
            jobs=jobs,
            heater_on_seconds=heat,
            since=_figure(totals.get("since"), "since"),
        )
        odometer = cls(reading.since, reading)
        running = raw.get("running")
        if running is None:
            return odometer, None
        if not isinstance(running, dict) or not isinstance(running.get("job"), int):
            raise OdometerFileError("running is not a job")
        share = JobShare(
            _figure(running.get("print_seconds"), "running.print_seconds"),
            _figure(running.get("filament_mm"), "running.filament_mm"),
            _figure(running.get("move_mm"), "running.move_mm"),
        )
        odometer.totals = _added(reading, share, "interrupted")
        return odometer, int(running["job"])


def _added(totals: Reading, share: JobShare, outcome: str) -> Reading:
    jobs = dict(totals.jobs)
    jobs[outcome] = jobs.get(outcome, 0) + 1
    return replace(
        totals,
        print_seconds=totals.print_seconds + share.print_seconds,
        filament_mm=totals.filament_mm + share.filament_mm,
        move_mm=totals.move_mm + share.move_mm,
        jobs=jobs,
    )
