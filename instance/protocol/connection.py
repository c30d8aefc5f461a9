"""The printer link's protocol core: bytes in, events out, bytes to write out; no I/O.

Its owner feeds it what the printer sent (``receive_data``), writes what
``data_to_send`` returns, reads ``next_event`` until it returns None, and calls
``check_timeouts`` no later than ``next_deadline``.  Time comes from the clock
passed in, so every behaviour is testable without sleeping.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable

from instance.protocol.events import (
    Acknowledged,
    Halted,
    LinkLost,
    PrinterReset,
    Ready,
    ResendDone,
)
from instance.protocol.flow import FlowWindow, SentLine, make_sent_line
from instance.protocol.framing import frame, is_emergency, strip_comment
from instance.protocol.parsing import parse_reply
from instance.protocol.replies import (
    Busy,
    Capability,
    FatalError,
    FirmwareInfo,
    Ok,
    Reply,
    ResendRequest,
    Start,
    Wait,
)

Event = Ready | Acknowledged | Halted | PrinterReset | LinkLost | ResendDone | Reply
Clock = Callable[[], float]
LineLog = Callable[[str, str], None]

# Commands that may legitimately keep the printer quiet for long, and for how long.
_LONG_COMMANDS: dict[str, float | None] = {
    "G28": 300.0, "G29": 900.0, "G30": 120.0, "G32": 300.0, "G33": 900.0, "G34": 300.0,
    "G4": 3600.0, "M400": 600.0, "M109": 1800.0, "M190": 1800.0, "M191": 1800.0,
    "M116": 1800.0, "M303": 3600.0, "M48": 900.0, "M600": None, "M0": None, "M1": None,
    "M226": None,
}  # fmt: skip
_FATAL_GRACE = 0.5
_HANDSHAKE_RETRY = 2.0
_HANDSHAKE_ATTEMPTS = 5
_STUCK_RESENDS = 10
_CLEAN_LINES_TO_WIDEN = 200


class LinkState(enum.Enum):
    """Where the link stands."""

    CLOSED = "closed"
    HANDSHAKE = "handshake"
    READY = "ready"
    HALTED = "halted"
    LOST = "lost"


class PrinterConnection:
    """Line numbering, checksums, resends, flow control and timeouts for one printer."""

    def __init__(
        self,
        clock: Clock,
        *,
        command_slots: int = 4,
        rx_buffer: int = 128,
        history_size: int = 256,
        response_timeout: float = 10.0,
        max_silent_prompts: int = 3,
        line_log: LineLog | None = None,
    ) -> None:
        if history_size < 16:
            raise ValueError("history_size must be at least 16 lines")
        self._clock = clock
        self.window = FlowWindow(command_slots, rx_buffer)
        self._history_size = history_size
        self._response_timeout = response_timeout
        self._max_silent_prompts = max_silent_prompts
        self._line_log = line_log
        self.state = LinkState.CLOSED
        self._received = bytearray()
        self._events: deque[Event] = deque()
        self._out = bytearray()
        self._queue: deque[tuple[str, object]] = deque()
        self._resend_queue: deque[SentLine] = deque()
        self._in_flight: deque[SentLine] = deque()
        self._history: dict[int, SentLine] = {}
        self._next_number = 1
        self._swallow_oks = 0
        self._rewind_target: int | None = None
        self._stale_requests = 0
        self._same_request_count = 0
        self._clean_acks = 0
        self._last_heard = 0.0
        self._silent_prompts = 0
        self._probe_pending = False
        self._pending_fatal: str | None = None
        self._fatal_deadline = 0.0
        self._handshake_attempts = 0
        self._handshake_deadline = 0.0
        self._handshake_step = ""
        self._firmware: FirmwareInfo | None = None
        self._capabilities: dict[str, bool] = {}
        self.resend_count = 0
        self.lines_sent = 0
        self._advanced_ok = False
        self._framed_head: tuple[str, int, bytes] | None = None

    # ------------------------------------------------------------------ owner API

    def connect(self) -> None:
        """Start (or restart) the handshake: ``M110 N0`` then ``M115``."""
        self._forget_everything()
        self.state = LinkState.HANDSHAKE
        self._handshake_attempts = 0
        self._start_handshake()

    def send(self, command: str, tag: object = None) -> None:
        """Queue a command; comments and blanks are dropped, emergencies jump the queue."""
        command = strip_comment(command)
        if not command:
            return
        if command[0] in "Mm" and is_emergency(command):
            self.send_emergency(command)
            return
        self._queue.append((command, tag))

    def send_emergency(self, command: str) -> None:
        """Write an emergency command (M112, M108, M410) now, ahead of everything queued."""
        command = strip_comment(command).upper()
        data = command.encode("ascii", "replace") + b"\n"
        self._out += data
        self._log(">", command)
        if command.startswith("M112"):
            # The firmware kills itself; nothing queued will ever be processed.
            self._queue.clear()
            self._resend_queue.clear()
            self._in_flight.clear()
            self.state = LinkState.HALTED
            self._events.append(Halted("emergency stop (M112) sent by the host"))
            return
        if self.state is LinkState.READY:
            self._in_flight.append(make_sent_line(command, data, None, None))
            self._last_heard = max(self._last_heard, self._clock())

    def withdraw_queued(self) -> list[tuple[str, object]]:
        """Take back every command not yet written, oldest first (used by pause)."""
        withdrawn = list(self._queue)
        self._queue.clear()
        return withdrawn

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the printer; b"" means the link closed."""
        if not data:
            self._lose("printer disconnected (end of stream)", protocol=False)
            return
        buffer = self._received
        buffer += data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            raw = bytes(buffer[start:end])
            start = end + 1
            self._receive_line(raw)
        if start:
            del buffer[:start]
        if len(buffer) > 4096:
            # An endless line without a newline is garbage; keep the tail only.
            self._log("<", "(discarded 4096 bytes without a line end)")
            del buffer[:-256]

    def data_to_send(self) -> bytes:
        """The bytes to write now (may be empty); fills the window from the queues."""
        if self.state is LinkState.READY:
            self._fill_window()
        if not self._out:
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or None."""
        if self._events:
            return self._events.popleft()
        return None

    def next_deadline(self) -> float | None:
        """When ``check_timeouts`` must run next (None: nothing is waiting)."""
        deadlines: list[float] = []
        if self._pending_fatal is not None:
            deadlines.append(self._fatal_deadline)
        if self.state is LinkState.HANDSHAKE:
            deadlines.append(self._handshake_deadline)
        elif self.state is LinkState.READY and self._in_flight:
            allowance = self._allowance()
            if allowance is not None:
                deadlines.append(self._last_heard + allowance)
        return min(deadlines) if deadlines else None

    def check_timeouts(self) -> None:
        """Act on every deadline that has passed by the clock's ``now``."""
        now = self._clock()
        if self._pending_fatal is not None and now >= self._fatal_deadline:
            self._emit_fatal()
        if self.state is LinkState.HANDSHAKE and now >= self._handshake_deadline:
            if self._handshake_attempts >= _HANDSHAKE_ATTEMPTS:
                self._lose(f"no answer to the handshake after {_HANDSHAKE_ATTEMPTS} attempts")
            else:
                self._start_handshake()
            return
        if self.state is not LinkState.READY or not self._in_flight:
            return
        allowance = self._allowance()
        if allowance is None or now < self._last_heard + allowance:
            return
        if self._silent_prompts >= self._max_silent_prompts:
            self._lose(
                f"printer stopped answering ({self._silent_prompts} prompts without a reply)"
            )
            return
        self._prompt()

    @property
    def firmware(self) -> FirmwareInfo | None:
        return self._firmware

    @property
    def capabilities(self) -> dict[str, bool]:
        return dict(self._capabilities)

    @property
    def queued(self) -> int:
        """Commands accepted by ``send`` but not yet written."""
        return len(self._queue) + len(self._resend_queue)

    @property
    def in_flight(self) -> int:
        """Commands written and not yet acknowledged."""
        return len(self._in_flight)

    @property
    def bytes_in_flight(self) -> int:
        """Bytes written and not yet acknowledged."""
        return sum(line.size for line in self._in_flight)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing in flight."""
        return not self._queue and not self._resend_queue and not self._in_flight

    # ---------------------------------------------------------------- handshake

    def _start_handshake(self) -> None:
        self._handshake_attempts += 1
        self._handshake_deadline = self._clock() + _HANDSHAKE_RETRY
        self._handshake_step = "M110"
        self._in_flight.clear()
        self._next_number = 0
        self._write_numbered("M110 N0", None)

    def _handshake_ok(self, ok: Ok) -> None:
        if self._handshake_step == "M110":
            self._handshake_step = "M115"
            self._in_flight.clear()
            self._handshake_deadline = self._clock() + _HANDSHAKE_RETRY * 2
            self._write_numbered("M115", None)
        elif self._handshake_step == "M115":
            if ok.line == 0:
                return  # a late ok for a repeated M110
            self._in_flight.clear()
            # Whatever was queued before the handshake belongs to the session
            # that ended (a reset): the new one starts empty.
            self._queue.clear()
            self.state = LinkState.READY
            self._last_heard = self._clock()
            self._events.append(Ready(self._firmware, dict(self._capabilities)))

    # --------------------------------------------------------------- receiving

    def _receive_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").strip().replace("\x00", "")
        if not line:
            return
        if self._line_log is not None:
            self._line_log("<", line)
        for reply in parse_reply(line):
            self._handle(reply)

    def _handle(self, reply: Reply) -> None:
        if self._pending_fatal is not None:
            if isinstance(reply, FatalError):
                self._pending_fatal = f"{self._pending_fatal} / {reply.message}"
                self._emit_fatal()
                return
            self._emit_fatal()
        if isinstance(reply, Ok | ResendRequest | Busy | Wait | Start):
            # Progress on our commands; autoreports and echoes say nothing about them.
            self._last_heard = self._clock()
            self._silent_prompts = 0
        if isinstance(reply, Ok):
            self._handle_ok(reply)
        elif isinstance(reply, ResendRequest):
            self._handle_resend(reply.line)
        elif isinstance(reply, Start):
            self._handle_start()
        elif isinstance(reply, FatalError):
            if self.state is LinkState.HALTED and self._pending_fatal is None:
                self._events.append(reply)
                return
            self._pending_fatal = reply.message
            self._fatal_deadline = self._clock() + _FATAL_GRACE
            if reply.complete:
                self._emit_fatal()
        elif isinstance(reply, Wait):
            if self.state is LinkState.READY and self._in_flight and not self._probe_pending:
                # The firmware says its queue is empty yet we wait for oks: they were lost.
                self._prompt()
        elif isinstance(reply, FirmwareInfo):
            self._firmware = reply
            self._events.append(reply)
        elif isinstance(reply, Capability):
            self._capabilities[reply.name] = reply.enabled
            self._events.append(reply)
        else:
            self._events.append(reply)

    def _handle_ok(self, ok: Ok) -> None:
        if self.state is LinkState.HANDSHAKE:
            self._handshake_ok(ok)
            return
        if self.state is not LinkState.READY:
            return
        advanced = ok.planner_free is not None or ok.buffer_free is not None
        if self._swallow_oks:
            # The ok that follows a resend request answers the rejected line.
            # ADVANCED_OK firmware sends that one plain, so with it we can tell
            # (a firmware that sends no such ok would otherwise cost us a real one).
            if not (self._advanced_ok and advanced):
                self._swallow_oks -= 1
                return
            self._swallow_oks = 0
        if advanced:
            self._advanced_ok = True
        self.window.learn(ok.planner_free, ok.buffer_free)
        in_flight = self._in_flight
        named = self._in_flight_line(ok.line) if ok.line is not None else None
        if named is None and ok.line is not None:
            if self._drop_from_resend(ok.line):
                return
            if ok.line in self._history:
                # ADVANCED_OK names a line already acknowledged: a duplicate ok.
                self._log("!", f"second ok for line {ok.line} (ignored)")
                return
        if not in_flight:
            self._log("!", "ok with nothing in flight (ignored)")
            return
        if self._probe_pending:
            # After a silence the first answer covers the prompt and all before it
            # (or, with ADVANCED_OK, exactly the line it names).
            self._probe_pending = False
            self._acknowledge_through(named or in_flight[-1], assumed=True)
            return
        if named is not None and named is not in_flight[0]:
            # Earlier oks went missing; this one proves those lines arrived.
            self._acknowledge_through(named, assumed=True)
            return
        self._acknowledge(in_flight.popleft(), assumed=False)

    def _drop_from_resend(self, number: int) -> bool:
        """The printer acknowledged a line we meant to resend: it had it after all."""
        queue = self._resend_queue
        if not any(line.number == number for line in queue):
            return False
        while self._in_flight:
            self._acknowledge(self._in_flight.popleft(), assumed=True)
        while queue:
            line = queue.popleft()
            self._acknowledge(line, assumed=line.number != number)
            if line.number == number:
                break
        return True

    def _in_flight_line(self, number: int) -> SentLine | None:
        for line in self._in_flight:
            if line.number == number:
                return line
        return None

    def _acknowledge_through(self, last: SentLine, *, assumed: bool) -> None:
        while self._in_flight:
            line = self._in_flight.popleft()
            self._acknowledge(line, assumed=assumed and line is not last)
            if line is last:
                return

    def _acknowledge(self, line: SentLine, *, assumed: bool) -> None:
        if line.number is not None and line.number == self._rewind_target:
            # The resent line got through: every stale complaint is behind us.
            self._rewind_target = None
            self._stale_requests = 0
            self._same_request_count = 0
        if self.window.single:
            self._clean_acks += 1
            if self._clean_acks >= _CLEAN_LINES_TO_WIDEN:
                self.window.single = False
        self._events.append(Acknowledged(line.command, line.tag, line.number, assumed))

    def _handle_resend(self, number: int) -> None:
        if self.state is not LinkState.READY:
            return
        answers_prompt = self._probe_pending
        self._probe_pending = False
        if answers_prompt:
            # After a silence, the printer has finished every line before the
            # one it asks for; their oks were lost (or taken for rejections).
            self._swallow_oks = 1
            self._rewind_target = None
            self._stale_requests = 0
            while self._in_flight and (
                self._in_flight[0].number is None or self._in_flight[0].number < number
            ):
                self._acknowledge(self._in_flight.popleft(), assumed=True)
        else:
            self._swallow_oks += 1
        self.resend_count += 1
        self._narrow()
        last_sent = self._next_number - 1
        if number == self._rewind_target:
            if self._stale_requests > 0:
                # A line sent before our resend was rejected too: already handled.
                self._stale_requests -= 1
                return
            self._same_request_count += 1
            if self._same_request_count >= _STUCK_RESENDS:
                self._lose(f"printer keeps asking for line {number}: the link is stuck")
                return
        else:
            self._same_request_count = 1
        if number > last_sent:
            if number == last_sent + 1:
                # It has everything we sent: nothing needs resending after all.
                self._log("!", f"resend of line {number}, not sent yet: nothing to resend")
                self._resend_queue.clear()
                self._rewind_target = None
                self._stale_requests = 0
                while self._in_flight:
                    self._acknowledge(self._in_flight.popleft(), assumed=True)
                return
            self._resynchronise(f"printer asked for line {number}, beyond the last sent")
            return
        if number not in self._history:
            oldest = min(self._history) if self._history else last_sent + 1
            self._lose(
                f"printer asked for line {number}, older than the kept history "
                f"(lines {oldest}..{last_sent}): the print cannot continue exactly"
            )
            return
        stale = 0
        kept: deque[SentLine] = deque()
        for line in self._in_flight:
            if line.number is not None and line.number >= number:
                if line.number > number:
                    stale += 1
            else:
                kept.append(line)
        self._in_flight = kept
        self._resend_queue = deque(self._history[n] for n in range(number, last_sent + 1))
        self._rewind_target = number
        self._stale_requests = stale
        self._events.append(ResendDone(number, len(self._resend_queue)))

    def _handle_start(self) -> None:
        if self.state is LinkState.HANDSHAKE:
            # Reset on open: whatever we sent was swallowed by the boot loader.
            self._handshake_attempts = max(0, self._handshake_attempts - 1)
            self._start_handshake()
            return
        if self.state in (LinkState.READY, LinkState.HALTED):
            self._events.append(PrinterReset())
            self.connect()

    # ------------------------------------------------------------------ sending

    def _fill_window(self) -> None:
        window = self.window
        in_flight = self._in_flight
        while True:
            if self._resend_queue:
                line = self._resend_queue[0]
                if not window.allows(in_flight, line.size):
                    return
                self._resend_queue.popleft()
                self._out += line.data
                if not in_flight:
                    self._last_heard = self._clock()
                in_flight.append(line)
                self._log(">", line.command)
                continue
            if not self._queue:
                return
            command, tag = self._queue[0]
            number = self._next_number
            cached = self._framed_head
            if cached is not None and cached[0] is command and cached[1] == number:
                data = cached[2]
            else:
                data = frame(number, command)
            if not window.allows(in_flight, len(data)):
                # Waiting for room: keep the framed line rather than framing it again.
                self._framed_head = (command, number, data)
                return
            self._queue.popleft()
            self._write_numbered(command, tag, data)

    def _write_numbered(self, command: str, tag: object, data: bytes | None = None) -> None:
        number = self._next_number
        if data is None:
            data = frame(number, command)
        line = make_sent_line(command, data, number, tag)
        self._next_number = number + 1
        history = self._history
        history[number] = line
        stale = number - self._history_size
        if stale in history:
            del history[stale]
        if not self._in_flight:
            self._last_heard = self._clock()
        self._in_flight.append(line)
        self._out += data
        self.lines_sent += 1
        if self._line_log is not None:
            self._line_log(">", command)

    def _prompt(self) -> None:
        """Ask the printer for a sign of life with a numbered M105."""
        self._silent_prompts += 1
        self._probe_pending = True
        self._last_heard = self._clock()
        self._narrow()
        self._log("!", "no answer: prompting the printer with M105")
        self._write_numbered("M105", None)

    def _resynchronise(self, why: str) -> None:
        self._log("!", f"{why}: renumbering with M110")
        self._resend_queue.clear()
        self._write_numbered(f"M110 N{self._next_number}", None)

    def _narrow(self) -> None:
        self.window.single = True
        self._clean_acks = 0

    # ---------------------------------------------------------------- helpers

    def _allowance(self) -> float | None:
        """How long the printer may stay silent now."""
        allowance: float | None = self._response_timeout
        for line in self._in_flight:
            if line.code in _LONG_COMMANDS:
                long = _LONG_COMMANDS[line.code]
                if long is None:
                    return None
                allowance = max(allowance or 0.0, long)
        return allowance

    def _emit_fatal(self) -> None:
        message = self._pending_fatal or "fatal error"
        self._pending_fatal = None
        self.state = LinkState.HALTED
        self._queue.clear()
        self._resend_queue.clear()
        self._in_flight.clear()
        self._events.append(Halted(message))

    def _lose(self, reason: str, *, protocol: bool = True) -> None:
        if self.state is LinkState.LOST:
            return
        self.state = LinkState.LOST
        self._queue.clear()
        self._resend_queue.clear()
        self._in_flight.clear()
        self._events.append(LinkLost(reason, protocol))

    def _forget_everything(self) -> None:
        self._received.clear()
        self._queue.clear()
        self._resend_queue.clear()
        self._in_flight.clear()
        self._history.clear()
        self._swallow_oks = 0
        self._rewind_target = None
        self._stale_requests = 0
        self._same_request_count = 0
        self._probe_pending = False
        self._silent_prompts = 0
        self._pending_fatal = None
        self._firmware = None
        self._capabilities = {}
        self._advanced_ok = False
        self.window.single = False
        self.window.learn(None, None)

    def _log(self, direction: str, text: str) -> None:
        if self._line_log is not None:
            self._line_log(direction, text)
