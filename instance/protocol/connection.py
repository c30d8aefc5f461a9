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
    Stalled,
    TailExecuted,
)
from instance.protocol.flow import FlowWindow, SentLine, make_sent_line
from instance.protocol.framing import frame, is_emergency, strip_comment
from instance.protocol.parsing import parse_reply
from instance.protocol.recovery import Recovery, account
from instance.protocol.replies import (
    Busy,
    Capability,
    Echo,
    FatalError,
    FirmwareInfo,
    LineError,
    Ok,
    Reply,
    ResendRequest,
    Start,
    TemperatureReport,
    Wait,
)

Event = (
    Ready
    | Acknowledged
    | Halted
    | PrinterReset
    | LinkLost
    | ResendDone
    | TailExecuted
    | Stalled
    | Reply
)
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
_MAX_REQUESTS_PER_RECOVERY = 64
_CLEAN_LINES_TO_WIDEN = 200
_PROBE = "M105"
WINDOW_MODES = ("auto", "single")
# "auto": ``N12G1`` for known firmware families, ``N12 G1`` otherwise; the others force one.
FRAMINGS = ("auto", "compact", "spaced")
# Firmware families known to take ``N12G1 …`` (no space after the number): their
# line readers take the number with strtol and the parser skips it the same way.
_COMPACT_FAMILIES = ("marlin", "prusa-firmware", "reprapfirmware", "klipper", "repetier")
# RepRapFirmware drops a line with a bad checksum without a word (no error, no resend,
# no ok; GCodeBuffer / StringParser): only with one line in flight does the host
# know which line to send again once a probe shows its ok never came.
_SILENT_DROPPERS = ("reprapfirmware",)
# A line RepRapFirmware takes is answered within milliseconds unless its move queue is
# full; a probe sent after this long costs one M115 if the line was merely slow.
_DROP_CHECK = 0.25


class _ProbeTag:
    """Marks the unnumbered M105 the link sends to learn where the firmware stands."""

    __slots__ = ()


