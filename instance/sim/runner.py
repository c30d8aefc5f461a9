"""Run a simulated printer on the real clock: over a pty, over TCP, or in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import tty
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from instance.sim.faults import Fault
from instance.sim.firmware import SimulatedFirmware, Tail
from instance.sim.options import SimOptions

log = logging.getLogger("fabfleet.sim")

RESET_MARK = "<reset>"
# A tail: "<tail> " and a JSON object (text, command, outcome, executed, index), written
# just before the executed command it became (if it became one).
TAIL_MARK = "<tail>"
# A pty nobody reads fills up; a real serial port with nobody listening loses the bytes too.
_MAX_PENDING = 1 << 16


@dataclass
class Record:
    """A record file read back: executed commands, resets and tails (see ``Tail``)."""

    executed: list[str] = field(default_factory=list)
    resets: list[int] = field(default_factory=list)
    tails: list[Tail] = field(default_factory=list)


def read_record_full(path: str | os.PathLike[str]) -> Record:
    """Everything a record file holds; a tail's ``index`` is its place in ``executed``."""
    record = Record()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line == RESET_MARK:
            record.resets.append(len(record.executed))
        elif line.startswith(TAIL_MARK + " "):
            data = json.loads(line[len(TAIL_MARK) + 1 :])
            record.tails.append(
                Tail(
                    text=str(data["text"]),
                    command=str(data["command"]),
                    outcome=str(data["outcome"]),
                    executed=bool(data["executed"]),
                    index=len(record.executed) if data["executed"] else None,
                )
            )
        else:
            record.executed.append(line)
    return record


def read_record(path: str | os.PathLike[str]) -> tuple[list[str], list[int]]:
    """A record file as (executed commands, index in them of each reset)."""
    record = read_record_full(path)
    return record.executed, record.resets


