"""fabfleet-sim as a separate process, reached over a real pty and a real TCP socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from instance.protocol.framing import frame
from instance.sim.identities import IDENTITIES
from instance.sim.process import simulator_process
from instance.sim.runner import read_record, read_record_full

pytestmark = pytest.mark.timeout(120)

# How long to wait for something the simulator will do: only a failing test waits this
# long, so it is generous enough for a loaded machine.
PATIENCE = 30.0
# What the simulated Marlin prints when it boots. Opening a port (pyserial's ``open``)
# discards what has already arrived, so whether the host sees this banner, all of it
# or none, depends only on who was quicker: tests look at the other lines.
BANNER = frozenset(line.encode() for line in IDENTITIES["marlin2"].banner)


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
        code = self.process.wait(timeout=PATIENCE)
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process.stderr.close()
        return code


def read_until(port: serial.SerialBase, wanted: int, prefix: bytes = b"ok") -> list[bytes]:
    """Lines until ``wanted`` of them start with ``prefix`` (or PATIENCE seconds pass)."""
    lines: list[bytes] = []
    deadline = time.monotonic() + PATIENCE
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


def answers(lines: list[bytes]) -> list[bytes]:
    """The lines that answer the host: all but the boot banner."""
    return [line for line in lines if line not in BANNER]


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
            lines = answers(send_numbered(port))
            assert sum(line.startswith(b"ok") for line in lines) == len(COMMANDS), lines
            # A raw socket: pyserial's open would throw away a refusal that came quickly.
            assert b"another host is connected" in refusal(sim.where)
        # A new connection resets the board, as opening a serial port does: line 1 is
        # taken as the next line (the record below shows the reset too).
        assert reconnect_and_send(url, frame(1, "G1 X1")) == b"ok N1 P15 B3"
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
            # The boot banner may come first (or not): the answers are the two oks.
            assert answers(read_until(port, 2)) == [b"ok N1 P15 B3", b"ok N2 P15 B3"]
            port.write(frame(3, "G1 X3"))
            with pytest.raises(serial.SerialException):
                read_for(port, PATIENCE)
        _wait_for(link)
        with serial.Serial(str(link), timeout=0.2) as port:
            port.write(frame(1, "M105"))
            lines = answers(read_until(port, 1))
            assert len(lines) == 1 and lines[0].startswith(b"ok T:"), lines
    finally:
        assert sim.stop() == 0
    commands, resets = read_record(record)
    assert commands == ["G1 X1", "G1 X2", "M105"]
    assert resets == [2]


def read_for(port: serial.SerialBase, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        port.read(100)


def refusal(where: str) -> bytes:
    """Everything a second host gets before the simulator hangs up on it."""
    host, port = where.rsplit(":", 1)
    received = b""
    with socket.create_connection((host, int(port)), timeout=PATIENCE) as connection:
        while chunk := connection.recv(4096):
            received += chunk
    return received


def reconnect_and_send(url: str, line: bytes) -> bytes:
    """Connect again, send ``line``, return the ok it gets.

    The simulator may take the new connection before it has seen the last one close,
    and refuse it: the host tries again, as one would after "printer busy".
    """
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            with serial.serial_for_url(url, timeout=0.2) as port:
                port.write(line)
                lines = answers(read_until(port, 1))
                if lines and lines[-1].startswith(b"ok"):
                    return lines[-1]
                if not any(b"another host is connected" in x for x in lines):
                    raise AssertionError(f"no ok for {line!r}: {lines}")
        except serial.SerialException:
            pass  # refused and closed before the refusal was read
        assert time.monotonic() < deadline, "the simulator kept refusing a new connection"
        time.sleep(0.05)


def _wait_for(path: Path) -> bool:
    deadline = time.monotonic() + PATIENCE
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


def test_tails_reach_the_record_of_a_simulator_over_a_pty(tmp_path):
    # Five lines in one write at 250000 baud; line 2 is damaged on the wire. Marlin 2.1
    # drains once its Error line is out (38 bytes): the drain falls inside line 4, whose
    # end arrives on its own, without N, and runs. The record tells the test so.
    move = "G1 X135.663 Y118.115 E0.59040 F3000"
    third = frame(3, "G1 X10.5 Y" + "7" * 18)
    assert len(third) == 35  # the drain falls 3 bytes into line 4: "N4 " is lost
    burst = frame(1, "G28") + frame(2, "G1 X10 Y10") + third + frame(4, move) + frame(5, "M400")
    with (
        simulator_process(
            tmp_path,
            "--baud",
            "250000",
            "--service-jitter",
            "0",
            "--fault",
            "corrupt_line:at_line=2",
        ) as sim,
        serial.Serial(sim.port, timeout=0.2) as port,
    ):
        # First an answer that comes after the boot banner, so the wire back is free.
        port.write(b"M110 N0\n")
        read_until(port, 1)
        port.write(burst)
        lines = read_until(port, 2, prefix=b"Resend")
        assert b"Error:checksum mismatch, Last Line: 1" in lines
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline and len(sim.executed()) < 3:
            time.sleep(0.05)
        record = read_record_full(sim.record)
    [tail] = record.tails
    assert tail.executed and tail.index is not None
    assert record.executed[tail.index] == tail.command
    # Everything executed is the file's first line plus the tail: nothing else ran.
    assert [c for i, c in enumerate(record.executed) if i != tail.index] == ["M110 N0", "G28"]
    assert tail.command == move and tail.outcome == "executed"
    assert sim.tails() == record.tails
