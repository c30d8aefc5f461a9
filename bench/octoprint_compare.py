"""fabfleet's print server and OctoPrint side by side: N simulated printers printing a real
slicer file at once, at the printer's own pace, on this host.

For each server kind and each N of a ramp (1, 10, 20, 40 by default) the printers are
started (one ``fabfleet-sim`` on a pty per printer, one print server per printer), each
server is connected, sent the file and told to print through OctoPrint's REST API (the way
a slicer does it: ``POST /api/connection``, ``POST /api/files/local`` with
``select``/``print``), and after a warm-up one window measures: the server processes' CPU,
their RSS and PSS, the lines each printer ran and how often its planner ran dry (the
simulator's ``--stats``). The ramp stops at the first window with stutter, or at the cap.

    python -m bench.octoprint_compare [--quick] [--runs 2] [--out DIR]

Figures and what they mean: bench/README.md ("Side by side with OctoPrint").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import requests

from bench import octoprint_setup
from bench.compare_figures import (
    PrinterSample,
    Ramp,
    StepFigures,
    as_json,
    ramps_from_json,
    report,
    smaps_rollup,
    summarize,
)
from instance.sim.process import BIN, stop_process

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "tests" / "fixtures" / "gcode" / "flower_prusa_limits.gcode"
SERVERS = ("fabfleet", "octoprint")
BAUDRATE = 115200


@dataclass(frozen=True, slots=True)
class Settings:
    """What every printer of a run shares: the file, the link and the printer's motion."""

    gcode: Path
    steps: tuple[int, ...]
    warmup: float
    window: float
    step_timeout: float
    server_cap: float
    acceleration: float
    work: Path
    idle_window: float = 10.0
    memory_floor_mb: int = 1024


