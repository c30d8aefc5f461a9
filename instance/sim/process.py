"""The simulator as a separate process, started as a user starts it (tests, benchmarks, demos)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from instance.sim.firmware import Tail
from instance.sim.runner import read_record, read_record_full

BIN = Path(sys.executable).parent


@dataclass
class SimulatorProcess:
    """A running ``fabfleet-sim``: where to connect, and the file of what it executed."""

    process: subprocess.Popen[str]
    port: str
    record: Path

    def executed_with_resets(self) -> tuple[list[str], list[int]]:
        """Every command executed so far, and where in that list the board reset."""
        if not self.record.exists():
            return [], []
        return read_record(self.record)

    def executed(self) -> list[str]:
        """Every command executed so far."""
        return self.executed_with_resets()[0]

    def tails(self) -> list[Tail]:
        """Every line end a receive-buffer drain cut off, as the record holds them so far."""
        if not self.record.exists():
            return []
        return read_record_full(self.record).tails


def stop_process(process: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not go; close its pipes either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def simulator_process(
    directory: Path, *args: str, tcp: bool = False, name: str = "printer"
) -> Iterator[SimulatorProcess]:
    """``fabfleet-sim`` on a pty behind the link ``directory/name`` (or on a TCP port)."""
    record = directory / f"{name}-executed.txt"
    where = ["--tcp", "127.0.0.1:0"] if tcp else ["--pty", str(directory / name)]
    process = subprocess.Popen(
        [str(BIN / "fabfleet-sim"), *where, "--record", str(record), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if "listening on" not in first:
            process.kill()
            _, errors = process.communicate(timeout=10)
            raise RuntimeError(f"fabfleet-sim did not start: {first!r} {errors}")
        address = first.rsplit("listening on", 1)[1].strip()
        port = f"socket://{address}" if tcp else str(directory / name)
        yield SimulatorProcess(process, port, record)
    finally:
        stop_process(process)
