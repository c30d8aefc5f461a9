"""Start ``fabfleet-sim`` and ``fabfleet-instance`` as real processes, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from instance.gcode_file import GcodeFile
from instance.sim.process import BIN, SimulatorProcess, simulator_process

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GCODE = FIXTURES / "gcode"
# Commands our host sends on its own (handshake, temperature reports).
HOST_COMMANDS = frozenset({"M110 N0", "M115", "M155 S1", "M105"})


Simulator = SimulatorProcess
simulator = simulator_process


def _print_command(port: str, path: Path, data_dir: Path, extra: tuple[str, ...]) -> list[str]:
    return [
        str(BIN / "fabfleet-instance"),
        "print",
        "--port",
        port,
        "--data-dir",
        str(data_dir),
        "--quiet",
        *extra,
        str(path),
    ]


def print_file(
    port: str,
    path: Path,
    data_dir: Path,
    *extra: str,
    timeout: float = 240.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``fabfleet-instance print`` to the end."""
    return subprocess.run(
        _print_command(port, path, data_dir, extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def start_print(port: str, path: Path, data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _print_command(port, path, data_dir, extra),
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
