"""The live link to one printer: a transport, the protocol core, one reader, one writer.

Reading is the transport's callback; writing happens in exactly one place
(``_flush``), on the event loop, so bytes leave in the order the core made
them.  Per line this costs one callback, not a task wake-up: the host's CPU
per printed line is part of what we promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from instance.protocol.connection import Event, LinkState, PrinterConnection
from instance.protocol.events import Acknowledged, Halted, LinkLost, PrinterReset, Ready
from instance.protocol.replies import LineError
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
    # Answers are read in batches this far apart while enough is in flight to
    # keep the wire busy meanwhile: fewer wake-ups, less CPU per line.
    read_batching: float = 0.005
    # "auto": many lines in flight, one for a while after a line error; "single": one, always.
    window: str = "auto"
    # After a resend request, how long the link must be quiet before the host probes.
    resend_settle: float = 0.05
    # No line acknowledged for this long (or longer, if commands in flight explain
    # it): resynchronise once, then fail the job.
    stall_timeout: float = 60.0


class CommandFailed(RuntimeError):
    """A command could not be carried out (link lost, printer halted or reset)."""


@dataclass(frozen=True, slots=True)
class _WaiterTag:
    key: int


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
            window=settings.window,
            byte_time=10.0 / settings.baudrate,
            resend_settle=settings.resend_settle,
            stall_timeout=settings.stall_timeout,
        )
        self._transport: Transport | None = None
        self._lost: asyncio.Future[str] | None = None
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._next_waiter = 0
        self._stopping = False
        self._running = False
        self._finished = asyncio.Event()
        self._receiving = False
        self._reading_paused = False
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.last_error: str | None = None
        # Since when (time.monotonic) the port has been gone: it could not be opened,
        # or it closed under us. None while it is open, or closed for a protocol reason
        # (a printer that does not answer is there, only silent).
        self._gone_since: float | None = None
        # The absence a newly opened port has not yet ended: a port that opens and
        # closes again before the printer answered (a socket accepted, then dropped)
        # was never back, and its absence goes on from where it began.
        self._gone_unconfirmed: float | None = None
        self._port_lost = False
        # Counted for /metrics: lines the printer rejected, and links lost.
        self.line_errors = 0
        self.disconnects = 0

    # ------------------------------------------------------------------ public

    @property
    def ready(self) -> bool:
        return self.core.state is LinkState.READY and self._transport is not None

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def gone_for(self) -> float | None:
        """Seconds the port has been gone (could not be opened, or closed); None: it is open.

        A port that comes back ends the absence once the printer answers on it;
        one that opens and drops again before that has been gone all along.
        """
        since = self._gone_since
        return None if since is None else time.monotonic() - since

    def send(self, command: str, tag: object = None) -> None:
        self.core.send(command, tag)
        self._schedule_flush()

    def emergency(self, command: str) -> None:
        self.core.send_emergency(command)
        self._pump_events()
        self._flush()

    async def execute(self, command: str) -> None:
        """Send ``command`` and wait until the printer acknowledged it."""
        if not self.ready:
            raise CommandFailed(f"printer not ready, cannot send {command!r}")
        key = self._next_waiter
        self._next_waiter += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[key] = future
        self.send(command, _WaiterTag(key))
        try:
            await future
        finally:
            self._waiters.pop(key, None)

    def withdraw_queued(self) -> list[tuple[str, object]]:
        return self.core.withdraw_queued()

    async def run(self) -> None:
        """Connect, serve, and reconnect after every loss until ``stop``."""
        self._running = True
        self._finished.clear()
        try:
            await self._run()
        finally:
            self._running = False
            self._finished.set()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                transport = await self._opener()
            except TransportError as error:
                self._note_error(str(error))
                if self._gone_since is None:
                    self._gone_since = time.monotonic()
                await self._pause_before_retry()
                continue
            self.last_error = None
            self._gone_unconfirmed, self._gone_since = self._gone_since, None
            self._port_lost = False
            try:
                await self._serve(transport)
            finally:
                self._transport = None
                self._ready.clear()
                self._cancel_timer()
                self._note_session_end()
                with contextlib.suppress(Exception):
                    await transport.close()
            if not self._stopping:
                await self._pause_before_retry()

    async def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result("stopped")
        if self._running:
            # Let the serving loop close the port itself.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), 5.0)

    # ---------------------------------------------------------------- serving

    async def _serve(self, transport: Transport) -> None:
        loop = asyncio.get_running_loop()
        self._lost = lost = loop.create_future()
        self._transport = transport
        core = self.core
        core.connect()
        transport.start(self._data_received, self._connection_lost)
        self._flush()
        reason = await lost
        if core.state is not LinkState.LOST:
            core.receive_data(b"")  # marks the core lost
            self._pump_events(override_reason=None if self._stopping else reason)

    def _data_received(self, data: bytes) -> None:
        core = self.core
        self._receiving = True
        try:
            core.receive_data(data)
            self._pump_events()
        finally:
            self._receiving = False
        if core.state is LinkState.LOST:
            self._end(self.last_error or "the printer link failed")
            return
        self._flush()
        self._maybe_batch_reads()

    def _maybe_batch_reads(self) -> None:
        hold = self.settings.read_batching
        transport = self._transport
        if hold <= 0 or transport is None or self._reading_paused:
            return
        # Seconds of wire time the lines in flight stand for (10 bits a byte).
        busy = self.core.bytes_in_flight * 10 / self.settings.baudrate
        if busy < 2 * hold:
            return
        self._reading_paused = True
        transport.pause_reading()
        asyncio.get_running_loop().call_later(hold, self._resume_reading, transport)

    def _resume_reading(self, transport: Transport) -> None:
        self._reading_paused = False
        if transport is self._transport:
            transport.resume_reading()

    def _note_session_end(self) -> None:
        """Start (or go on with) the port's absence if the port itself went away."""
        if self._port_lost and not self._stopping:
            unconfirmed = self._gone_unconfirmed
            self._gone_since = unconfirmed if unconfirmed is not None else time.monotonic()
        self._gone_unconfirmed = None

    def _connection_lost(self, reason: str) -> None:
        self._port_lost = True
        if not self._stopping:
            self._note_error(f"printer disconnected: {reason}")
        self._end(self.last_error or reason)

    def _end(self, reason: str) -> None:
        lost = self._lost
        if lost is not None and not lost.done():
            lost.set_result(reason)

    def _schedule_flush(self) -> None:
        # While an answer is being handled the flush that follows it sends
        # everything queued meanwhile; otherwise flush once, soon.
        if self._receiving or self._flush_scheduled:
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        data = self.core.data_to_send()
        if data:
            try:
                transport.write(data)
            except TransportError as error:
                self._connection_lost(str(error))
                return
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.core.next_deadline()
        if deadline is None:
            return
        armed = self._timer_at
        if armed is not None and armed <= deadline:
            # An earlier wake-up is already set; it re-arms for the rest.
            return
        self._cancel_timer()
        self._timer_at = deadline
        # asyncio's clock is time.monotonic, the core's clock.
        self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        core = self.core
        core.check_timeouts()
        self._pump_events()
        if core.state is LinkState.LOST:
            self._end(self.last_error or "the printer link failed")
            return
        self._flush()

    # ---------------------------------------------------------------- events

    def _pump_events(self, override_reason: str | None = None) -> None:
        core = self.core
        listener = self._listener
        while (event := core.next_event()) is not None:
            if isinstance(event, Acknowledged):
                tag = event.tag
                if isinstance(tag, _WaiterTag):
                    future = self._waiters.get(tag.key)
                    if future is not None and not future.done():
                        future.set_result(None)
                    continue
            elif isinstance(event, Ready):
                self._ready.set()
                # The printer answers: the port is back for good.
                self._gone_unconfirmed = None
            elif isinstance(event, LineError):
                self.line_errors += 1
            elif isinstance(event, LinkLost | Halted | PrinterReset):
                self._ready.clear()
                if isinstance(event, LinkLost):
                    self.disconnects += 1
                    if override_reason:
                        event = LinkLost(override_reason, protocol=False)
                    elif event.protocol:
                        self.last_error = event.reason
                    reason = event.reason
                else:
                    reason = "printer halted" if isinstance(event, Halted) else "printer reset"
                self._fail_waiters(reason)
            listener(event)

    def _fail_waiters(self, reason: str) -> None:
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(CommandFailed(reason))

    def _note_error(self, message: str) -> None:
        self.last_error = message
        log.warning("%s: %s", self.settings.port, message)

    async def _pause_before_retry(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), self.settings.reconnect_delay)
