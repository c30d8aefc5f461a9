"""The soak's end checks: what is "right" for every job, entry and stream (docs/soak.md). No I/O:
everything read from the stack is handed in; every loss comes back as one readable line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.soak.plan import CANCEL, KILL_PRINT_SERVER, REBOOT, RESTART_ENGINE, UNPLUG
from instance.sim.runner import RESET_MARK, TAIL_MARK

# The reasons a print server writes (instance/job_records.py, instance/printer.py).
STOPPED_UNEXPECTEDLY = "print server stopped unexpectedly"
STOPPED = "print server stopped"
DISCONNECTED = "printer disconnected"
RESET = "printer reset"
CANCELLED = "cancelled by the user"
# What a job a fault hit may end with: outcome "interrupted" and one of these reasons.
EXPECTED_REASONS: dict[str, tuple[str, ...]] = {
    UNPLUG: (DISCONNECTED, RESET),
    KILL_PRINT_SERVER: (STOPPED_UNEXPECTEDLY,),
    REBOOT: (STOPPED_UNEXPECTEDLY, DISCONNECTED, STOPPED),
    RESTART_ENGINE: (STOPPED, STOPPED_UNEXPECTEDLY, DISCONNECTED),
}
# A fault reaches a job within this many seconds. An interrupted record's end may be up to
# SILENT seconds before the fault that ended it: a print server killed closes the job, when it
# starts again, at its last sign of life (the last acknowledged line; none comes during a
# heat-up), and up to AFTER seconds after it (a killed print server's restart).
REACH = 5.0
SILENT = 120.0
AFTER = 180.0
# Lines the printer may have executed past the last one it acknowledged: its command queue
# (4), what its receive buffer holds (128 B, ~5 lines) and the host's window in flight.
RESUME_SLACK = 32
# Commands the print server sends on its own (handshake, temperature reports).
HOST_COMMANDS = frozenset({"M110 N0", "M115", "M155 S1", "M105"})
SIGNATURE = 12
# Seconds after a container starts before its memory counts (docs/soak.md).
WARM_UP = 45.0
STOPPED_SIGNATURE = 3
QUEUE_NAME = re.compile(r"^q(\d+)-(.*)$")


@dataclass(frozen=True)
class FaultAt:
    """A fault as played: its kind, printer (None: every printer) and when (Unix time)."""

    kind: str
    printer: str | None
    began: float
    ended: float


@dataclass(frozen=True)
class Job:
    """A print server's job record (GET /api/v1/history)."""

    printer: str
    id: int
    file: str
    started_at: float
    ended_at: float | None
    outcome: str | None
    reason: str | None
    last_line: int | None

    @classmethod
    def of(cls, printer: str, row: dict[str, Any]) -> Job:
        return cls(
            printer,
            int(row["id"]),
            str(row["file"]),
            float(row["started_at"]),
            None if row.get("ended_at") is None else float(row["ended_at"]),
            row.get("outcome"),
            row.get("reason"),
            row.get("last_line"),
        )


@dataclass(frozen=True)
class Entry:
    """A queue entry as the hub's database holds it at the end, with what the operator did."""

    id: int
    file_id: int
    file: str
    state: str
    printer: str | None
    reason: str | None
    requeues: int
    cancelled_at: float | None


@dataclass(frozen=True)
class FileLines:
    """A printed file's commands and the file line number of each."""

    commands: list[str]
    numbers: list[int]

    def commands_through(self, line: int) -> int:
        """How many commands are on file lines 1..``line``."""
        return sum(1 for n in self.numbers if n <= line)