@dataclass
class Printer:
    """One simulated printer and the print server that drives it."""

    index: int
    link: Path
    stats: Path
    sim: subprocess.Popen[str]
    server: subprocess.Popen[str]
    url: str = ""
    key: str = ""
    started_prints: int = 0

    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.key}

    def stats_now(self) -> dict[str, float]:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            figures: dict[str, float] = json.loads(self.stats.read_text(encoding="utf-8"))
            return figures
        return {"executed": 0, "moves": 0, "starved": 0, "starved_seconds": 0.0}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _process_cpu(pid: int) -> tuple[float, float]:
    """User+system CPU-seconds of a process itself, and of its children, live or ended (both
    servers analyse an upload in a subprocess; OctoPrint stops its analysis when a print
    starts, fabfleet lets its niced one finish)."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        children = times.children_user + times.children_system
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                children += sum(child.cpu_times()[:4])
        return float(times.user + times.system), float(children)
    except psutil.Error:
        return 0.0, 0.0


def _memory(pid: int) -> dict[str, int]:
    try:
        return smaps_rollup(Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="utf-8"))
    except OSError:
        return {}


def _host_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    first = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    values = [float(v) for v in first]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class Fleet:
    """The printers of one server kind, added step by step and stopped at the end."""

    def __init__(self, kind: str, settings: Settings, octoprint: Path | None) -> None:
        self.kind = kind
        self.settings = settings
        self.octoprint = octoprint
        self.dir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=settings.work))
        self.printers: list[Printer] = []
        self.key = secrets.token_hex(16)
        self.users: Path | None = None
        self.body = settings.gcode.read_bytes()

    # ----- starting -----

    def _start_sim(self, index: int) -> tuple[subprocess.Popen[str], Path, Path]:
        link = self.dir / f"printer-{index}"
        stats = self.dir / f"printer-{index}-stats.json"
        sim = subprocess.Popen(
            [str(BIN / "fabfleet-sim"), "--pty", str(link), "--stats", str(stats),
             "--baud", str(BAUDRATE), "--move-timing", "real",
             "--acceleration", str(self.settings.acceleration),
             # Heat-ups and homing short: the measure is about moves at their real pace.
             "--hotend-rate", "60", "--bed-rate", "60", "--home-seconds", "1",
             "--probe-seconds", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        return sim, link, stats

    def _start_server(self, index: int, link: Path) -> tuple[subprocess.Popen[str], str]:
        log = (self.dir / f"server-{index}.log").open("w", encoding="utf-8")
        if self.kind == "fabfleet":
            server = subprocess.Popen(
                [str(BIN / "fabfleet-instance"), "serve", "--port", str(link),
                 "--baudrate", str(BAUDRATE), "--data-dir", str(self.dir / f"data-{index}"),
                 "--listen", "127.0.0.1:0", "--api-key", self.key,
                 "--printer", f"printer-{index}"],
                stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            return server, ""
        assert self.octoprint is not None
        if self.users is None:
            self.users, self.key = octoprint_setup.template_users(self.octoprint, self.dir)
        port = _free_port()
        basedir = self.dir / f"octoprint-{index}"
        octoprint_setup.prepare_basedir(
            basedir, self.users, port, str(self.dir / "printer-*"), BAUDRATE
        )
        server = subprocess.Popen(
            octoprint_setup.serve_command(self.octoprint, basedir, port),
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        return server, f"http://127.0.0.1:{port}"

    def grow(self, count: int, *, start: bool = True) -> list[Printer]:
        """Start ``count`` more printers with their servers: connected (and printing with
        ``start``) on return."""
        fresh: list[Printer] = []
        first = len(self.printers)
        for index in range(first, first + count):
            sim, link, stats = self._start_sim(index)
            assert sim.stdout is not None
            line = sim.stdout.readline()
            if "listening on" not in line:
                raise RuntimeError(f"fabfleet-sim {index} did not start: {line!r}")
            server, url = self._start_server(index, link)
            printer = Printer(index, link, stats, sim, server, url, self.key)
            self.printers.append(printer)
            fresh.append(printer)
        deadline = time.monotonic() + self.settings.step_timeout
        for printer in fresh:
            if self.kind == "fabfleet":
                assert printer.server.stdout is not None
                announced = printer.server.stdout.readline()
                if " on " not in announced:
                    raise RuntimeError(f"print server {printer.index} did not start: {announced!r}")
                printer.url = announced.rsplit(" on ", 1)[1].strip().rstrip("/")
            self._wait_api(printer, deadline)
            self._connect(printer, deadline)
        if start:
            for printer in fresh:
                self._start_print(printer, deadline)
        return fresh

    def idle_cpu(self) -> float:
        """Cores the servers use, each connected and not printing, per printer."""
        time.sleep(self.settings.warmup)
        before = [_process_cpu(p.server.pid)[0] for p in self.printers]
        started = time.monotonic()
        time.sleep(self.settings.idle_window)
        after = [_process_cpu(p.server.pid)[0] for p in self.printers]
        return (sum(after) - sum(before)) / (time.monotonic() - started) / len(self.printers)

    def _wait_api(self, printer: Printer, deadline: float) -> None:
        while True:
            if printer.server.poll() is not None:
                raise RuntimeError(f"{self.kind} server {printer.index} exited")
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(
                    printer.url + "/api/version", headers=printer.headers(), timeout=10
                )
                if answer.status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} server {printer.index}: no API in time")
            time.sleep(0.5)

    def _connect(self, printer: Printer, deadline: float) -> None:
        """``POST /api/connection`` connect, then wait for "Operational"."""
        body = {"command": "connect", "port": str(printer.link), "baudrate": BAUDRATE}
        asked = False
        while True:
            if not asked:
                answer = requests.post(
                    printer.url + "/api/connection", json=body, headers=printer.headers(),
                    timeout=30,
                )  # fmt: skip
                asked = answer.status_code in (200, 204)
            if asked:
                state = requests.get(
                    printer.url + "/api/connection", headers=printer.headers(), timeout=30
                ).json()["current"]["state"]
                if state == "Operational":
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} printer {printer.index} did not connect")
            time.sleep(0.5)

    def _start_print(self, printer: Printer, deadline: float) -> None:
        """Upload the file with ``select`` and ``print``, as a slicer's "send and print" does."""
        name = f"{self.settings.gcode.stem}-{printer.started_prints}.gcode"
        answer = requests.post(
            printer.url + "/api/files/local",
            files={"file": (name, self.body, "application/octet-stream")},
            data={"select": "true", "print": "true"},
            headers=printer.headers(),
            timeout=300,
        )
        if answer.status_code != 201:
            raise RuntimeError(f"upload to {self.kind} {printer.index}: {answer.status_code}")
        printer.started_prints += 1
        while not self.printing(printer):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} printer {printer.index} did not start printing")
            time.sleep(0.5)

    def printing(self, printer: Printer) -> bool:
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            answer = requests.get(printer.url + "/api/job", headers=printer.headers(), timeout=30)
            return str(answer.json()["state"]).startswith("Printing")
        return False

    def keep_printing(self) -> None:
        """A printer whose job ended (the file ran out) starts it again."""
        deadline = time.monotonic() + self.settings.step_timeout
        for printer in self.printers:
            if not self.printing(printer):
                self._start_print(printer, deadline)

    # ----- measuring -----

    def measure(self, run: int) -> StepFigures:
        printers = self.printers
        time.sleep(self.settings.warmup)
        busy0, total0 = _host_busy()
        cpu0 = [_process_cpu(p.server.pid) for p in printers]
        sim0 = [sum(_process_cpu(p.sim.pid)) for p in printers]
        stats0 = [p.stats_now() for p in printers]
        started = time.monotonic()
        time.sleep(self.settings.window)
        window = time.monotonic() - started
        cpu1 = [_process_cpu(p.server.pid) for p in printers]
        sim1 = [sum(_process_cpu(p.sim.pid)) for p in printers]
        busy1, total1 = _host_busy()
        time.sleep(1.2)  # the simulators write their stats every second
        stats1 = [p.stats_now() for p in printers]
        samples = []
        for i, printer in enumerate(printers):
            memory = _memory(printer.server.pid)
            samples.append(
                PrinterSample(
                    cpu_seconds=cpu1[i][0] - cpu0[i][0],
                    children_cpu_seconds=cpu1[i][1] - cpu0[i][1],
                    rss_bytes=memory.get("Rss", 0),
                    pss_bytes=memory.get("Pss", 0),
                    lines=int(stats1[i]["executed"] - stats0[i]["executed"]),
                    moves=int(stats1[i]["moves"] - stats0[i]["moves"]),
                    starved=int(stats1[i]["starved"] - stats0[i]["starved"]),
                    starved_seconds=stats1[i]["starved_seconds"] - stats0[i]["starved_seconds"],
                    printing=self.printing(printer),
                )
            )
        return summarize(
            self.kind,
            run,
            window,
            samples,
            simulator_cpu_seconds=sum(sim1) - sum(sim0),
            host_busy=(busy1 - busy0) / max(total1 - total0, 1.0),
            load_average=os.getloadavg()[0],
        )

    def close(self) -> None:
        for printer in self.printers:
            stop_process(printer.server, timeout=20)
        for printer in self.printers:
            stop_process(printer.sim)


