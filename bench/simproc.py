"""Start ``fabfleet-sim`` on a pty as a separate process, as a user would."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
# The printer of the benchmarks: 250000 baud pacing, BUFSIZE 4, a 128-byte receive buffer.
BENCH_PRINTER = ("--baud", "250000", "--command-buffer", "4", "--rx-buffer", "128")


@dataclass
class SimProcess:
    """A running simulator: its pty link path and the file it records executed commands to."""

    process: subprocess.Popen[str]
    port: str
    record: Path

    def executed(self) -> list[str]:
        """Every command executed so far (reset marks dropped)."""
        if not self.record.exists():
            return []
        text = self.record.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if line != "<reset>"]


@contextlib.contextmanager
def simulator(directory: Path, *args: str, name: str = "printer") -> Iterator[SimProcess]:
    """``fabfleet-sim --pty DIR/NAME --record DIR/NAME.record ARGS`` until the block ends."""
    link = directory / name
    record = directory / f"{name}.record"
    process = subprocess.Popen(
        [str(BIN / "fabfleet-sim"), "--pty", str(link), "--record", str(record), *args],
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
        yield SimProcess(process, str(link), record)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
