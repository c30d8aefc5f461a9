"""`fabfleet demo`: a fleet of simulated printers with their pages, as local processes.

No Docker and no root: each printer is a ``fabfleet-sim`` on a TCP port of
127.0.0.1 with a ``fabfleet-instance serve`` in front of it, whose page is at
``http://127.0.0.1:<port>/``. Ctrl-C (or SIGTERM) stops every process.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

BIN = Path(sys.executable).parent
# Real slicer output from the checkout, put on each demo printer when present.
SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "gcode"
SAMPLE_FILES = ("cube_prusa_marlin2.gcode", "cube_slic3r.gcode", "flower_prusa_limits.gcode")
START_SECONDS = 30.0


class DemoError(Exception):
    """A demo process did not start; the message says which and why."""


@dataclass(frozen=True, slots=True)
class DemoPrinter:
    """One running demo printer."""

    name: str
    url: str
    simulator: str


def _wait_for_line(process: subprocess.Popen[str], marker: str, what: str, log: Path) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if marker not in line:
        process.kill()
        process.wait()
        raise DemoError(f"{what} did not start: {line.strip() or 'no output'} (log: {log})")
    return line


def _wait_healthy(url: str, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url + "api/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise DemoError(f"{what} did not answer at {url} within {START_SECONDS:.0f} s")
        time.sleep(0.1)


class Demo:
    """Starts and stops the demo's processes; use as a context manager."""

    def __init__(self, workdir: Path, printers: int, first_port: int, time_factor: float) -> None:
        self.workdir = workdir
        self.count = printers
        self.first_port = first_port
        self.time_factor = time_factor
        self.processes: list[subprocess.Popen[str]] = []
        self.printers: list[DemoPrinter] = []

    def _spawn(self, command: list[str], log: Path) -> subprocess.Popen[str]:
        with log.open("w") as errors:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True
            )
        self.processes.append(process)
        return process

    def start(self, progress: Callable[[str], None]) -> list[DemoPrinter]:
        """Every printer running and answering; raises DemoError if one does not start."""
        for index in range(1, self.count + 1):
            name = f"demo-{index}"
            home = self.workdir / name
            (home / "data" / "files").mkdir(parents=True, exist_ok=True)
            for sample in SAMPLE_FILES:
                if (SAMPLES / sample).exists():
                    shutil.copyfile(SAMPLES / sample, home / "data" / "files" / sample)
            sim = self._spawn(
                [str(BIN / "fabfleet-sim"), "--tcp", "127.0.0.1:0",
                 "--move-timing", "accelerated", "--time-factor", f"{self.time_factor:g}"],
                home / "simulator.log",
            )  # fmt: skip
            line = _wait_for_line(sim, "listening on", f"the simulator of {name}", home)
            address = line.rsplit("listening on", 1)[1].strip()
            port = self.first_port + index - 1
            server = self._spawn(
                [str(BIN / "fabfleet-instance"), "serve", "--port", f"socket://{address}",
                 "--data-dir", str(home / "data"), "--listen", f"127.0.0.1:{port}",
                 "--printer", name],
                home / "server.log",
            )  # fmt: skip
            _wait_for_line(server, " on http://", f"the print server of {name}", home)
            url = f"http://127.0.0.1:{port}/"
            _wait_healthy(url, f"the print server of {name}")
            self.printers.append(DemoPrinter(name, url, address))
            progress(f"{name}: {url}  (simulated Marlin on {address})")
        return self.printers

    def stop(self) -> None:
        """SIGTERM to every process (print servers first), SIGKILL to any that stays."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def demo_directory(given: Path | None) -> Iterator[Path]:
    """``given``, kept afterwards; or a temporary directory removed at the end."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="fabfleet-demo-") as temporary:
        yield Path(temporary)


def run_demo(
    printers: int,
    first_port: int,
    time_factor: float,
    data_dir: Path | None,
    say: Callable[[str], None],
) -> bool:
    """Run the demo until Ctrl-C or SIGTERM (True), or until a process dies (False)."""
    signal.signal(signal.SIGTERM, _interrupt)
    with (
        demo_directory(data_dir) as workdir,
        Demo(workdir, printers, first_port, time_factor) as demo,
    ):
        say(f"starting {printers} simulated printers (moves and heating {time_factor:g}x faster)")
        demo.start(say)
        say("open a page, pick a file and press Print; Ctrl-C stops the demo")
        try:
            while all(p.poll() is None for p in demo.processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            say("stopping")
            return True
        say(f"a demo process stopped by itself; stopping the rest (logs: {workdir}/demo-*/)")
        return False