@contextlib.contextmanager
def fleet(kind: str, settings: Settings, octoprint: Path | None) -> Iterator[Fleet]:
    made = Fleet(kind, settings, octoprint)
    try:
        yield made
    finally:
        made.close()


def _enough_memory(settings: Settings, fleet_: Fleet, more: int) -> bool:
    """Room for ``more`` printers like the ones running, above a floor left to the others."""
    per_printer = 150 * 1024 * 1024
    if fleet_.printers:
        per_printer = max(_memory(p.server.pid).get("Rss", 0) for p in fleet_.printers) + (
            40 * 1024 * 1024
        )
    available = psutil.virtual_memory().available
    return available - more * per_printer > settings.memory_floor_mb * 1024 * 1024


def ramp(kind: str, run: int, settings: Settings, octoprint: Path | None) -> Ramp:
    result = Ramp(kind, run)
    began = time.monotonic()
    last_step = 0.0
    with fleet(kind, settings, octoprint) as printers:
        for n in settings.steps:
            # The next step starts more printers than the last: count it twice as long.
            if time.monotonic() - began + 2 * last_step > settings.server_cap:
                result.stopped = f"time cap ({settings.server_cap:.0f} s) before N={n}"
                break
            step_began = time.monotonic()
            more = n - len(printers.printers)
            if not _enough_memory(settings, printers, more):
                result.stopped = f"memory: no room for {n} printers"
                break
            print(f"[{kind} run {run}] N={n}: starting {more} more ...", flush=True)
            try:
                if not printers.printers and settings.idle_window > 0:
                    printers.grow(more, start=False)
                    result.idle_cpu = round(printers.idle_cpu(), 4)
                    print(
                        f"[{kind} run {run}] connected, idle: {result.idle_cpu} cores per printer"
                    )
                else:
                    printers.grow(more)
                printers.keep_printing()
            except (RuntimeError, requests.RequestException, OSError) as error:
                result.stopped = f"N={n} could not start: {error}"
                break
            step = printers.measure(run)
            result.steps.append(step)
            print(
                f"[{kind} run {run}] N={n}: {step.lines_per_s_per_printer} lines/s per printer,"
                f" CPU {step.cpu_per_printer:.4f} cores per printer"
                f" ({step.cpu_s_per_1000_lines} CPU-s/1000 lines),"
                f" RSS {step.rss_mb_per_printer} MB, PSS {step.pss_mb_per_printer} MB,"
                f" starved {step.starved} on {step.printers_starved} printers,"
                f" host busy {step.host_busy:.0%}",
                flush=True,
            )
            last_step = time.monotonic() - step_began
            if step.stutter:
                result.stopped = f"stutter at N={n}"
                break
        else:
            result.stopped = f"largest N of the ramp ({settings.steps[-1]}) without stutter"
    return result


