"""Two minimal reference senders that talk raw bytes to a printer's serial device."""

from __future__ import annotations

import os
import select
import termios
import time
import tty
from collections.abc import Sequence
from dataclasses import dataclass

# Replies that mean the printer lost or rejected a line: the run is void.
_TROUBLE = (b"Resend", b"rs ", b"Error", b"!!")


class SenderError(RuntimeError):
    """The printer asked for a resend, reported an error, or went silent."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one reference run achieved.

    ``seconds`` runs from the first write of the first line to the arrival of
    the last line's ok; ``cpu_seconds`` is this process's CPU time meanwhile.
    """

    lines: int
    seconds: float
    cpu_seconds: float
    max_in_flight: int

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def frame(number: int, command: str) -> bytes:
    """``N<number> <command>*<checksum>\\n``: the checksum is the XOR of the bytes before ``*``."""
    payload = f"N{number} {command}".encode("ascii")
    value = 0
    for byte in payload:
        value ^= byte
    return payload + b"*" + str(value).encode("ascii") + b"\n"


def open_port(path: str) -> int:
    """Open a serial device (a pty here) raw and non-blocking, with stale input thrown away."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIOFLUSH)
    except BaseException:
        os.close(fd)
        raise
    return fd


class OkCounter:
    """Counts the ``ok`` lines in a byte stream; raises SenderError on a resend or an error."""

    def __init__(self) -> None:
        self._partial = b"\n"

    def feed(self, data: bytes) -> int:
        """How many complete ``ok`` lines ``data`` finished."""
        text = self._partial + data
        end = text.rfind(b"\n") + 1
        complete, self._partial = text[:end], text[end - 1 :]
        if not complete:
            return 0
        for mark in _TROUBLE:
            if b"\n" + mark in complete:
                line = complete[complete.index(b"\n" + mark) + 1 :].split(b"\n", 1)[0]
                raise SenderError(f"printer answered {line.decode('latin-1').strip()!r}")
        return complete.count(b"\nok")


def _write_all(fd: int, data: bytes, timeout: float) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            written = 0
        view = view[written:]
        if view and not select.select([], [fd], [], timeout)[1]:
            raise SenderError(f"the printer took no bytes for {timeout} s")


def _read(fd: int, timeout: float) -> bytes:
    if not select.select([fd], [], [], timeout)[0]:
        raise SenderError(f"no answer from the printer for {timeout} s")
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def prepare(fd: int, timeout: float = 5.0) -> None:
    """Before a timed run: autoreports off (``M155 S0``), line numbering reset (``M110 N0``)."""
    counter = OkCounter()
    for data in (b"M155 S0\n", frame(0, "M110 N0")):
        _write_all(fd, data, timeout)
        deadline = time.monotonic() + timeout
        while not counter.feed(_read(fd, max(0.0, deadline - time.monotonic()))):
            pass
    # Anything else the printer still had to say (a late echo) is not part of the run.
    time.sleep(0.05)
    termios.tcflush(fd, termios.TCIFLUSH)


def one_in_flight(fd: int, commands: Sequence[str], timeout: float = 10.0) -> SendResult:
    """OctoPrint's and Printrun's strategy: send one numbered line, wait for its ok, repeat.

    Lines are numbered from 1 (call ``prepare`` first). Each line is framed
    just before it is written, as those hosts do.
    """
    counter = OkCounter()
    cpu0 = time.process_time()
    start = time.perf_counter()
    for number, command in enumerate(commands, 1):
        _write_all(fd, frame(number, command), timeout)
        oks = 0
        while not oks:
            oks = counter.feed(_read(fd, timeout))
        if oks > 1:
            raise SenderError(f"{oks} oks for line {number}: the count is off")
    seconds = time.perf_counter() - start
    return SendResult(len(commands), seconds, time.process_time() - cpu0, 1 if commands else 0)


def ideal_windowed(
    fd: int,
    commands: Sequence[str],
    command_slots: int = 4,
    rx_buffer: int = 128,
    timeout: float = 10.0,
) -> SendResult:
    """The most lines any host can keep in flight without overrunning this printer.

    "Ideal" means: the capacity rule of ``instance.protocol.flow.FlowWindow``
    at its most permissive, and nothing else. A line may go out when the
    unacknowledged lines beyond the first ``command_slots`` (those that wait
    in the printer's receive buffer while its command queue is full),
    including the new one, fit in ``rx_buffer`` bytes. Every line is framed
    before the clock starts; the loop does no parsing beyond counting lines
    that start with ``ok`` (and spotting a resend or error), writes every
    allowed line in one ``write``, and blocks in ``select``: no asyncio, no
    events, no records. It ignores ``ADVANCED_OK``'s ``P``/``B`` fields and
    FlowWindow's blocking rule, so it is an upper bound only on a printer
    whose commands never block the queue (``--move-timing instant``); on one
    that does, it may overrun the receive buffer, and then it raises
    SenderError instead of miscounting.

    Lines are numbered from 1 (call ``prepare`` first).
    """
    frames = [frame(number, command) for number, command in enumerate(commands, 1)]
    sizes = [len(data) for data in frames]
    total = len(frames)
    counter = OkCounter()
    sent = acked = 0
    beyond = 0  # bytes of the in-flight lines after the first command_slots
    max_in_flight = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    while acked < total:
        first = sent
        while sent < total:
            if sent - acked >= command_slots:
                if beyond + sizes[sent] > rx_buffer:
                    break
                beyond += sizes[sent]
            sent += 1
        if sent > first:
            max_in_flight = max(max_in_flight, sent - acked)
            _write_all(fd, b"".join(frames[first:sent]), timeout)
        oks = counter.feed(_read(fd, timeout))
        if acked + oks > sent:
            raise SenderError(f"{acked + oks} oks for {sent} lines sent: the count is off")
        for _ in range(oks):
            promoted = acked + command_slots
            if promoted < sent:
                beyond -= sizes[promoted]
            acked += 1
    seconds = time.perf_counter() - start
    return SendResult(total, seconds, time.process_time() - cpu0, max_in_flight)
