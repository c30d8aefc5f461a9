"""The whole soak: bring the fleet up, feed it through the queue while the plan's faults are
played, drain, read everything back and check it (docs/soak.md)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests

from bench.soak import checks
from bench.soak.faults import play
from bench.soak.host import Sampler
from bench.soak.jobs import JobFile, job_files
from bench.soak.operator import Operator
from bench.soak.plan import CANCEL, REBOOT, RESTART_ENGINE, RESTART_HUB, Plan, draw_plan
from bench.soak.stack import ADMIN, PASSWORD, SoakStack, StackError
from bench.soak.watch import Watcher
from instance.gcode_file import GcodeFile
from orchestrator.stack.secrets import HUB_DATA

ROUND = 2.0
SAMPLE_EVERY = 20.0
HISTORY_PAGE = 500
# Memory may grow by this much (MiB) plus this share of where it started (docs/soak.md).
MEMORY_BASE_MIB = {"hub": 15.0, "printer": 10.0}
MEMORY_SHARE = 0.25
MEMORY_LEAST_SECONDS = 60.0


@dataclass(frozen=True)
class Settings:
    printers: int
    seconds: float
    seed: int
    kinds: tuple[str, ...]
    time_factor: float = 1.0
    heat_rate: float = 10.0
    drain_seconds: float = 240.0


@dataclass
class Result:
    settings: dict[str, Any]
    plan: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    played: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    operator_errors: list[str] = field(default_factory=list)
    jobs: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    losses: list[str] = field(default_factory=list)
    latency: dict[str, float] = field(default_factory=dict)
    host_cpu_percent: float = 0.0
    memory: list[dict[str, Any]] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    job_records: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_lines(job: JobFile, directory: Path) -> checks.FileLines:
    path = directory / job.name
    path.write_bytes(job.data)
    lines = list(GcodeFile(path).iter_commands())
    return checks.FileLines([x.command for x in lines], [x.number for x in lines])


async def _sample(stack: SoakStack, sampler: Sampler) -> None:
    """One memory and CPU sample, or none while the Docker engine does not answer (its
    restart: the 50-printer run ended with a traceback when a sample fell in that gap)."""
    try:
        found = await asyncio.to_thread(stack.containers)
    except (OSError, docker.errors.DockerException):
        return
    await asyncio.to_thread(sampler.sample, found)


async def _drive(
    stack: SoakStack, plan: Plan, settings: Settings, operator: Operator, watcher: Watcher,
    sampler: Sampler, result: Result,
) -> None:  # fmt: skip
    """Feed, play the faults, drain."""
    stop = asyncio.Event()
    watching = asyncio.create_task(watcher.run(stop))
    start = time.time()
    # Enough waiting that a printer freed takes its next job at the next round.
    keep = max(2, settings.printers // 5)
    pending = list(plan.faults)
    playing: list[asyncio.Task[None]] = []
    last_sample = 0.0

    async def host_fault(index: int) -> None:
        fault = plan.faults[index]
        done = await asyncio.to_thread(play, stack, fault, RESTART_ENGINE in settings.kinds)
        result.played.append({**asdict(fault), "began": done.began, "ended": done.ended,
                              "note": done.note, "error": done.error})  # fmt: skip

    async def cancel(index: int) -> None:
        fault = plan.faults[index]
        began = time.time()
        note = await operator.cancel_on(fault.printer)
        result.played.append({**asdict(fault), "began": began, "ended": time.time(),
                              "note": note, "error": ""})  # fmt: skip

    while True:
        now = time.time()
        feeding = now - start < settings.seconds
        while pending and now - start >= pending[0].at:
            fault = pending.pop(0)
            index = plan.faults.index(fault)
            job = cancel(index) if fault.kind == CANCEL else host_fault(index)
            playing.append(asyncio.create_task(job))
        await operator.round(feeding, keep)
        if now - last_sample >= SAMPLE_EVERY:
            last_sample = now
            await _sample(stack, sampler)
        if not feeding and not pending and all(t.done() for t in playing):
            ours = [operator.entries.get(i) for i in operator.submitted]
            open_states = ("queued", "sent", "printing", "interrupted")
            if all(e is not None and e["state"] not in open_states for e in ours):
                break
            if now - start > settings.seconds + settings.drain_seconds:
                result.operator_errors.append("drain: entries still open when the drain ended")
                break
        await asyncio.sleep(ROUND)
    result.timings["fed_and_drained_s"] = time.time() - start
    await asyncio.gather(*playing)
    # The last job ends reach the dashboard.
    await asyncio.sleep(3)
    stop.set()
    await watching


def _history(stack: SoakStack, printer: str) -> list[dict[str, Any]]:
    session = requests.Session()
    session.post(f"{stack.base}/api/login", json={"username": ADMIN, "password": PASSWORD},
                 timeout=10).raise_for_status()  # fmt: skip
    jobs: list[dict[str, Any]] = []
    while True:
        answer = session.get(
            f"{stack.base}/printers/{printer}/api/v1/history",
            params={"limit": HISTORY_PAGE, "offset": len(jobs)},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        answer.raise_for_status()
        page = answer.json()["jobs"]
        jobs += page
        if len(page) < HISTORY_PAGE:
            return jobs


def _entries(stack: SoakStack, operator: Operator) -> dict[int, checks.Entry]:
    path = stack.state_dir / HUB_DATA / "hub.sqlite"
    connection = sqlite3.connect(path, timeout=30)
    try:
        rows = connection.execute(
            "SELECT j.id, j.file_id, f.name, j.state, j.printer, j.reason FROM queue_jobs j "
            "JOIN queue_files f ON f.id = j.file_id"
        ).fetchall()
    finally:
        connection.close()
    found = {}
    for entry_id, file_id, name, state, printer, reason in rows:
        mine = operator.submitted.get(int(entry_id))
        requeues = 0 if mine is None else len(mine.requeued)
        cancelled = None if mine is None else mine.cancelled_at
        found[int(entry_id)] = checks.Entry(
            int(entry_id), int(file_id), str(name), str(state), printer, reason, requeues, cancelled
        )
    return found


def _memory(sampler: Sampler, verdict: checks.Verdict) -> list[dict[str, Any]]:
    rows = []
    for role, base in MEMORY_BASE_MIB.items():
        series = {
            service: [(s.at, s.started, s.anon_mib) for s in samples]
            for service, samples in sampler.samples.items()
            if service == role or service.startswith(f"{role}-")
        }
        growths = checks.memory_growth(series, base, MEMORY_SHARE, MEMORY_LEAST_SECONDS)
        checks.check_memory(growths, verdict)
    for service, samples in sorted(sampler.samples.items()):
        first, last = samples[0], samples[-1]
        rows.append({"service": service, "start_anon_mib": round(first.anon_mib, 1),
                     "end_anon_mib": round(last.anon_mib, 1),
                     "start_total_mib": round(first.total_mib, 1),
                     "end_total_mib": round(last.total_mib, 1),
                     "restarted": first.started != last.started})  # fmt: skip
    return rows


def _spread(values: list[float], prefix: str) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {f"{prefix}samples": 0}
    quantiles = (
        statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else values * 19
    )
    return {
        f"{prefix}samples": len(values),
        f"{prefix}p50_ms": round(statistics.median(values) * 1000, 1),
        f"{prefix}p95_ms": round(quantiles[18] * 1000, 1),
        f"{prefix}max_ms": round(values[-1] * 1000, 1),
    }


def _latency(watcher: Watcher, played: list[dict[str, Any]]) -> dict[str, float]:
    """Every job end's way to the screen; and those that no fault of the hub's way (a hub
    restart, a reboot, an engine restart, and 10 s after) held up on it."""
    outages = [(float(p["began"]), float(p["ended"]) + 10.0) for p in played
               if p["kind"] in (RESTART_HUB, REBOOT, RESTART_ENGINE)]  # fmt: skip
    every = [seconds for _, _, seconds, _ in watcher.latencies]
    quiet = [
        seconds
        for _, _, seconds, arrived in watcher.latencies
        if not any(b <= arrived and arrived - seconds <= e for b, e in outages)
    ]
    return {**_spread(every, ""), **_spread(quiet, "quiet_"),
            "reconnect_attempts": watcher.reconnects}  # fmt: skip


def collect(
    stack: SoakStack, plan: Plan, operator: Operator, files: list[JobFile], result: Result,
    sampler: Sampler,
) -> None:  # fmt: skip
    """Read every record back and run the checks."""
    verdict = checks.Verdict()
    with tempfile.TemporaryDirectory() as tmp:
        lines = {f.name: file_lines(f, Path(tmp)) for f in files}
    entries = _entries(stack, operator)
    faults = checks.faults_at(result.played)
    checks.check_faults_played(result.played, verdict)
    all_jobs: list[checks.Job] = []
    for printer in plan.printers:
        rows = _history(stack, printer.name)
        result.job_records += [{"printer": printer.name, **row} for row in rows]
        jobs = [checks.Job.of(printer.name, row) for row in rows]
        all_jobs += jobs
        for job in jobs:
            checks.check_job(job, faults, checks.entry_of(job, entries), verdict)
        executed = checks.executed_of(stack.record(printer.name))
        checks.check_streams(printer.name, executed, jobs, lines, verdict)
    checks.check_entries(entries, list(operator.submitted), all_jobs, verdict)
    result.entries = [asdict(e) for e in entries.values()]
    result.memory = _memory(sampler, verdict)
    result.jobs = len(all_jobs)
    result.outcomes = verdict.outcomes
    result.counts = verdict.counts
    result.losses = verdict.losses


def run(settings: Settings, client: docker.DockerClient, repository: str, work: Path) -> Result:
    plan = draw_plan(settings.seed, settings.printers, settings.seconds, settings.kinds)
    files = job_files()
    result = Result(asdict(settings), plan.as_dict())
    result.files = [{"name": f.name, "source": f.source, "layers": f.layers, "bytes": len(f.data)}
                    for f in files]  # fmt: skip
    stack = SoakStack.make(client, repository, work)
    stack.write(plan, settings.time_factor, settings.heat_rate)
    names = [p.name for p in plan.printers]
    started = time.monotonic()
    try:
        stack.up()
        stack.add_admin()
        result.timings["up_to_ready_s"] = stack.wait_ready(names) + time.monotonic() - started
        operator = Operator(stack.base, files, random.Random(settings.seed))
        sampler = Sampler()

        async def main() -> None:
            await operator.login()
            watcher = Watcher(stack.base, operator.cookie())
            try:
                await _drive(stack, plan, settings, operator, watcher, sampler, result)
            finally:
                await operator.close()
            result.latency = _latency(watcher, result.played)

        before = time.monotonic()
        asyncio.run(main())
        sampler.sample(stack.containers())
        result.host_cpu_percent = round(sampler.host_cpu_percent(), 1)
        result.actions = operator.actions
        result.operator_errors += operator.errors
        collect(stack, plan, operator, files, result, sampler)
        result.timings["run_s"] = time.monotonic() - before
    except StackError as error:
        result.losses.append(f"the stack: {error}")
    finally:
        stack.remove()
    result.timings["total_s"] = time.monotonic() - started
    return result