def _parse_steps(text: str) -> tuple[int, ...]:
    steps = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    if not steps or steps[0] < 1:
        raise argparse.ArgumentTypeError("steps are printer counts of 1 or more, e.g. 1,5,10")
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=1,3; short windows (~3 min)")
    parser.add_argument("--runs", type=int, default=None, help="ramps per server (default 2)")
    parser.add_argument("--steps", type=_parse_steps, default=None, help="default 1,10,20,40")
    parser.add_argument("--window", type=float, default=None, help="seconds measured per step")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before each window")
    parser.add_argument("--server-cap", type=float, default=None, help="seconds per ramp")
    parser.add_argument("--servers", default=",".join(SERVERS), help="fabfleet,octoprint")
    parser.add_argument("--gcode", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--acceleration", type=float, default=4000.0, help="printer mm/s²")
    parser.add_argument("--octoprint-version", default=octoprint_setup.OCTOPRINT_VERSION)
    parser.add_argument("--cache", type=Path, default=None, help="where OctoPrint's venv lives")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory")
    parser.add_argument("--out", type=Path, default=None, help="write figures.json and .md here")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: one report of the runs saved in these --out JSON files",
    )
    args = parser.parse_args(argv)
    if args.report:
        documents = [json.loads(path.read_text(encoding="utf-8")) for path in args.report]
        headings = "; ".join(str(d.get("heading", "")) for d in documents)
        text, _ = report(ramps_from_json(documents), int(documents[0]["cores"]), headings)
        print(text)
        return 0
    quick = args.quick
    servers = [s for s in args.servers.split(",") if s]
    if any(s not in SERVERS for s in servers):
        parser.error(f"--servers takes {', '.join(SERVERS)}")
    runs = args.runs or (1 if quick else 2)
    work = args.work or Path(tempfile.mkdtemp(prefix="fabfleet-octoprint-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        gcode=args.gcode,
        steps=args.steps or ((1, 3) if quick else (1, 10, 20, 40)),
        warmup=args.warmup if args.warmup is not None else 10.0,
        window=args.window if args.window is not None else (15.0 if quick else 20.0),
        step_timeout=300.0,
        server_cap=args.server_cap or (240.0 if quick else 270.0),
        acceleration=args.acceleration,
        work=work,
    )
    octoprint = None
    version = ""
    if "octoprint" in servers:
        program = octoprint_setup.install(
            args.cache or octoprint_setup.default_cache(), args.octoprint_version
        )
        octoprint, version = program, octoprint_setup.installed_version(program)
    ramps: list[Ramp] = []
    for run in range(1, runs + 1):
        # Alternate the order, so neither kind always meets the same part of the machine's day.
        for kind in servers if run % 2 else list(reversed(servers)):
            ramps.append(ramp(kind, run, settings, octoprint))
    cores = os.cpu_count() or 1
    heading = (
        f"{len(servers)} server kinds, {runs} run(s), {cores} cores, file "
        f"{settings.gcode.name}, {BAUDRATE} baud, acceleration {settings.acceleration} mm/s²,"
        f" window {settings.window:.0f} s after {settings.warmup:.0f} s"
        + (f"; OctoPrint {version}" if version else "")
    )
    text, summaries = report(ramps, cores, heading)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "octoprint_compare.md").write_text(text + "\n", encoding="utf-8")
        figures = {
            "octoprint_version": version,
            "python": sys.version.split()[0],
            "cores": cores,
            "heading": heading,
            "settings": {**asdict(settings), "gcode": str(settings.gcode), "work": str(work)},
            "summaries": as_json(summaries),
            "ramps": as_json(ramps),
        }
        (args.out / "octoprint_compare.json").write_text(
            json.dumps(figures, indent=2) + "\n", encoding="utf-8"
        )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