@dataclass
class Verdict:
    losses: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    attributed: list[dict[str, Any]] = field(default_factory=list)

    def lose(self, text: str) -> None:
        self.losses.append(text)

    def count(self, what: str, by: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + by


def _hits(fault: FaultAt, job: Job, silent: float = 0.0) -> bool:
    """The fault touched ``job``'s printer while the job was printing (or up to ``silent``
    seconds after its record's end)."""
    if fault.printer not in (None, job.printer) or fault.kind not in EXPECTED_REASONS:
        return False
    end = job.ended_at if job.ended_at is not None else float("inf")
    return job.started_at - REACH <= fault.began <= end + silent


def _reason_fits(reason: str | None, kind: str) -> bool:
    return reason is not None and any(reason.startswith(r) for r in EXPECTED_REASONS[kind])


def check_job(job: Job, faults: list[FaultAt], entry: Entry | None, verdict: Verdict) -> None:
    """Is the job's outcome and reason what its faults (or none) make right?"""
    what = f"{job.printer} job {job.id} ({job.file}, {job.outcome}, {job.reason!r})"
    verdict.outcomes[str(job.outcome)] = verdict.outcomes.get(str(job.outcome), 0) + 1
    hits = [f for f in faults if _hits(f, job)]
    if job.outcome is None:
        verdict.lose(f"{what}: still open at the end (no outcome recorded)")
    elif job.outcome == "completed":
        assert job.ended_at is not None
        # A fault over before the job started cannot have touched it (a killed print server
        # is back and printing its next job within 2 s).
        early = [f for f in hits if f.began < job.ended_at - REACH and f.ended > job.started_at]
        if early:
            verdict.lose(f"{what}: completed through {early[0].kind} at {early[0].began:.1f}")
    elif job.outcome == "interrupted":
        assert job.ended_at is not None
        near = [f for f in faults if _hits(f, job, SILENT)]
        fitting = [
            f for f in near if _reason_fits(job.reason, f.kind) and job.ended_at - f.began <= AFTER
        ]
        if not fitting:
            seen = ", ".join(f"{f.kind} at {f.began:.1f}" for f in near) or "no fault on it"
            verdict.lose(f"{what}: interrupted without a fault that explains it ({seen})")
        else:
            verdict.attributed.append({"job": what, "fault": fitting[0].kind})
    elif job.outcome == "cancelled":
        cancelled = entry is not None and entry.cancelled_at is not None
        if not cancelled or job.reason != CANCELLED:
            verdict.lose(f"{what}: cancelled, but the operator did not cancel its entry")
    else:
        verdict.lose(f"{what}: {job.outcome}; no fault of the soak makes a job fail")


def entry_of(job: Job, entries: dict[int, Entry]) -> Entry | None:
    """The queue entry a job printed: the hub names the file ``q<file id>-<name>``."""
    found = QUEUE_NAME.match(job.file)
    if found is None:
        return None
    by_file = [e for e in entries.values() if e.file_id == int(found.group(1))]
    return by_file[0] if by_file else None


def check_entries(
    entries: dict[int, Entry], submitted: Iterable[int], jobs: list[Job], verdict: Verdict
) -> None:
    """Every entry submitted is there, ended as it should, printed once (plus a try for each
    requeue), never twice to completion."""
    submitted = list(submitted)
    if not submitted:
        verdict.lose("nothing was queued: the operator could not submit a single entry")
    by_entry: dict[int, list[Job]] = {}
    for job in jobs:
        entry = entry_of(job, entries)
        if entry is None:
            verdict.lose(f"{job.printer} job {job.id} ({job.file}): no queue entry sent it")
            continue
        by_entry.setdefault(entry.id, []).append(job)
    for entry_id in submitted:
        entry = entries.get(entry_id)
        if entry is None:
            verdict.lose(f"entry {entry_id}: submitted, not in the hub's queue any more")
            continue
        verdict.count(f"entries {entry.state}")
        tries = by_entry.get(entry_id, [])
        completed = [j for j in tries if j.outcome == "completed"]
        where = ", ".join(f"{j.printer} job {j.id} {j.outcome}" for j in tries) or "no job"
        if len(completed) > 1:
            verdict.lose(
                f"entry {entry_id} ({entry.file}): printed {len(completed)} times: {where}"
            )
        if len(tries) > 1 + entry.requeues:
            verdict.lose(
                f"entry {entry_id} ({entry.file}): {len(tries)} jobs for {1 + entry.requeues} "
                f"sends: {where}"
            )
        if entry.state == "done" and len(completed) != 1:
            verdict.lose(f"entry {entry_id} ({entry.file}): done, but {where}")
        elif entry.state == "cancelled":
            if entry.cancelled_at is None:
                verdict.lose(f"entry {entry_id} ({entry.file}): cancelled, not by the operator")
            if completed:
                verdict.lose(f"entry {entry_id} ({entry.file}): cancelled, yet {where}")
        elif entry.state not in ("done", "cancelled"):
            verdict.lose(
                f"entry {entry_id} ({entry.file}): {entry.state} at the end "
                f"(printer {entry.printer}, reason {entry.reason!r}; {where})"
            )


def _without_host(executed: list[str], own: frozenset[str]) -> list[str]:
    return [c for c in executed if c not in own]


def _find(record: list[str], signature: list[str], start: int) -> int:
    """Where ``signature`` begins in ``record`` at or after ``start``; -1 if nowhere."""
    size = len(signature)
    first = signature[0]
    index = start
    while True:
        try:
            index = record.index(first, index)
        except ValueError:
            return -1
        if record[index : index + size] == signature:
            return index
        index += 1


def _prefix(record: list[str], at: int, commands: list[str]) -> int:
    """How many of ``commands`` the record holds from ``at`` on, in order."""
    count = 0
    for mine, theirs in zip(commands, record[at:], strict=False):
        if mine != theirs:
            break
        count += 1
    return count


def check_streams(
    printer: str,
    executed: list[str],
    jobs: list[Job],
    files: dict[str, FileLines],
    verdict: Verdict,
) -> None:
    """Each job's part of the simulator's record, in job order: a completed job's is its file,
    every command once, in order; an interrupted job's is a prefix of its file, and the line it
    offers to resume from is where that prefix ends (docs/soak.md)."""
    own = HOST_COMMANDS
    for each in files.values():
        own = own - set(each.commands)
    record = _without_host(executed, own)
    cursor = 0
    for job in sorted(jobs, key=lambda j: (j.started_at, j.id)):
        found = QUEUE_NAME.match(job.file)
        lines = files.get(found.group(2) if found else job.file)
        what = f"{printer} job {job.id} ({job.file}, {job.outcome})"
        if lines is None:
            verdict.lose(f"{what}: not a file the soak queued")
            continue
        commands = lines.commands
        size = SIGNATURE
        if job.outcome != "completed":
            # A job stopped early is found by its first few lines, if the printer acknowledged
            # any; one stopped before that holds nothing to find.
            acknowledged = 0 if job.last_line is None else lines.commands_through(job.last_line)
            size = min(STOPPED_SIGNATURE, acknowledged)
        at = _find(record, commands[:size], cursor) if size else -1
        if at < 0 and job.outcome == "completed":
            # Its start differs early on: found by fewer lines, to say where.
            at = _find(record, commands[:STOPPED_SIGNATURE], cursor)
        executed_count = 0 if at < 0 else _prefix(record, at, commands)
        if job.outcome == "completed":
            verdict.count("streams compared")
            if at < 0:
                verdict.lose(f"{what}: its start is not in the simulator's record")
                continue
            if executed_count != len(commands):
                got = record[at + executed_count : at + executed_count + 3]
                verdict.lose(
                    f"{what}: the printer executed command {executed_count + 1} of "
                    f"{len(commands)} as {got!r}, the file has {commands[executed_count]!r}"
                )
            cursor = at + executed_count
            continue
        if job.outcome in ("interrupted", "cancelled"):
            if at >= 0:
                cursor = at + executed_count
            if job.outcome == "interrupted":
                _check_resume(what, job, lines, executed_count, verdict)


def _check_resume(what: str, job: Job, lines: FileLines, executed: int, verdict: Verdict) -> None:
    verdict.count("resume offers checked")
    if job.last_line is None:
        if executed > RESUME_SLACK:
            verdict.lose(f"{what}: {executed} commands executed, yet no line offered to resume")
        return
    acknowledged = lines.commands_through(job.last_line)
    if executed < acknowledged:
        verdict.lose(
            f"{what}: offered to resume after file line {job.last_line} (command {acknowledged}), "
            f"but the printer executed only {executed} commands: resuming would leave a gap"
        )
    elif executed > acknowledged + RESUME_SLACK:
        verdict.lose(
            f"{what}: offered to resume after file line {job.last_line} (command {acknowledged}), "
            f"but the printer executed {executed} commands: more than {RESUME_SLACK} run twice"
        )


@dataclass(frozen=True)
class Growth:
    service: str
    start_mib: float
    end_mib: float
    seconds: float
    allowed_mib: float


def memory_growth(
    series: dict[str, list[tuple[float, float, float]]], base_mib: float, share: float, least: float
) -> list[Growth]:
    """For each container, its memory from the first to the last sample of its longest run
    without a restart (``least`` seconds at least), leaving out its first WARM_UP seconds (a
    process still importing and opening its files); allowed: ``base_mib`` + ``share`` of the
    start. ``series``: (when, when the container started, MiB) by container."""
    found = []
    for service, samples in sorted(series.items()):
        runs: dict[float, list[tuple[float, float]]] = {}
        for at, started, mib in samples:
            if at - started >= WARM_UP:
                runs.setdefault(started, []).append((at, mib))
        if not runs:
            continue
        longest = max(runs.values(), key=lambda r: r[-1][0] - r[0][0])
        seconds = longest[-1][0] - longest[0][0]
        if seconds < least:
            continue
        start, end = longest[0][1], longest[-1][1]
        found.append(Growth(service, start, end, seconds, base_mib + share * start))
    return found


def check_memory(growths: list[Growth], verdict: Verdict) -> None:
    for g in growths:
        verdict.count("memory series checked")
        if g.end_mib - g.start_mib > g.allowed_mib:
            verdict.lose(
                f"{g.service}: memory grew from {g.start_mib:.1f} to {g.end_mib:.1f} MiB in "
                f"{g.seconds:.0f} s (allowed +{g.allowed_mib:.1f} MiB)"
            )


def check_faults_played(played: list[dict[str, Any]], verdict: Verdict) -> None:
    for fault in played:
        verdict.count(f"faults {fault['kind']}")
        if fault.get("error"):
            verdict.lose(f"fault {fault['kind']} at {fault['began']:.1f} failed: {fault['error']}")


def faults_at(played: list[dict[str, Any]]) -> list[FaultAt]:
    return [
        FaultAt(str(p["kind"]), p.get("printer"), float(p["began"]), float(p["ended"]))
        for p in played
        if p["kind"] != CANCEL and not p.get("error")
    ]


def executed_of(record: str) -> list[str]:
    """The commands a simulator's record says it executed, without its marks and without the
    tails its drain cut (``<tail> {…}`` comes just before the command a tail became): those are
    the firmware's doing, counted apart (docs/simulator.md)."""
    executed: list[str] = []
    skip_next = False
    for line in record.splitlines():
        if line.startswith(TAIL_MARK):
            skip_next = bool(json.loads(line[len(TAIL_MARK) :])["executed"])
        elif line == RESET_MARK:
            continue
        elif skip_next:
            skip_next = False
        else:
            executed.append(line)
    return executed
