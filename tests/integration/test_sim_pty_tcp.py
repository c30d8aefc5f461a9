"""fabfleet-sim as a separate process, reached over a real pty and a real TCP socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from instance.protocol.framing import frame
from instance.sim.runner import read_record

pytestmark = pytest.mark.timeout(30)


class Sim:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "instance.sim.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        assert first.startswith("fabfleet-sim: listening on "), first
        self.where = first.removeprefix("fabfleet-sim: listening on ")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=5)
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process.stderr.close()
        return code


def read_until(port: serial.SerialBase, wanted: int, prefix: bytes = b"ok") -> list[bytes]:
    """Lines until ``wanted`` of them start with ``prefix`` (or two seconds pass)."""
    lines: list[bytes] = []
    deadline = time.monotonic() + 2.0
    while sum(line.startswith(prefix) for line in lines) < wanted and time.monotonic() < deadline:
        line = port.readline()
        if line:
            lines.append(line.strip())
    return lines


COMMANDS = ["M110 N0", "G28", "G1 X10 Y10 F3000", "M105", "M114"]


def send_numbered(port: serial.SerialBase) -> list[bytes]:
    port.write(b"M110 N0\n")
    port.write(b"".join(frame(i + 1, c) for i, c in enumerate(COMMANDS[1:])))
    return read_until(port, len(COMMANDS))


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "record.txt"


def test_over_a_pty(tmp_path, record):
    link = tmp_path / "printer-x"
    sim = Sim("--pty", str(link), "--record", str(record))
    try:
        assert sim.where == str(link)
        with serial.Serial(str(link), 250000, timeout=0.2) as port:
            lines = send_numbered(port)
        oks = [line for line in lines if line.startswith(b"ok")]
        assert oks[0] == b"ok P15 B3"
        assert b"ok N2 P15 B3" in oks
        assert any(line.startswith(b"X:10.00 Y:10.00") for line in lines)
    finally:
        assert sim.stop() == 0
    assert "Traceback" not in sim.stderr
    assert read_record(record) == (COMMANDS, [])


def test_over_tcp_one_host_at_a_time(record):
    sim = Sim("--tcp", "127.0.0.1:0", "--record", str(record))
    try:
        url = f"socket://{sim.where}"
        with serial.serial_for_url(url, timeout=0.2) as port:
            assert read_until(port, 1, b"start")[-1] == b"start"
            lines = send_numbered(port)
            assert sum(line.startswith(b"ok") for line in lines) == len(COMMANDS)
            with serial.serial_for_url(url, timeout=0.5) as second:
                refusal = second.readline()
                assert b"another host is connected" in refusal
        # A new connection resets the board, as opening a serial port does.
        with serial.serial_for_url(url, timeout=0.2) as port:
            assert read_until(port, 1, b"start")[-1] == b"start"
            port.write(frame(1, "G1 X1"))
            assert read_until(port, 1)[-1] == b"ok N1 P15 B3"
    finally:
        assert sim.stop() == 0
    commands, resets = read_record(record)
    assert commands == [*COMMANDS, "G1 X1"]
    # Every connection resets the board, the first one too.
    assert resets == [0, len(COMMANDS)]


def test_unplug_on_a_pty_then_the_link_works_again(tmp_path, record):
    link = tmp_path / "printer-y"
    sim = Sim(
        "--pty", str(link), "--record", str(record), "--fault", "unplug:at_line=3,seconds=0.5"
    )
    try:
        with serial.Serial(str(link), timeout=0.2) as port:
            port.write(frame(1, "G1 X1") + frame(2, "G1 X2"))
            assert len(read_until(port, 2)) == 2
            port.write(frame(3, "G1 X3"))
            with pytest.raises(serial.SerialException):
                read_for(port, 3.0)
        _wait_for(link)
        with serial.Serial(str(link), timeout=0.2) as port:
            port.write(frame(1, "M105"))
            lines = read_until(port, 1)
            assert lines[-1].startswith(b"ok T:")
    finally:
        assert sim.stop() == 0
    commands, resets = read_record(record)
    assert commands == ["G1 X1", "G1 X2", "M105"]
    assert resets == [2]


def read_for(port: serial.SerialBase, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        port.read(100)


def _wait_for(path: Path) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    raise AssertionError(f"{path} did not come back")


def test_bad_flags_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "instance.sim.cli", "--move-timing", "warp"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_faults_read_in_part_is_not_an_error():
    # `fabfleet-sim --list-faults | head -0`: the reader is gone before the list is written.
    lister = subprocess.Popen(
        [sys.executable, "-m", "instance.sim.cli", "--list-faults"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert lister.stdout is not None and lister.stderr is not None
    lister.stdout.close()
    errors = lister.stderr.read()
    lister.stderr.close()
    assert lister.wait(timeout=10) == 0
    assert errors == ""
