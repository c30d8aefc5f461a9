"""The live link to one printer: a transport, the protocol core, one reader, one writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from instance.protocol.connection import Event, LinkState, PrinterConnection
from instance.protocol.events import Acknowledged, Halted, LinkLost, PrinterReset, Ready
from instance.transport.base import Transport, TransportError
from instance.transport.open import open_transport

log = logging.getLogger(__name__)

TransportOpener = Callable[[], Awaitable[Transport]]
Listener = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How to reach one printer and how big its buffers are."""

    port: str
    baudrate: int = 250000
    command_slots: int = 4
    rx_buffer: int = 128
    response_timeout: float = 10.0
    reconnect_delay: float = 1.0
    hupcl: bool = False


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[None]


class CommandFailed(RuntimeError):
    """A command could not be carried out (link lost, printer halted or reset)."""


class PrinterLink:
    """Keeps one printer connected (reconnecting by itself) and streams commands to it.

    Events from the protocol core go to ``listener`` in the order they
    happen.  ``send`` queues a command; ``execute`` queues one and waits for
    its ok.
    """

    def __init__(
        self,
        settings: LinkSettings,
        listener: Listener,
        *,
        opener: TransportOpener | None = None,
        line_log: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._listener = listener
        self._opener = opener or (
            lambda: open_transport(settings.port, settings.baudrate, hupcl=settings.hupcl)
        )
        self.core = PrinterConnection(
            time.monotonic,
            command_slots=settings.command_slots,
            rx_buffer=settings.rx_buffer,
            response_timeout=settings.response_timeout,
            line_log=line_log,
        )
        self._transport: Transport | None = None
        self._wake_writer = asyncio.Event()
        self._wake_timer = asyncio.Event()
        self._ready = asyncio.Event()
        self._waiters: dict[int, _Waiter] = {}
        self._next_waiter = 0
        self._stopping = False
        self.last_error: str | None = None
        self.connected_once = asyncio.Event()

    # ------------------------------------------------------------------ public

    @property
    def ready(self) -> bool:
        return self.core.state is LinkState.READY and self._transport is not None

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def send(self, command: str, tag: object = None) -> None:
        self.core.send(command, tag)
        self._wake_writer.set()

    def emergency(self, command: str) -> None:
        self.core.send_emergency(command)
        self._pump_events()
        self._wake_writer.set()

    async def execute(self, command: str) -> None:
        """Send ``command`` and wait until the printer acknowledged it."""
        if not self.ready:
            raise CommandFailed(f"printer not ready, cannot send {command!r}")
        key = self._next_waiter
        self._next_waiter += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[key] = _Waiter(future)
        self.send(command, _WaiterTag(key))
        try:
            await future
        finally:
            self._waiters.pop(key, None)

    def withdraw_queued(self) -> list[tuple[str, object]]:
        return self.core.withdraw_queued()

    async def run(self) -> None:
        """Connect, serve, and reconnect after every loss until ``stop``."""
        while not self._stopping:
            try:
                transport = await self._opener()
            except TransportError as error:
                self._note_error(str(error))
                await self._pause_before_retry()
                continue
            self._transport = transport
            self.last_error = None
            try:
                await self._serve(transport)
            finally:
                self._transport = None
                self._ready.clear()
                with contextlib.suppress(Exception):
                    await transport.close()
            if not self._stopping:
                await self._pause_before_retry()

    async def stop(self) -> None:
        self._stopping = True
        self._wake_writer.set()
        self._wake_timer.set()
        transport = self._transport
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()

    # ---------------------------------------------------------------- serving

    async def _serve(self, transport: Transport) -> None:
        core = self.core
        core.connect()
        self._wake_writer.set()
        reader = asyncio.create_task(self._read_loop(transport), name="printer reader")
        writer = asyncio.create_task(self._write_loop(transport), name="printer writer")
        timer = asyncio.create_task(self._timer_loop(), name="printer timer")
        tasks = {reader, writer, timer}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    error = task.exception()
                    self._note_error(f"link failed: {error}")
                    log.error("printer link task failed", exc_info=error)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if core.state is not LinkState.LOST:
            reason = self.last_error or "port closed"
            core.receive_data(b"")  # marks the core lost with an end-of-stream reason
            self._pump_events(override_reason=None if self._stopping else reason)

    async def _read_loop(self, transport: Transport) -> None:
        core = self.core
        while True:
            try:
                data = await transport.read()
            except TransportError as error:
                self._note_error(f"printer disconnected: {error}")
                return
            if not data:
                self._note_error("printer disconnected: the port closed")
                return
            core.receive_data(data)
            self._pump_events()
            if core.state is LinkState.LOST:
                return
            try:
                self._flush(transport)
            except TransportError as error:
                self._note_error(f"printer disconnected: {error}")
                return

    async def _write_loop(self, transport: Transport) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            if self._stopping:
                return
            try:
                self._flush(transport)
                await transport.drain()
            except TransportError as error:
                self._note_error(f"printer disconnected: {error}")
                return

    def _flush(self, transport: Transport) -> None:
        data = self.core.data_to_send()
        if data:
            transport.write(data)
        self._wake_timer.set()

    async def _timer_loop(self) -> None:
        core = self.core
        while not self._stopping:
            deadline = core.next_deadline()
            self._wake_timer.clear()
            if deadline is None:
                await self._wake_timer.wait()
                continue
            delay = deadline - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_timer.wait(), delay)
                continue
            core.check_timeouts()
            self._pump_events()
            if core.state is LinkState.LOST:
                return
            self._wake_writer.set()

    # ---------------------------------------------------------------- events

    def _pump_events(self, override_reason: str | None = None) -> None:
        core = self.core
        while (event := core.next_event()) is not None:
            if isinstance(event, Acknowledged) and isinstance(event.tag, _WaiterTag):
                waiter = self._waiters.get(event.tag.key)
                if waiter is not None and not waiter.future.done():
                    waiter.future.set_result(None)
                continue
            if isinstance(event, Ready):
                self._ready.set()
                self.connected_once.set()
            elif isinstance(event, LinkLost | Halted | PrinterReset):
                self._ready.clear()
                reason = event.reason if isinstance(event, LinkLost) else type(event).__name__
                if isinstance(event, LinkLost) and override_reason:
                    event = LinkLost(override_reason, protocol=False)
                    reason = override_reason
                self._fail_waiters(reason)
            self._listener(event)

    def _fail_waiters(self, reason: str) -> None:
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.set_exception(CommandFailed(reason))

    def _note_error(self, message: str) -> None:
        if self.last_error is None or not self._stopping:
            self.last_error = message
        log.warning("%s: %s", self.settings.port, message)

    async def _pause_before_retry(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake_timer.wait(), self.settings.reconnect_delay)
        self._wake_timer.clear()


@dataclass(frozen=True, slots=True)
class _WaiterTag:
    key: int
