"""Lines/s of ``fabfleet-instance print`` next to the reference senders, on one simulator."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from bench.dense_curve import DEFAULT_LINES, write_dense_curve
from bench.senders import SendResult, ideal_windowed, one_in_flight, open_port, prepare
from bench.simproc import BENCH_PRINTER, BIN, SimProcess, simulator

# Commands our host sends on its own: the handshake and the temperature reports.
HOST_COMMANDS = frozenset({"M110 N0", "M115", "M155 S1", "M155 S0", "M105"})
SAMPLE_EVERY = 0.02


@dataclass(frozen=True, slots=True)
class Setting:
    """One simulated printer: its latency and whether it answers ``ok N.. P.. B..``."""

    latency_ms: float
    advanced_ok: bool
    # True: the latency works like an FTDI latency timer (answers in bursts at
    # each tick), as on real adapters; False: every byte is simply delayed.
    timer: bool = False
    # The simulator's firmware profile (fabfleet-sim --identity).
    identity: str = "marlin2"

    @property
    def name(self) -> str:
        return (
            ("" if self.identity == "marlin2" else f"{self.identity} ")
            + f"{self.latency_ms:g} ms"
            + (", FTDI timer" if self.timer else "")
            + ("" if self.advanced_ok else ", plain ok")
        )

    def sim_args(self) -> list[str]:
        advanced = "--advanced-ok" if self.advanced_ok else "--no-advanced-ok"
        timer = ["--latency-timer"] if self.timer else []
        latency = ["--latency", f"{self.latency_ms:g}"]
        return [*BENCH_PRINTER, "--identity", self.identity, *latency, advanced, *timer]


SETTINGS = (Setting(1.0, True), Setting(16.0, True), Setting(16.0, True, timer=True))
EXTRA_SETTINGS = (Setting(16.0, False),)


@dataclass(slots=True)
class HostRun:
    """One ``fabfleet-instance print``.

    ``print_seconds`` is the job record's ``ended_at - started_at``: from the
    moment the job was created (file opened, first lines queued) to the
    moment the last line's ok was handled. ``print_cpu_seconds`` is the
    child's user+sys CPU over that same interval (psutil samples every
    20 ms, interpolated); ``total_*`` cover the whole process, start-up,
    imports, connection and shut-down included.
    """

    lines: int
    print_seconds: float
    print_cpu_seconds: float
    total_seconds: float
    total_cpu_seconds: float
    outcome: str

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.print_seconds if self.print_seconds > 0 else 0.0


@dataclass(slots=True)
class SettingResult:
    setting: str
    lines: int
    ours: dict[str, float | str] = field(default_factory=dict)
    ideal: dict[str, float] = field(default_factory=dict)
    one_in_flight: dict[str, float] = field(default_factory=dict)
    ours_vs_ideal: float = 0.0
    ours_vs_one_in_flight: float = 0.0
    ours_cpu_per_1000_lines: float = 0.0
    ours_total_cpu_per_1000_lines: float = 0.0


class _CpuSampler(threading.Thread):
    """Samples a process's user+sys CPU time against the wall clock (``time.time``)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                times = self._process.cpu_times()
            except psutil.Error:
                return
            self.samples.append((time.time(), times.user + times.system))
            self._done.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def cpu_at(self, when: float) -> float:
        """CPU seconds used by ``when`` (linear between the samples around it)."""
        samples = self.samples
        if not samples:
            return 0.0
        if when <= samples[0][0]:
            return samples[0][1]
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1
        return samples[-1][1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_host(
    port: str, gcode: Path, data_dir: Path, lines: int, host: Sequence[str] = ()
) -> HostRun:
    """Run ``fabfleet-instance print`` (or ``host``, same arguments) to the end; its job record."""
    binary = str(BIN / "fabfleet-instance")
    command = [*(host or [binary]), "print", "--port", port, "--data-dir", str(data_dir)]
    command.append("--quiet")
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, str(gcode)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    sampler = _CpuSampler(process.pid)
    sampler.start()
    out, errors = process.communicate(timeout=600)
    total_seconds = time.perf_counter() - started
    sampler.stop()
    total_cpu = _children_cpu() - cpu_before
    if process.returncode != 0:
        raise RuntimeError(f"fabfleet-instance print failed ({process.returncode}): {out}{errors}")
    listed = subprocess.run(
        [binary, "jobs", "--json", "--data-dir", str(data_dir), "--limit", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(listed.stdout)[0]
    begin, end = float(record["started_at"]), float(record["ended_at"])
    return HostRun(
        lines=lines,
        print_seconds=end - begin,
        print_cpu_seconds=sampler.cpu_at(end) - sampler.cpu_at(begin),
        total_seconds=total_seconds,
        total_cpu_seconds=total_cpu,
        outcome=str(record["outcome"]),
    )


def check_delivery(executed: Sequence[str], commands: Sequence[str], who: str) -> None:
    """Every command of the file executed exactly once, in order (host housekeeping aside)."""
    got = [command for command in executed if command not in HOST_COMMANDS]
    if got != list(commands):
        missing = len(commands) - len(got)
        first = next(
            (i for i, (a, b) in enumerate(zip(got, commands, strict=False)) if a != b),
            min(len(got), len(commands)),
        )
        raise RuntimeError(
            f"{who}: the printer executed {len(got)} file commands, the file has "
            f"{len(commands)} ({missing:+d} missing); first difference at command {first}"
        )


def _reference(
    sim: SimProcess, commands: Sequence[str], ideal: bool
) -> tuple[SendResult, list[str]]:
    fd = open_port(sim.port)
    try:
        prepare(fd)
        settled = len(sim.executed())
        result = ideal_windowed(fd, commands) if ideal else one_in_flight(fd, commands)
    finally:
        os.close(fd)
    time.sleep(0.1)  # let the simulator flush its record
    return result, sim.executed()[settled:]


def run_setting(
    setting: Setting,
    lines: int,
    workdir: Path,
    one_in_flight_lines: int | None = None,
    host: Sequence[str] = (),
) -> SettingResult:
    """One simulator; one-in-flight, ideal windowed and our host against it, in that order."""
    directory = workdir / setting.name.replace(" ", "_").replace(",", "")
    directory.mkdir()
    gcode = directory / "dense_curve.gcode"
    commands = write_dense_curve(gcode, lines)
    slow_commands = commands[: one_in_flight_lines or len(commands)]
    result = SettingResult(setting.name, len(commands))
    with simulator(directory, *setting.sim_args(), "--move-timing", "instant") as sim:
        single, executed = _reference(sim, slow_commands, ideal=False)
        check_delivery(executed, slow_commands, "one in flight")
        ideal, executed = _reference(sim, commands, ideal=True)
        check_delivery(executed, commands, "ideal windowed")
        before = len(sim.executed())
        ours = run_host(sim.port, gcode, directory / "data", len(commands), host)
        time.sleep(0.1)
        check_delivery(sim.executed()[before:], commands, "fabfleet-instance")
    result.one_in_flight = _sent(single)
    result.ideal = _sent(ideal)
    result.ours = {
        "lines_per_second": round(ours.lines_per_second, 1),
        "print_seconds": round(ours.print_seconds, 3),
        "print_cpu_seconds": round(ours.print_cpu_seconds, 3),
        "total_seconds": round(ours.total_seconds, 3),
        "total_cpu_seconds": round(ours.total_cpu_seconds, 3),
        "outcome": ours.outcome,
    }
    result.ours_vs_ideal = round(ours.lines_per_second / ideal.lines_per_second, 3)
    result.ours_vs_one_in_flight = round(ours.lines_per_second / single.lines_per_second, 2)
    result.ours_cpu_per_1000_lines = round(ours.print_cpu_seconds / len(commands) * 1000, 4)
    result.ours_total_cpu_per_1000_lines = round(ours.total_cpu_seconds / len(commands) * 1000, 4)
    return result


def _sent(result: SendResult) -> dict[str, float]:
    return {
        "lines": result.lines,
        "lines_per_second": round(result.lines_per_second, 1),
        "seconds": round(result.seconds, 3),
        "cpu_seconds": round(result.cpu_seconds, 3),
        "max_in_flight": result.max_in_flight,
    }


def report(results: Sequence[SettingResult]) -> str:
    rows = []
    for r in results:
        rows.append(
            f"{r.setting:>20}: ours {r.ours['lines_per_second']:>6} lines/s, "
            f"ideal {r.ideal['lines_per_second']:>6}, one-in-flight "
            f"{r.one_in_flight['lines_per_second']:>6} | ours/ideal {r.ours_vs_ideal:.3f}, "
            f"ours/one-in-flight {r.ours_vs_one_in_flight:.2f}x | host CPU-s per 1000 lines: "
            f"print {r.ours_cpu_per_1000_lines:.4f}, whole process "
            f"{r.ours_total_cpu_per_1000_lines:.4f}"
        )
    return "\n".join(rows)


def verdicts(results: Sequence[SettingResult]) -> list[str]:
    """The issue's targets, each with the figure measured and PASS or MISS."""
    out = []
    for r in results:
        checks: list[tuple[str, float, bool]] = []
        if r.setting.endswith("1 ms"):
            checks.append(("ours/ideal >= 0.90", r.ours_vs_ideal, r.ours_vs_ideal >= 0.9))
        if r.setting.endswith(("16 ms", "16 ms, FTDI timer")):
            ratio = r.ours_vs_one_in_flight
            checks.append(("ours/one-in-flight >= 4.5", ratio, ratio >= 4.5))
        cpu = r.ours_cpu_per_1000_lines
        checks.append(("CPU-s per 1000 lines <= 0.1", cpu, cpu <= 0.1))
        for label, value, ok in checks:
            out.append(f"{r.setting}: {label}: {value} {'PASS' if ok else 'MISS'}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="lines in the file")
    parser.add_argument(
        "--one-in-flight-lines",
        type=int,
        default=None,
        help="send only this many lines one at a time (default: the whole file)",
    )
    parser.add_argument("--extra", action="store_true", help="also 16 ms without ADVANCED_OK")
    parser.add_argument(
        "--host",
        default="",
        metavar="COMMAND",
        help="run this instead of fabfleet-instance (split on blanks; for experiments)",
    )
    parser.add_argument(
        "--profiles",
        default="",
        metavar="LIST",
        help="firmware profiles (marlin2,marlin1,prusa,rrf,klipper), each at 1 ms and 16 ms,"
        " instead of the default settings",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    arguments = parser.parse_args(argv)
    settings = SETTINGS + (EXTRA_SETTINGS if arguments.extra else ())
    if arguments.profiles:
        settings = tuple(
            Setting(latency, True, identity=profile)
            for profile in arguments.profiles.split(",")
            for latency in (1.0, 16.0)
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-") as workdir:
        for setting in settings:
            result = run_setting(
                setting,
                arguments.lines,
                Path(workdir),
                arguments.one_in_flight_lines,
                arguments.host.split(),
            )
            print(report([result]), flush=True)
            results.append(result)
    print("\n".join(verdicts(results)))
    if arguments.json is not None:
        arguments.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
