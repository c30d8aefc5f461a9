"""The OctoPrint comparison's figures, without I/O: one measuring window of N printers
printing at once, summed per server, judged for stutter, and written as a markdown table.

``bench/octoprint_compare.py`` takes the samples (process CPU times, ``smaps_rollup``,
the simulators' ``--stats`` files) and hands them here.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024


def smaps_rollup(text: str) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` as bytes per field (``Rss``, ``Pss``, ...)."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        parts = rest.split()
        if not sep or len(parts) != 2 or parts[1] != "kB" or not parts[0].isdigit():
            continue
        fields[name.strip()] = int(parts[0]) * 1024
    return fields


@dataclass(frozen=True, slots=True)
class PrinterSample:
    """One printer over one window: its server's CPU and memory, and what its printer ran.

    ``cpu_seconds``: user+system CPU of the print server's process over the window;
    ``children_cpu_seconds``: of its subprocesses (file analysis). ``lines``: commands
    the simulated printer executed in the window; ``starved``: times its planner ran
    dry between moves (``instance/sim/starvation.py``), ``starved_seconds`` how long.
    ``printing``: the server still reported a job printing at the window's end.
    """

    cpu_seconds: float
    rss_bytes: int
    pss_bytes: int
    lines: int
    moves: int
    starved: int
    starved_seconds: float
    printing: bool
    children_cpu_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class StepFigures:
    """N printers printing at once on one server kind, over ``window`` seconds."""

    server: str
    run: int
    printers: int
    window: float
    cpu_per_printer: float  # CPU-seconds per second (cores), mean over the printers
    cpu_per_printer_range: tuple[float, float]
    cpu_s_per_1000_lines: float
    lines_per_s_per_printer: float
    lines_per_s_range: tuple[float, float]
    rss_mb_per_printer: float
    pss_mb_per_printer: float
    starved: int
    printers_starved: int
    starved_seconds: float
    not_printing: int
    simulator_cpu: float  # all simulators together, cores
    host_busy: float  # the whole machine's busy share of all cores, 0..1
    load_average: float
    children_cpu: float = 0.0  # the servers' subprocesses (file analysis), cores per printer

    @property
    def stutter(self) -> bool:
        """The planner of some printer ran dry while its job had lines left, or a job stopped."""
        return self.starved > 0 or self.not_printing > 0


def summarize(
    server: str,
    run: int,
    window: float,
    samples: list[PrinterSample],
    *,
    simulator_cpu_seconds: float,
    host_busy: float,
    load_average: float,
) -> StepFigures:
    """The figures of one window; ``samples`` has one entry per printer."""
    if not samples or window <= 0:
        raise ValueError("a step needs at least one printer and a window longer than 0 s")
    cpu = [sample.cpu_seconds / window for sample in samples]
    rates = [sample.lines / window for sample in samples]
    lines = sum(sample.lines for sample in samples)
    cpu_total = sum(sample.cpu_seconds for sample in samples)
    return StepFigures(
        server=server,
        run=run,
        printers=len(samples),
        window=round(window, 2),
        cpu_per_printer=round(statistics.fmean(cpu), 4),
        cpu_per_printer_range=(round(min(cpu), 4), round(max(cpu), 4)),
        cpu_s_per_1000_lines=round(1000 * cpu_total / lines, 3) if lines else float("nan"),
        lines_per_s_per_printer=round(statistics.fmean(rates), 1),
        lines_per_s_range=(round(min(rates), 1), round(max(rates), 1)),
        rss_mb_per_printer=round(statistics.fmean(s.rss_bytes for s in samples) / MB, 1),
        pss_mb_per_printer=round(statistics.fmean(s.pss_bytes for s in samples) / MB, 1),
        starved=sum(sample.starved for sample in samples),
        printers_starved=sum(1 for sample in samples if sample.starved > 0),
        starved_seconds=round(sum(sample.starved_seconds for sample in samples), 3),
        not_printing=sum(1 for sample in samples if not sample.printing),
        simulator_cpu=round(simulator_cpu_seconds / window, 3),
        host_busy=round(host_busy, 3),
        load_average=round(load_average, 2),
        children_cpu=round(statistics.fmean(s.children_cpu_seconds for s in samples) / window, 4),
    )


def largest_without_stutter(steps: list[StepFigures]) -> int:
    """The largest N of a ramp below the first step that stuttered (0 if the first did)."""
    best = 0
    for step in sorted(steps, key=lambda s: s.printers):
        if step.stutter:
            break
        best = step.printers
    return best


def cpu_limited_printers(steps: list[StepFigures], cores: int) -> float:
    """Cores divided by the CPU one printing printer needs (its smallest-N measure)."""
    clean = [step for step in steps if step.cpu_per_printer > 0]
    if not clean:
        return float("nan")
    first = min(clean, key=lambda s: s.printers)
    return round(cores / first.cpu_per_printer, 1)


def above_idle_per_1000_lines(step: StepFigures, idle: float) -> float:
    """CPU-seconds per 1000 lines beyond what the server spends connected and idle."""
    if step.lines_per_s_per_printer <= 0 or idle != idle:  # no lines, or idle not measured
        return float("nan")
    return round(1000 * (step.cpu_per_printer - idle) / step.lines_per_s_per_printer, 3)


def _range(pair: tuple[float, float], digits: int) -> str:
    low, high = pair
    return f"{low:.{digits}f}\N{EN DASH}{high:.{digits}f}"


def steps_table(steps: list[StepFigures]) -> str:
    """One markdown row per measuring window."""
    rows = [
        "| server | run | N | lines/s per printer (range) | CPU per printer, cores (range) "
        "| CPU-s / 1000 lines | subprocesses, cores | RSS MB / printer | PSS MB / printer "
        "| starved (printers; s) | jobs stopped | simulators, cores | host busy | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        rows.append(
            f"| {s.server} | {s.run} | {s.printers} "
            f"| {s.lines_per_s_per_printer:.1f} ({_range(s.lines_per_s_range, 1)}) "
            f"| {s.cpu_per_printer:.4f} ({_range(s.cpu_per_printer_range, 4)}) "
            f"| {s.cpu_s_per_1000_lines:.3f} | {s.children_cpu:.4f} | {s.rss_mb_per_printer:.1f} "
            f"| {s.pss_mb_per_printer:.1f} | {s.starved} ({s.printers_starved}; "
            f"{s.starved_seconds:.2f}) | {s.not_printing} | {s.simulator_cpu:.2f} "
            f"| {s.host_busy:.0%} | {s.load_average:.2f} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True, slots=True)
class ServerSummary:
    """One server kind over every run: the ramp's verdicts and the per-printer figures' spread."""

    server: str
    runs: int
    n_max: tuple[int, int]  # the smallest and largest over the runs
    # Per run: the largest N without stutter, and whether that run never stuttered (its
    # ramp ended at its last step or the time cap, so the limit is higher).
    per_run: tuple[tuple[int, bool], ...]
    cpu_per_printer: tuple[float, float]
    cpu_s_per_1000_lines: tuple[float, float]
    idle_cpu: tuple[float, float]
    above_idle_per_1000_lines: tuple[float, float]
    lines_per_s: tuple[float, float]
    rss_mb: tuple[float, float]
    pss_mb: tuple[float, float]
    cpu_limited_printers: tuple[float, float]
    printers_per_core: tuple[float, float]


def summarize_server(
    server: str, steps: list[StepFigures], cores: int, idle: dict[int, float] | None = None
) -> ServerSummary:
    """Ranges over every run's windows (per-printer figures from the windows without stutter);
    ``idle``: cores per connected idle printer, by run."""
    idle = idle or {}
    mine = [step for step in steps if step.server == server]
    if not mine:
        raise ValueError(f"no windows measured for {server}")
    runs = sorted({step.run for step in mine})
    n_max = [largest_without_stutter([s for s in mine if s.run == run]) for run in runs]
    limited = [cpu_limited_printers([s for s in mine if s.run == run], cores) for run in runs]
    clean = [step for step in mine if not step.stutter] or mine
    never = [not any(s.stutter for s in mine if s.run == run) for run in runs]

    def spread(values: list[float], digits: int) -> tuple[float, float]:
        measured = [value for value in values if value == value]  # NaN: not measured
        if not measured:
            return (float("nan"), float("nan"))
        return (round(min(measured), digits), round(max(measured), digits))

    return ServerSummary(
        server=server,
        runs=len(runs),
        n_max=(min(n_max), max(n_max)),
        per_run=tuple(zip(n_max, never, strict=True)),
        cpu_per_printer=spread([s.cpu_per_printer for s in clean], 4),
        cpu_s_per_1000_lines=spread([s.cpu_s_per_1000_lines for s in clean], 3),
        idle_cpu=spread([idle.get(run, float("nan")) for run in runs], 4),
        above_idle_per_1000_lines=spread(
            [above_idle_per_1000_lines(s, idle.get(s.run, float("nan"))) for s in clean], 3
        ),
        lines_per_s=spread([s.lines_per_s_per_printer for s in clean], 1),
        rss_mb=spread([s.rss_mb_per_printer for s in clean], 1),
        pss_mb=spread([s.pss_mb_per_printer for s in clean], 1),
        cpu_limited_printers=spread(limited, 1),
        printers_per_core=spread([n / cores for n in n_max], 1),
    )


def summary_table(summaries: list[ServerSummary], cores: int) -> str:
    """The comparison in one table: a row per server kind, ranges over runs and windows."""

    def pair(values: tuple[float, float], digits: int) -> str:
        low, high = values
        if low != low or high != high:  # NaN: not measured
            return "n/a"
        if low == high:
            return f"{low:.{digits}f}"
        return f"{low:.{digits}f}\N{EN DASH}{high:.{digits}f}"

    rows = [
        "| server | runs | lines/s per printer | CPU per printer (cores) | CPU-s / 1000 lines "
        "| idle, connected (cores) | CPU-s / 1000 lines above idle "
        "| RSS MB / printer | PSS MB / printer | largest N without stutter "
        "(per run; ≥: no stutter up to the last N tried) "
        f"| printers per core (N / {cores}) | CPU-limited estimate ({cores} cores / CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        n_max = ", ".join(f"≥ {n}" if capped else str(n) for n, capped in s.per_run)
        rows.append(
            f"| {s.server} | {s.runs} | {pair(s.lines_per_s, 1)} | {pair(s.cpu_per_printer, 4)} "
            f"| {pair(s.cpu_s_per_1000_lines, 3)} | {pair(s.idle_cpu, 4)} "
            f"| {pair(s.above_idle_per_1000_lines, 3)} | {pair(s.rss_mb, 1)} | {pair(s.pss_mb, 1)} "
            f"| {n_max} | {pair(s.printers_per_core, 1)} | {pair(s.cpu_limited_printers, 0)} |"
        )
    return "\n".join(rows)


@dataclass
class Ramp:
    """One server kind's ramp in one run: each window's figures and why it stopped."""

    server: str
    run: int
    steps: list[StepFigures] = field(default_factory=list)
    stopped: str = ""
    idle_cpu: float = float("nan")  # cores per connected printer before its first print


def ramps_from_json(documents: list[dict[str, Any]]) -> list[Ramp]:
    """The ramps of several saved runs (``--out``'s JSON), runs numbered on across files."""
    ramps: list[Ramp] = []
    for document in documents:
        offset = max((ramp.run for ramp in ramps), default=0)
        for saved in document["ramps"]:
            run = offset + int(saved["run"])
            steps = []
            for step in saved["steps"]:
                values: dict[str, Any] = {
                    k: tuple(v) if isinstance(v, list) else v for k, v in step.items()
                }
                values["run"] = run
                steps.append(StepFigures(**values))
            idle = saved.get("idle_cpu")
            ramps.append(
                Ramp(
                    saved["server"],
                    run,
                    steps,
                    saved.get("stopped", ""),
                    float("nan") if idle is None else float(idle),
                )
            )
    return ramps


def report(ramps: list[Ramp], cores: int, heading: str) -> tuple[str, list[ServerSummary]]:
    """The markdown report of some ramps: the summary, every window, how each ramp ended."""
    steps = [step for ramp in ramps for step in ramp.steps]
    servers = list(dict.fromkeys(ramp.server for ramp in ramps))
    summaries = [
        summarize_server(kind, steps, cores, {r.run: r.idle_cpu for r in ramps if r.server == kind})
        for kind in servers
        if any(step.server == kind for step in steps)
    ]
    endings = "\n".join(
        f"- {r.server} run {r.run}: largest N without stutter "
        f"{largest_without_stutter(r.steps)}; idle {r.idle_cpu:.4f} cores; stopped: {r.stopped}"
        for r in ramps
    )
    text = "\n\n".join([heading, summary_table(summaries, cores), steps_table(steps), endings])
    return text, summaries


def as_json(value: object) -> Any:
    """A dataclass (or list of them) as JSON-ready data."""
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value