PROBE_TAG = _ProbeTag()


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
        window: str = "auto",
        byte_time: float = 0.0,
        resend_settle: float = 0.05,
        stall_timeout: float = 60.0,
        framing: str = "auto",
    ) -> None:
        if history_size < 16:
            raise ValueError("history_size must be at least 16 lines")
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, not {framing!r}")
        if window not in WINDOW_MODES:
            raise ValueError(f"window must be one of {', '.join(WINDOW_MODES)}, not {window!r}")
        self._clock = clock
        self.window = FlowWindow(command_slots, rx_buffer)
        self.window_mode = window
        self._history_size = history_size
        self._response_timeout = response_timeout
        self._max_silent_prompts = max_silent_prompts
        self._line_log = line_log
        self._byte_time = byte_time
        self._settle = resend_settle
        self._stall_timeout = stall_timeout
        self.state = LinkState.CLOSED
        self._received = bytearray()
        self._refusal_pending = False
        self._events: deque[Event] = deque()
        self._out = bytearray()
        self._queue: deque[tuple[str, object]] = deque()
        self._resend_queue: deque[SentLine] = deque()
        self._in_flight: deque[SentLine] = deque()
        self._history: dict[int, SentLine] = {}
        self._next_number = 1
        self._recovery: Recovery | None = None
        self._rewind_target: int | None = None
        self._same_request_count = 0
        self._clean_acks = 0
        self._last_heard = 0.0
        self._silent_prompts = 0
        self._pending_fatal: str | None = None
        self._fatal_deadline = 0.0
        self._handshake_attempts = 0
        self._handshake_deadline = 0.0
        self._handshake_step = ""
        self._after_temperatures = False
        self._after_ok = False
        self._ok_line = False
        self._spaced_line = False
        self._swallow_handshake_ok = False
        # Unnumbered M105s sent whose answer has not come (a drained one never will).
        self._probes_outstanding = 0
        # Some firmware prints temperatures on every ok: then an ok with temperatures
        # does not tell an M105's answer (learned when one comes that no M105 explains).
        self._oks_carry_temperatures = False
        self._unasked_temperatures = 0
        # The sync (an M105) was answered by an ok with temperatures: this firmware's
        # probe answer is that ok, so a plain ok after a probe never answers it.
        self._probe_ok_reports = False
        # RepRapFirmware's probe is M115: its FIRMWARE_NAME line marks the ok that answers it,
        # where an M105 probe's answer could not be told from a numbered poll's.
        self._probe_named = False
        self._firmware: FirmwareInfo | None = None
        self._capabilities: dict[str, bool] = {}
        self._framing = framing
        self._compact = False
        self._drops_silently = False
        self._progress_at = 0.0
        self._stall_resynced = False
        self.resend_count = 0
        self.lines_sent = 0
        self.tails_seen = 0
        # Whether this firmware follows a resend request with an ok: None until the
        # link has shown it (see instance/protocol/recovery.py).
        self.ok_after_resend: bool | None = None
        self._learned_for = ""
        self._framed_head: tuple[str, int, bytes] | None = None
        if window == "single":
            self.window.single = True

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
            self._recovery = None
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
        if self.state is LinkState.READY and self._recovery is None:
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
        elif self.state is LinkState.READY:
            recovery = self._recovery
            if recovery is not None and recovery.probe_sent_at is None:
                deadlines.append(recovery.settle_deadline(self._settle))
            if recovery is not None and self._plain_probe_answer():
                plain = recovery.plain_answer_deadline(self._settle)
                if plain is not None:
                    deadlines.append(plain)
            if self._in_flight or recovery is not None:
                allowance = self._allowance()
                if allowance is not None:
                    deadlines.append(self._last_heard + allowance)
                    deadlines.append(self._progress_at + max(allowance, self._stall_timeout))
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
        if self.state is not LinkState.READY:
            return
        recovery = self._recovery
        if (
            recovery is not None
            and recovery.probe_sent_at is None
            and now >= recovery.settle_deadline(self._settle)
        ):
            self._send_probe(recovery)
        if recovery is not None and self._plain_probe_answer():
            plain = recovery.plain_answer_deadline(self._settle)
            if plain is not None and now >= plain:
                recovery.oks -= 1  # the probe's own
                self._probe_answered()
                self._recovered(recovery)
                recovery = None
        if not self._in_flight and recovery is None:
            return
        allowance = self._allowance()
        if allowance is None:
            return
        if now >= self._progress_at + max(allowance, self._stall_timeout):
            self._stalled(now - self._progress_at)
            return
        if now < self._last_heard + allowance:
            return
        if self._silent_prompts >= self._max_silent_prompts:
            self._lose(
                f"printer stopped answering ({self._silent_prompts} prompts without a reply)"
            )
            return
        if recovery is not None:
            self._silent_prompts += 1
            self._last_heard = now
            self._send_probe(recovery)
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
        return (
            not self._queue
            and not self._resend_queue
            and not self._in_flight
            and self._recovery is None
        )

    @property
    def recovering(self) -> bool:
        """A resend request is being sorted out: nothing new goes out meanwhile."""
        return self._recovery is not None

    # ---------------------------------------------------------------- handshake

    def _start_handshake(self) -> None:
        """Sync first: an unnumbered M105 whose ``ok T:…`` comes after anything still queued.

        A board that was not reset (a print server restarted mid-print, a link
        restarted after a stall) may still hold lines of the last session; their
        oks must not be taken for the handshake's.
        """
        self._handshake_attempts += 1
        self._handshake_deadline = self._clock() + _HANDSHAKE_RETRY
        self._handshake_step = "sync"
        self._after_temperatures = self._after_ok = False
        self._in_flight.clear()
        self._next_number = 0
        self._compact = False
        self._probes_outstanding += 1
        self._out += _PROBE.encode("ascii") + b"\n"
        self._log(">", _PROBE)

    def _plain_probe_answer(self) -> bool:
        """Whether the probe's answer may be a plain ok (the last one after a quiet link).

        Not on firmware whose M105 answers with ``ok T:…`` (its sync did): a plain ok
        after the probe is then a kept line's, the firmware may still be running the
        lines before the probe, and taking it for the answer would count them done.
        """
        return self._oks_carry_temperatures or not self._probe_ok_reports

    def _probe_answered(self) -> None:
        self._probes_outstanding = max(0, self._probes_outstanding - 1)

    def _stale_probe_answer(self, reports_temperatures: bool) -> bool:
        """An ok with temperatures that answers a probe already given up on."""
        if not reports_temperatures or self._probes_outstanding == 0:
            if reports_temperatures:
                # Three in a row that no M105 asked for: this firmware puts them on every ok.
                self._unasked_temperatures += 1
                if self._unasked_temperatures >= 3:
                    self._oks_carry_temperatures = True
            return False
        self._probe_answered()
        self._log("!", "a late answer to an M105 sent again (ignored)")
        return True

    def _synced(self) -> None:
        """The sync probe answered: everything of an earlier session is behind us."""
        self._probe_answered()
        self._after_ok = self._after_temperatures = False
        self._handshake_step = "M110"
        self._handshake_deadline = self._clock() + _HANDSHAKE_RETRY
        self._write_numbered("M110 N0", None)

    def _handshake_ok(self, ok: Ok, reports_temperatures: bool) -> None:
        if self._handshake_step == "sync":
            if not reports_temperatures:
                self._log("!", "an ok from before the handshake (ignored)")
                return
            self._probe_ok_reports = True
            self._synced()
        elif self._stale_probe_answer(reports_temperatures):
            return
        elif self._handshake_step == "M110":
            if ok.line not in (None, 0):
                return  # a stale numbered ok
            if self._swallow_handshake_ok and ok.line is None:
                # The ok that follows the refusal, not M110's own.
                self._swallow_handshake_ok = False
                return
            self._handshake_step = "M115"
            self._in_flight.clear()
            self._handshake_deadline = self._clock() + _HANDSHAKE_RETRY * 2
            self._write_numbered("M115", None)
        elif self._handshake_step == "M115":
            if ok.line not in (None, 1):
                return  # a late ok for a repeated M110
            self._in_flight.clear()
            # Whatever was queued before the handshake belongs to the session
            # that ended (a reset): the new one starts empty.
            self._queue.clear()
            self.state = LinkState.READY
            self._last_heard = self._progress_at = self._clock()
            name = (self._firmware.name if self._firmware is not None else "").lower()
            if name != self._learned_for:
                # What was learned of another board (a printer swapped on this port) is void.
                self._learned_for = name
                self.ok_after_resend = None
            known = any(family in name for family in _COMPACT_FAMILIES)
            self._compact = self._framing == "compact" or (self._framing == "auto" and known)
            self._drops_silently = any(family in name for family in _SILENT_DROPPERS)
            if self._drops_silently:
                self.window.single = True
            self._events.append(Ready(self._firmware, dict(self._capabilities)))

    # --------------------------------------------------------------- receiving

    def _receive_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").strip().replace("\x00", "")
        if not line:
            return
        if self._line_log is not None:
            self._line_log("<", line)
        self._ok_line = line.startswith("ok")
        # Marlin's autoreport starts with a space (" T:…"); an M105 answer does not.
        self._spaced_line = raw[:1] == b" "
        for reply in parse_reply(line):
            self._handle(reply)

    def _handle(self, reply: Reply) -> None:
        if self._pending_fatal is not None:
            if isinstance(reply, FatalError):
                self._pending_fatal = f"{self._pending_fatal} / {reply.message}"
                self._emit_fatal()
                return
            self._emit_fatal()
        if self.state is LinkState.HANDSHAKE:
            # An M105 answered with a plain ok and its temperatures on a line of their
            # own, before the ok (Repetier) or after it: either pair answers the sync.
            before, self._after_temperatures = (
                self._after_temperatures,
                isinstance(reply, TemperatureReport) and not self._spaced_line,
            )
            after_ok, self._after_ok = self._after_ok, isinstance(reply, Ok)
            if self._handshake_step == "sync":
                if isinstance(reply, TemperatureReport) and after_ok and not self._ok_line:
                    self._probe_ok_reports = False
                    self._synced()
                    return
                if isinstance(reply, Ok) and before:
                    # The report may be the ok line's own (parsed before its ok).
                    self._probe_ok_reports = "T:" in reply.data or "T0:" in reply.data
                    self._synced()
                    return
        if isinstance(reply, Busy) and self.state is LinkState.HANDSHAKE:
            # Still busy with the last session's command: wait rather than ask again
            # (more bytes now would only overrun a receive buffer that is full).
            self._handshake_deadline = max(
                self._handshake_deadline, self._clock() + 2 * _HANDSHAKE_RETRY
            )
        if (
            isinstance(reply, ResendRequest | LineError)
            and self.state is LinkState.HANDSHAKE
            and self._handshake_step == "M115"
        ):
            # The firmware refused M115 by its number: M110 did not take. Number again.
            self._log("!", "the printer refused the handshake's numbering: M110 again")
            self._handshake_step = "M110"
            self._in_flight.clear()
            self._next_number = 0
            self._write_numbered("M110 N0", None)
            self._swallow_handshake_ok = (
                isinstance(reply, ResendRequest) and self.ok_after_resend is not False
            )
            return
        if isinstance(reply, Ok | ResendRequest | Busy | Wait | Start):
            # Progress on our commands; autoreports and echoes say nothing about them.
            self._last_heard = self._clock()
            self._silent_prompts = 0
        if isinstance(reply, Ok):
            self._refusal_pending = False
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
            if (
                self.state is LinkState.READY
                and self._in_flight
                and self._recovery is None
                and not self._probe_in_flight()
            ):
                # The firmware says its queue is empty yet we wait for oks: they were lost.
                self._prompt()
        elif isinstance(reply, FirmwareInfo):
            self._firmware = reply
            if self.state is LinkState.READY and self._drops_silently:
                self._probe_named = True
            self._events.append(reply)
        elif isinstance(reply, Capability):
            self._capabilities[reply.name] = reply.enabled
            self._events.append(reply)
        else:
            if isinstance(reply, LineError):
                self._refusal_pending = True
            recovery = self._recovery
            if recovery is not None:
                if isinstance(reply, LineError):
                    recovery.last_reply = self._clock()
                    recovery.refused = True
                elif isinstance(reply, Echo) and reply.unknown_command is not None:
                    recovery.last_reply = self._clock()
                    self._note_refused(recovery, reply.unknown_command)
            self._events.append(reply)

    def _handle_ok(self, ok: Ok) -> None:
        if self.state is LinkState.HANDSHAKE:
            self._handshake_ok(ok, "T:" in ok.data or "T0:" in ok.data)
            return
        if self.state is not LinkState.READY:
            return
        reports_temperatures = "T:" in ok.data or "T0:" in ok.data
        if self._oks_carry_temperatures:
            reports_temperatures = False  # every ok has them: they answer nothing in particular
        recovery = self._recovery
        if recovery is not None:
            recovery.last_reply = self._clock()
            recovery.last_ok_at = recovery.last_reply
            if reports_temperatures:
                if recovery.temperature_oks < recovery.kept_m105:
                    recovery.temperature_oks += 1
                elif recovery.probes > 0:
                    # A probe's answer (a probe sent again after a late request too: the
                    # first one answered, so it came after everything on the wire).
                    self._probe_answered()
                    self._recovered(recovery)
                    return
            recovery.oks += 1
            if self._known_answer(recovery):
                self._recovered(recovery)
            return
        self.window.learn(ok.planner_free, ok.buffer_free)
        in_flight = self._in_flight
        if not in_flight:
            self._log("!", "ok with nothing in flight (ignored)")
            return
        if self._probe_named:
            self._probe_named = False
            for line in in_flight:
                if line.tag is PROBE_TAG and line.code == "M115":
                    if line is not in_flight[0]:
                        self._send_again_before(line)
                    else:
                        self._acknowledge_through(line, assumed=False)
                    return
        if reports_temperatures:
            # M105 answers on its ok line: the oldest M105 in flight (a poll or our
            # probe) is answered, so is everything before it.
            for line in in_flight:
                if line.code == "M105":
                    self._unasked_temperatures = 0
                    self._acknowledge_through(line, assumed=True)
                    return
            if self._stale_probe_answer(reports_temperatures):
                return
            # No M105 in flight and no probe outstanding: this firmware prints
            # temperatures on every ok (learned); it is a plain ok.
        named = self._in_flight_line(ok.line) if ok.line is not None else None
        if named is None and ok.line is not None and ok.line in self._history:
            # ADVANCED_OK names a line already acknowledged: a duplicate ok.
            self._log("!", f"second ok for line {ok.line} (ignored)")
            return
        if named is not None and named is not in_flight[0]:
            # Earlier oks went missing; this one proves those lines arrived.
            self._acknowledge_through(named, assumed=True)
            return
        self._acknowledge(in_flight.popleft(), assumed=False)

    def _send_again_before(self, answered: SentLine) -> None:
        """The firmware dropped the lines before ``answered`` without a word: send them again."""
        dropped: list[SentLine] = []
        while self._in_flight:
            line = self._in_flight.popleft()
            if line is answered:
                self._acknowledge(line, assumed=False)
                break
            dropped.append(line)
        numbered = [line for line in dropped if line.number is not None]
        self._log(
            "!", f"{len(dropped)} line(s) got no ok before the probe was answered: sending again"
        )
        self.resend_count += len(numbered)
        self._resend_queue.extendleft(reversed(numbered))
        if numbered:
            self._events.append(ResendDone(numbered[0].number or 0, len(numbered)))

    def _in_flight_line(self, number: int) -> SentLine | None:
        for line in self._in_flight:
            if line.number == number:
                return line
        return None

    def _probe_in_flight(self) -> bool:
        return any(line.tag is PROBE_TAG for line in self._in_flight)

    def _acknowledge_through(self, last: SentLine, *, assumed: bool) -> None:
        while self._in_flight:
            line = self._in_flight.popleft()
            self._acknowledge(line, assumed=assumed and line is not last)
            if line is last:
                return

    def _acknowledge(self, line: SentLine, *, assumed: bool) -> None:
        if line.number is not None and line.number == self._rewind_target:
            # The resent line got through: the same request again is a new fault.
            self._rewind_target = None
            self._same_request_count = 0
        if line.number is not None:
            self._progress_at = self._clock()
            self._stall_resynced = False
        if self.window.single and self.window_mode == "auto" and not self._drops_silently:
            self._clean_acks += 1
            if self._clean_acks >= _CLEAN_LINES_TO_WIDEN:
                self.window.single = False
        if line.tag is PROBE_TAG:
            self._probe_answered()
            return
        self._events.append(Acknowledged(line.command, line.tag, line.number, assumed))

    # ------------------------------------------------------------------ resends

    def _handle_resend(self, number: int) -> None:
        if self.state is not LinkState.READY:
            return
        self.resend_count += 1
        self._narrow()
        recovery = self._recovery
        now = self._clock()
        last_sent = self._next_number - 1
        if number <= last_sent and number not in self._history:
            oldest = min(self._history) if self._history else last_sent + 1
            self._lose(
                f"printer asked for line {number}, older than the kept history "
                f"(lines {oldest}..{last_sent}): the print cannot continue exactly"
            )
            return
        if recovery is not None:
            recovery.requests += 1
            recovery.last_reply = now
            if recovery.requests > _MAX_REQUESTS_PER_RECOVERY:
                self._lose(f"printer keeps asking for line {number}: the link is stuck")
                return
            if number < recovery.target:
                self._rewind(recovery, number)
            if recovery.probe_sent_at is not None:
                # A line on the wire before the probe was refused after it was sent: the
                # drain may have cut the probe too. Probe again once the link is quiet.
                recovery.probe_sent_at = None
            return
        if number == self._rewind_target:
            self._same_request_count += 1
            if self._same_request_count >= _STUCK_RESENDS:
                self._lose(f"printer keeps asking for line {number}: the link is stuck")
                return
        else:
            self._same_request_count = 1
        kept: deque[SentLine] = deque()
        stale: list[SentLine] = []
        for line in self._in_flight:
            if line.number is not None and line.number >= number:
                stale.append(line)
            else:
                kept.append(line)
        self._in_flight = kept
        self._resend_queue.clear()
        wire = sum(line.size for line in stale)
        self._recovery = Recovery(
            target=number,
            kept=len(kept),
            kept_m105=sum(1 for line in kept if line.code == "M105"),
            clean=not kept and len(stale) <= 1,
            started=now,
            last_reply=now,
            wire_seconds=wire * self._byte_time,
            candidates=tuple(line.command for line in stale if line.number != number),
            stale=len(stale),
            refused=self._refusal_pending,
        )
        self._refusal_pending = False
        if self._known_answer(self._recovery):
            self._recovered(self._recovery)

    def _known_answer(self, recovery: Recovery) -> bool:
        """Nothing else was on the wire and this firmware's habit is known: no probe needed.

        With only the refused line in flight no tail can exist, and once the link has
        shown whether an ok follows a request, the oks to expect are known exactly.
        """
        return (
            recovery.clean
            and recovery.refused
            and recovery.probes == 0
            and self.ok_after_resend is not None
            and recovery.oks == (recovery.requests if self.ok_after_resend else 0)
        )

    def _rewind(self, recovery: Recovery, number: int) -> None:
        """An earlier line is asked for: lines kept in flight from it on are stale too."""
        kept: deque[SentLine] = deque()
        moved: list[str] = []
        for line in self._in_flight:
            if line.number is not None and line.number >= number:
                moved.append(line.command)
            else:
                kept.append(line)
        recovery.kept -= len(self._in_flight) - len(kept)
        recovery.kept_m105 = sum(1 for line in kept if line.code == "M105")
        recovery.candidates = tuple(moved) + recovery.candidates
        recovery.clean = False
        recovery.target = number
        self._in_flight = kept

    def _note_refused(self, recovery: Recovery, text: str) -> None:
        if recovery.probes > 0 and _PROBE.endswith(text.strip().upper()):
            # What the drain left of our own probe: it must go again.
            recovery.oks -= 1  # its ok is counted when it comes; it answers no line of ours
            recovery.probe_sent_at = None
            return
        recovery.unknown.append(text)

    def _send_probe(self, recovery: Recovery) -> None:
        recovery.probes += 1
        self._probes_outstanding += 1
        recovery.probe_sent_at = self._clock()
        self._last_heard = max(self._last_heard, self._clock())
        self._log("!", "resend request: sending M105 to learn what the printer has taken")
        self._out += _PROBE.encode("ascii") + b"\n"
        self._log(">", _PROBE)

    def _recovered(self, recovery: Recovery) -> None:
        """The probe has answered: every line written before it is accounted for."""
        self._recovery = None
        result = account(recovery, self.ok_after_resend)
        if result.learned:
            wording = "an ok" if result.ok_after_resend else "no ok"
            self._log("!", f"learned from the link: this firmware sends {wording} after a resend")
        self.ok_after_resend = result.ok_after_resend
        number = recovery.target
        last_sent = self._next_number - 1
        if number > last_sent + 1:
            # The firmware counts beyond anything sent: its counter is not ours (a session
            # it kept from before), so every numbered line in flight was refused.
            refused_lines = [line for line in self._in_flight if line.number is not None]
            self._in_flight.clear()
            if refused_lines:
                first = refused_lines[0].number or 0
                self._renumber(first - 1, f"printer asked for line {number}, beyond the last sent")
                self._resend_queue = deque(self._history[n] for n in range(first, last_sent + 1))
                self._events.append(ResendDone(first, len(self._resend_queue)))
                return
            self._resynchronise(f"printer asked for line {number}, beyond the last sent")
            return
        while self._in_flight:
            self._acknowledge(self._in_flight.popleft(), assumed=False)
        for _ in range(result.taken):
            if number > last_sent:
                break
            self._acknowledge(self._history[number], assumed=False)
            number += 1
        refused = list(recovery.unknown)
        for index in range(result.tails):
            text = refused[index] if index < len(refused) else None
            self.tails_seen += 1
            self._log(
                "!",
                f"the firmware ran a line it cut itself after line {recovery.target - 1}: "
                + (f"refused {text!r}" if text is not None else "one of the lines behind it"),
            )
            self._events.append(TailExecuted(text, recovery.target, recovery.candidates))
        if number > last_sent:
            # It has everything we sent: nothing needs resending after all.
            self._log("!", f"resend of line {number}, not sent yet: nothing to resend")
            self._rewind_target = None
            return
        self._resend_queue = deque(self._history[n] for n in range(number, last_sent + 1))
        self._rewind_target = number
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
                data = frame(number, command, compact=self._compact)
            if not window.allows(in_flight, len(data)):
                # Waiting for room: keep the framed line rather than framing it again.
                self._framed_head = (command, number, data)
                return
            self._queue.popleft()
            self._write_numbered(command, tag, data)

    def _write_numbered(self, command: str, tag: object, data: bytes | None = None) -> None:
        number = self._next_number
        if data is None:
            data = frame(number, command, compact=self._compact)
        line = make_sent_line(command, data, number, tag)
        self._next_number = number + 1
        history = self._history
        history[number] = line
        stale = number - self._history_size
        if stale in history:
            del history[stale]
        if not self._in_flight:
            self._last_heard = self._progress_at = self._clock()
        self._in_flight.append(line)
        self._out += data
        self.lines_sent += 1
        if self._line_log is not None:
            self._line_log(">", command)

    def _prompt(self) -> None:
        """Ask a silent printer for a sign of life with an unnumbered M105.

        Unnumbered, because the line the firmware expects next is not known
        now (an ok may have gone missing, or a line): a numbered prompt could
        itself be refused and start a resend loop. Its ``ok T:…`` comes after
        everything written before it, so it acknowledges all of that.
        """
        self._silent_prompts += 1
        self._last_heard = self._clock()
        self._narrow()
        command = "M115" if self._drops_silently else _PROBE
        self._log("!", f"no answer: prompting the printer with {command}")
        data = command.encode("ascii") + b"\n"
        self._out += data
        self._in_flight.append(make_sent_line(command, data, None, PROBE_TAG))
        self._probes_outstanding += 1
        self._log(">", command)

    def _stalled(self, seconds: float) -> None:
        """No line acknowledged for too long although the printer may still be talking."""
        if not self._stall_resynced:
            self._stall_resynced = True
            self._progress_at = self._clock()
            self._log("!", f"no line acknowledged for {seconds:.0f} s: resynchronising")
            recovery = self._recovery
            if recovery is not None:
                self._send_probe(recovery)
            else:
                self._prompt()
            return
        reason = (
            f"no line acknowledged for {seconds:.0f} s, more than the commands in flight "
            "explain, even after resynchronising: the link was restarted"
        )
        self._log("!", reason)
        self._events.append(Stalled(reason))
        self.connect()

    def _renumber(self, last: int, why: str) -> None:
        """Set the firmware's line counter to ``last`` (M110 is exempt from the number check)."""
        self._log("!", f"{why}: renumbering with M110 N{last}")
        command = f"M110 N{last}"
        data = frame(last, command, compact=self._compact)
        self._out += data
        # Numbered as it is framed (an ADVANCED_OK ok names it), but not kept in the history.
        self._in_flight.append(make_sent_line(command, data, last, None))
        self._log(">", command)

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
        if self._drops_silently and self._in_flight and not self._probe_in_flight():
            # A line this firmware dropped is never answered, a long command or not:
            # a probe behind it answers at once if it was dropped, after it if not.
            return min(self._response_timeout, _DROP_CHECK)
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
        self._recovery = None
        self._events.append(Halted(message))

    def _lose(self, reason: str, *, protocol: bool = True) -> None:
        if self.state is LinkState.LOST:
            return
        self.state = LinkState.LOST
        self._queue.clear()
        self._resend_queue.clear()
        self._in_flight.clear()
        self._recovery = None
        self._events.append(LinkLost(reason, protocol))

    def _forget_everything(self) -> None:
        self._received.clear()
        self._queue.clear()
        self._resend_queue.clear()
        self._in_flight.clear()
        self._history.clear()
        self._recovery = None
        self._rewind_target = None
        self._same_request_count = 0
        self._silent_prompts = 0
        self._pending_fatal = None
        self._firmware = None
        self._capabilities = {}
        self._stall_resynced = False
        self._drops_silently = False
        self.window.single = self.window_mode == "single"
        self.window.learn(None, None)

    def _log(self, direction: str, text: str) -> None:
        if self._line_log is not None:
            self._line_log(direction, text)