class _Board:
    """One simulated board on the real clock. One task (``_serve``) owns the firmware.

    Transports hand bytes in with ``_input``; subclasses say where output goes
    and how to pull the cable.
    """

    def __init__(
        self, options: SimOptions, faults: Iterable[Fault], record_path: str | None
    ) -> None:
        self._t0 = time.monotonic()
        self._firmware = SimulatedFirmware(options, tuple(faults), now=0.0)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._record_path = record_path
        self._record: IO[str] | None = None
        self._recorded = 0
        self._resets_recorded = 0
        self._tails_recorded = 0
        self._unplugged_until: float | None = None

    @property
    def firmware(self) -> SimulatedFirmware:
        return self._firmware

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _start(self) -> None:
        if self._task is None:
            if self._record_path is not None and self._record is None:
                self._record = open(self._record_path, "a", encoding="utf-8")  # noqa: SIM115
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _stop(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._flush_record()
        if self._record is not None:
            self._record.close()
            self._record = None

    def _input(self, data: bytes) -> None:
        self._firmware.receive(data, self.now())
        self._wake.set()

    async def _serve(self) -> None:
        firmware = self._firmware
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                out = firmware.poll(self.now())
                # Recorded before its ok leaves: a process killed in between must not have
                # acknowledged a line its record lacks (the soak would count a false gap).
                self._flush_record()
                if out and self._unplugged_until is None:
                    self._output(out)
                while firmware.link_requests:
                    request = firmware.link_requests.pop(0)
                    if request.what == "unplug":
                        await self._unplug(request.seconds)
                    else:
                        self._stall(request.seconds)
                deadline = firmware.next_deadline()
                if self._unplugged_until is not None:
                    if deadline is None or deadline > self._unplugged_until:
                        deadline = self._unplugged_until
                    if self.now() >= self._unplugged_until:
                        self._unplugged_until = None
                        await self._replug()
                        continue
                self._wake.clear()
                timer = None
                if deadline is not None:
                    delay = max(0.0, deadline - self.now())
                    timer = loop.call_later(delay, self._wake.set)
                await self._wake.wait()
                if timer is not None:
                    timer.cancel()
        except Exception:
            log.exception("simulated printer crashed")
            raise

    def _flush_record(self) -> None:
        record = self._record
        if record is None:
            return
        executed, resets = self._firmware.executed, self._firmware.resets
        tails = self._firmware.tails
        wrote = False
        while True:
            tail = tails[self._tails_recorded] if self._tails_recorded < len(tails) else None
            # A tail still in the queue has no place yet: it comes after everything executed.
            tail_ready = tail is not None and tail.outcome != "pending"
            tail_at = len(executed) if tail is None or tail.index is None else tail.index
            if (
                self._resets_recorded < len(resets)
                and resets[self._resets_recorded] <= self._recorded
            ):
                record.write(RESET_MARK + "\n")
                self._resets_recorded += 1
            elif tail is not None and tail_ready and tail_at <= self._recorded:
                record.write(TAIL_MARK + " " + json.dumps(tail.as_dict()) + "\n")
                self._tails_recorded += 1
            elif self._recorded < len(executed) and (
                tail is None or not tail_ready or self._recorded < tail_at
            ):
                record.write(executed[self._recorded] + "\n")
                self._recorded += 1
            else:
                break
            wrote = True
        if wrote:
            record.flush()

    # Subclasses fill these in.
    def _output(self, data: bytes) -> None:
        raise NotImplementedError

    async def _unplug(self, seconds: float) -> None:
        self._unplugged_until = self.now() + seconds

    async def _replug(self) -> None:
        self._firmware.reset(self.now())

    def _stall(self, seconds: float) -> None:
        """The firmware already holds back the bytes; transports may also stop reading."""


class PtyServer(_Board):
    """A printer behind a pty; ``path`` is the device, ``link_path`` a stable symlink to it."""

    def __init__(
        self,
        options: SimOptions,
        faults: Iterable[Fault],
        link_path: str | None,
        record_path: str | None = None,
    ) -> None:
        super().__init__(options, faults, record_path)
        self.link_path = link_path
        self.path = ""
        self._master = -1
        self._slave = -1
        self._pending = bytearray()
        self._reading = False

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw: no echo, no CR/LF translation, no line discipline between host and printer.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self.link_path is not None:
            temporary = f"{self.link_path}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            os.symlink(self.path, temporary)
            os.replace(temporary, self.link_path)
        self._resume_reading()
        log.info("pty %s%s", self.path, f" (link {self.link_path})" if self.link_path else "")

    def _close_pty(self) -> None:
        loop = asyncio.get_running_loop()
        if self._master >= 0:
            self._pause_reading()
            loop.remove_writer(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
        self._pending.clear()
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link_path)

    def _resume_reading(self) -> None:
        if self._master >= 0 and not self._reading:
            asyncio.get_running_loop().add_reader(self._master, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._master >= 0 and self._reading:
            asyncio.get_running_loop().remove_reader(self._master)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            # EIO: no process has the slave open; wait for the next write to notice a host.
            return
        if data:
            self._input(data)

    def _output(self, data: bytes) -> None:
        if self._master < 0:
            return
        if self._pending:
            self._pending += data
            del self._pending[:-_MAX_PENDING]
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        if written < len(data):
            self._pending += data[written:]
            del self._pending[:-_MAX_PENDING]
            asyncio.get_running_loop().add_writer(self._master, self._on_writable)

    def _on_writable(self) -> None:
        try:
            written = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        del self._pending[:written]
        if not self._pending:
            asyncio.get_running_loop().remove_writer(self._master)

    def _stall(self, seconds: float) -> None:
        # Stop draining the pty: once its buffer fills, the host's writes block.
        self._pause_reading()
        asyncio.get_running_loop().call_later(seconds, self._resume_reading)

    async def _unplug(self, seconds: float) -> None:
        log.info("unplugged for %.1f s", seconds)
        self._close_pty()
        await super()._unplug(seconds)

    async def _replug(self) -> None:
        self._open_pty()
        await super()._replug()
        log.info("plugged in again at %s", self.path)

    async def close(self) -> None:
        await self._stop()
        self._close_pty()


async def serve_pty(
    options: SimOptions,
    faults: Iterable[Fault],
    link_path: str | None,
    record_path: str | None = None,
) -> PtyServer:
    """Open a pty (and the symlink ``link_path`` to it) and serve a printer there until closed."""
    server = PtyServer(options, faults, link_path, record_path)
    server._open_pty()
    server._start()
    return server


class TcpServer(_Board):
    """A printer behind a TCP port, one host at a time; each connection resets the board."""

    def __init__(
        self,
        options: SimOptions,
        faults: Iterable[Fault],
        host: str,
        port: int,
        record_path: str | None = None,
    ) -> None:
        super().__init__(options, faults, record_path)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            writer.write(b"Error:fabfleet-sim: printer busy, another host is connected\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._writer = writer
        # Opening a serial port pulls DTR: the board resets.
        self._firmware.reset(self.now())
        self._wake.set()
        try:
            while True:
                paused = self._firmware.input_paused_until() - self.now()
                if paused > 0:
                    await asyncio.sleep(paused)
                data = await reader.read(65536)
                if not data or writer is not self._writer:
                    break
                self._input(data)
        except ConnectionError:
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            if task is not None:
                self._connections.discard(task)

    def _output(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def _unplug(self, seconds: float) -> None:
        log.info("unplugged for %.1f s", seconds)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._server is not None:
            self._server.close()
            self._server = None
        await super()._unplug(seconds)

    async def _replug(self) -> None:
        await self._listen()
        await super()._replug()

    async def close(self) -> None:
        await self._stop()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._connections):
            task.cancel()


async def serve_tcp(
    options: SimOptions,
    faults: Iterable[Fault],
    host: str,
    port: int,
    record_path: str | None = None,
) -> TcpServer:
    """Serve a printer on ``host:port`` until closed (port 0: any free port, see ``.port``)."""
    server = TcpServer(options, faults, host, port, record_path)
    await server._listen()
    server._start()
    return server


class InProcessLink(_Board):
    """A printer in the same event loop, for the host's transport layer and tests.

    ``read`` raises ConnectionError while the printer is unplugged (and after
    ``close``); ``open`` works again once the unplug delay is over, and resets
    the board as opening a serial port does (except the first open, which
    meets a freshly powered board).
    """

    def __init__(
        self,
        options: SimOptions | None = None,
        faults: Iterable[Fault] = (),
        record_path: str | None = None,
    ) -> None:
        super().__init__(options or SimOptions(), faults, record_path)
        self._received: asyncio.Queue[bytes] = asyncio.Queue()
        self._open = False
        self._opened_before = False
        self._lost = False

    async def open(self) -> None:
        if self._unplugged_until is not None:
            if self.now() < self._unplugged_until:
                raise ConnectionError("printer unplugged")
            # Nobody was serving the board while the cable was out: plug it back in here.
            self._unplugged_until = None
        if self._opened_before:
            self._firmware.reset(self.now())
        self._opened_before = True
        self._open = True
        self._lost = False
        self._received = asyncio.Queue()
        self._start()
        self._wake.set()

    def write(self, data: bytes) -> None:
        if not self._open or self._lost:
            raise ConnectionError("printer link is not open")
        self._input(data)

    async def read(self) -> bytes:
        if not self._open or self._lost:
            raise ConnectionError("printer link is not open")
        data = await self._received.get()
        if not data:
            raise ConnectionError("printer unplugged")
        return data

    async def close(self) -> None:
        self._open = False
        self._received.put_nowait(b"")
        await self._stop()

    def _output(self, data: bytes) -> None:
        if self._open and not self._lost:
            self._received.put_nowait(data)

    async def _unplug(self, seconds: float) -> None:
        self._lost = True
        self._received.put_nowait(b"")
        await super()._unplug(seconds)

    async def _replug(self) -> None:
        # The board is powered again, but nothing is connected until the host opens it.
        self._open = False
        await super()._replug()
