"""Start ``fabfleet-sim`` and ``fabfleet-instance`` as real processes, as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from instance.gcode_file import GcodeFile
from instance.sim.runner import read_record

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GCODE = FIXTURES / "gcode"
# Commands our host sends on its own (handshake, temperature reports).
HOST_COMMANDS = frozenset({"M110 N0", "M115", "M155 S1", "M105"})


@dataclass
class Simulator:
    process: subprocess.Popen[str]
    port: str
    record: Path

    def executed(self) -> tuple[list[str], list[int]]:
        return read_record(self.record)


@contextmanager
def simulator(
    tmp_path: Path, *args: str, tcp: bool = False, name: str = "printer"
) -> Iterator[Simulator]:
    """A simulated printer on a pty (behind a stable link path) or a TCP port."""
    record = tmp_path / f"{name}-executed.txt"
    where = ["--tcp", "127.0.0.1:0"] if tcp else ["--pty", str(tmp_path / name)]
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
        where_text = first.rsplit("listening on", 1)[1].strip()
        port = f"socket://{where_text}" if tcp else str(tmp_path / name)
        yield Simulator(process, port, record)
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


def print_file(
    port: str,
    path: Path,
    data_dir: Path,
    *extra: str,
    timeout: float = 240.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``fabfleet-instance print`` to the end."""
    return subprocess.run(
        [
            str(BIN / "fabfleet-instance"),
            "print",
            "--port",
            port,
            "--data-dir",
            str(data_dir),
            "--quiet",
            *extra,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def start_print(port: str, path: Path, data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "fabfleet-instance"),
            "print",
            "--port",
            port,
            "--data-dir",
            str(data_dir),
            "--quiet",
            *extra,
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def jobs(data_dir: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(BIN / "fabfleet-instance"), "jobs", "--json", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def file_commands(path: Path) -> list[str]:
    return [line.command for line in GcodeFile(path).iter_commands()]


def printed_commands(executed: list[str], file_commands: list[str]) -> list[str]:
    """What the printer executed of the file: the record without the host's own commands."""
    own = HOST_COMMANDS - set(file_commands)
    return [command for command in executed if command not in own]


def excerpt(source: Path, destination: Path, commands: int) -> Path:
    """The first ``commands`` commands of a real slicer file, as a file of its own."""
    lines: list[str] = []
    count = 0
    with source.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            lines.append(line)
            if line.split(";", 1)[0].strip():
                count += 1
                if count >= commands:
                    break
    destination.write_text("".join(lines), encoding="utf-8")
    return destination
