"""A simulated printer's firmware: Marlin's receive buffer, queue, planner and replies; no I/O."""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from instance.protocol.framing import checksum
from instance.sim.faults import Fault, FaultSchedule
from instance.sim.heaters import Heater
from instance.sim.identities import (
    IDENTITIES,
    HeaterReading,
    resend_line,
    temperature_report,
    wait_report,
)
from instance.sim.motion import Toolhead, move_seconds
from instance.sim.options import SimOptions

_EOL = re.compile(rb"[\r\n]")
_CODE = re.compile(r"([GMTgmt])(\d+)(?:\.(\d+))?")
_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
_LINE_PREFIX = re.compile(r"N[-+]?\d*\s*")
_STRTOL = re.compile(r"\s*([-+]?\d+)")
_EMERGENCY = ("M108", "M112", "M410", "M876")
_KLIPPER_ARGS = re.compile("([A-Z_]+|[A-Z*])")
_CORRUPTING = frozenset(["corrupt_line", "random_resend", "double_resend", "resend_without_ok"])
_SILENT_CODES = frozenset(
    [
        "M17",
        "M18",
        "M84",
        "M82",
        "M83",
        "M106",
        "M107",
        "M117",
        "M201",
        "M203",
        "M204",
        "M205",
        "M207",
        "M208",
        "M209",
        "M300",
        "M302",
        "M500",
        "M501",
        "M502",
        "M851",
        "M862",
        "M900",
        "M907",
        "G21",
        "G80",
        "G90",
        "G91",
    ]
)
_FATAL_LINES = {
    "thermal_runaway": ("Error:Thermal Runaway, system stopped! Heater_ID: 0",),
    "maxtemp": ("Error:MAXTEMP triggered, system stopped! Heater_ID: 0",),
    "mintemp": ("Error:MINTEMP triggered, system stopped! Heater_ID: 0",),
    "heating_failed": ("Error:Heating failed, system stopped! Heater_ID: 0",),
    "repetier": ("fatal:Heater/sensor failure - Printer stopped and heaters disabled",),
}
KILLED = "Error:Printer halted. kill() called!"
_EPSILON = 1e-9
# An FTDI chip sends its buffer without waiting once a USB packet (64 bytes, 2 of status) fills.
_USB_PACKET = 62


def _cut_at_star(text: str) -> str:
    """GCodeParser::parse(): the line ends at its first "*" after the command letter."""
    star = text.find("*", 1)
    return text[:star].rstrip() if star > 0 else text


def _strtol(text: str) -> int:
    match = _STRTOL.match(text)
    return int(match.group(1)) if match else 0


def _words(text: str) -> dict[str, float]:
    return {m.group(1).upper(): float(m.group(2)) for m in _WORD.finditer(text)}


@dataclass(slots=True)
class Tail:
    """The end of a line cut by a receive-buffer drain, arriving as a line of its own.

    ``text`` is the line as it arrived (``*NN`` included); ``command`` what the
    firmware ran (its parser cuts at the first ``*``); ``outcome`` is "executed"
    (run as a known command), "unknown" (run, answered ``Unknown command`` and an
    ok), "rejected" (a line error: Prusa's "No Line Number with checksum"),
    "ignored" (Klipper/RRF never drain, so never; kept for completeness) or
    "pending" while it waits in the queue. ``executed`` is True for "executed" and
    "unknown": the tail is in ``SimulatedFirmware.executed`` at ``index``.
    """

    text: str
    command: str = ""
    outcome: str = "pending"
    executed: bool = False
    index: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "command": self.command,
            "outcome": self.outcome,
            "executed": self.executed,
            "index": self.index,
        }


@dataclass(slots=True)
class _LineError:
    """A line error the firmware has not yet reported (it notices it a moment later)."""

    reason: str
    expected: int
    with_ok: bool


@dataclass(slots=True)
class _Command:
    """A command in the queue, with what line faults asked of its reply."""

    text: str
    number: int | None
    code: str
    tail: Tail | None = None
    lost_ok: bool = False
    extra_ok: bool = False
    resend_unsent: bool = False
    hold: float = 0.0
    hold_keepalive: bool = True


@dataclass(slots=True)
class _Block:
    """Why the head command is not done yet, and what to do once it is."""

    kind: str  # "until", "planner_slot", "planner_empty", "heat", "user"
    then: Callable[[], None]
    until: float = math.inf
    busy: str | None = None
    next_keepalive: float = math.inf
    heater: Heater | None = None
    next_report: float = math.inf
    broken: bool = False


@dataclass(slots=True)
class _Chunk:
    """Bytes the host wrote; byte i reaches the receive buffer at start + (i+1) * byte_time."""

    start: float
    data: bytes
    offset: int = 0


@dataclass(slots=True)
class LinkRequest:
    """Something only the runner can do: pull the cable, or stop draining the port."""

    what: str  # "unplug" or "stall"
    seconds: float
    at: float


@dataclass(slots=True)
class _Counters:
    overrun_bytes: int = 0
    line_errors: int = 0
    numbered_received: int = 0
    resets: int = 0
    drains: int = 0
    drained_bytes: int = 0
    discarded_lines: int = 0
    tails: list[Tail] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)


class SimulatedFirmware:
    """A Marlin-like printer driven by explicit times.

    ``receive`` hands over bytes the host wrote at ``now``; ``poll`` advances
    the model and returns what has reached the host by ``now``;
    ``next_deadline`` says when polling next matters. ``executed`` lists every
    command the printer carried out, in order (no ``N``, no checksum, no
    comment); ``resets`` holds the index into ``executed`` at which each reset
    after power-on happened; ``counters.tails`` lists every line a drain cut
    (see ``Tail``), executed or not.
    """

    def __init__(self, options: SimOptions, faults: Iterable[Fault] = (), now: float = 0.0) -> None:
        self.options = options
        self.identity = IDENTITIES[options.identity]
        self.executed: list[str] = []
        self.resets: list[int] = []
        self.counters = _Counters()
        self.link_requests: list[LinkRequest] = []
        self._faults = FaultSchedule(tuple(faults), options.seed)
        self._byte_time = options.byte_time
        self._clock = now
        self._inbound: deque[_Chunk] = deque()
        self._in_wire_free = now
        self._outbound: deque[tuple[float, bytes]] = deque()
        self._out_wire_free = now
        self._out_last = now
        self._usb_tick = -1.0
        self._usb_pending = 0
        self._stall_until = -math.inf
        self._cursed: dict[int, int] = {}
        # Service delays have their own stream, so they do not shift which lines faults hit.
        self._jitter_rng = random.Random(options.seed * 7919 + 17)
        self._power_on(now)

    # ----- state that a reset restores -----

    def _power_on(self, now: float) -> None:
        options = self.options
        self._rx = bytearray()
        self._partial = bytearray()
        self._ep_partial = bytearray()
        self._queue: deque[_Command] = deque()
        self._planner: deque[float] = deque()
        self._block: _Block | None = None
        self._last_n = 0
        self._halted = False
        self._shut_down = False  # Klipper: shut down, but still answering
        self._errors: list[_LineError] = []
        self._error_due = math.inf  # when the firmware notices the pending line error
        self._drain_due = math.inf  # when it drains (after a blocking Error line is out)
        self._tail_next = False
        self._slot_numbers: list[int | None] = [None] * options.command_buffer
        self._enqueued = 0
        self._dequeued = 0
        self._m73 = {"P": 255, "R": 65535, "Q": 255, "S": 65535, "C": 65535, "D": 65535}
        self._silent_until = -math.inf
        self._booting_until = -math.inf
        self._autoreport = 0.0
        self._next_autoreport = math.inf
        self._next_wait = now + 1.0
        self._toolhead = Toolhead(feed_rate=options.feed_rate)
        # M290's running total (Marlin's babystep.axis_total with BABYSTEP_DISPLAY_TOTAL).
        self.babystep_z = 0.0
        scaled_rate = self._scaled_rate
        self._hotends = [
            Heater(
                "T",
                i,
                options.ambient,
                scaled_rate(options.hotend_rate),
                scaled_rate(options.cooling_rate),
            )
            for i in range(options.extruders)
        ]
        self._bed = Heater(
            "B",
            None,
            options.ambient,
            scaled_rate(options.bed_rate),
            scaled_rate(options.cooling_rate),
        )
        self._chamber = Heater(
            "C",
            None,
            options.ambient,
            scaled_rate(options.chamber_rate),
            scaled_rate(options.cooling_rate),
        )
        for heater in (*self._hotends, self._bed, self._chamber):
            heater.since = now
        self._chamber_used = False
        boot = self._mode("reset_on_open")
        self._banner_due = boot is not None
        if boot is not None:
            self._booting_until = now + float(boot.params["boot_seconds"])
        else:
            self._emit_lines(self.identity.banner)

    def _scaled_rate(self, rate: float) -> float:
        timing = self.options.move_timing
        if timing == "instant":
            return math.inf
        return rate * self.options.time_factor if timing == "accelerated" else rate

    def reset(self, now: float) -> None:
        """The board restarts (DTR on open, brown-out): banner, empty queues, line 0."""
        self._advance(now)
        self._restart()

    def _restart(self) -> None:
        self.resets.append(len(self.executed))
        self.counters.resets += 1
        self._cursed.clear()
        self._power_on(self._clock)

    # ----- the host side of the wire -----

    def receive(self, data: bytes, now: float) -> None:
        """Bytes the host wrote at ``now``; they reach the receive buffer at baud pace."""
        if not data:
            return
        start = max(now, self._in_wire_free, self._stall_until)
        self._inbound.append(_Chunk(start, bytes(data)))
        self._in_wire_free = start + len(data) * self._byte_time

    def poll(self, now: float) -> bytes:
        """Advance to ``now``; the bytes that have reached the host by then."""
        self._advance(now)
        out = bytearray()
        outbound = self._outbound
        while outbound and outbound[0][0] <= now + _EPSILON:
            out += outbound.popleft()[1]
        return bytes(out)

    def next_deadline(self) -> float | None:
        """When ``poll`` should next be called; None: only when bytes arrive."""
        times = [self._next_internal_event()]
        if self._outbound:
            times.append(self._outbound[0][0])
        if self._inbound and (self._can_read() or self._ep_listening()):
            times.append(self._next_eol_arrival())
        best = min(times)
        return None if best == math.inf else best

    @property
    def halted(self) -> bool:
        return self._halted

    @property
    def last_line(self) -> int:
        return self._last_n

    def input_paused_until(self) -> float:
        """Until when the printer takes no bytes at all (write stall); -inf when it takes them."""
        return self._stall_until

    # ----- the model's clock -----

    def _running(self) -> bool:
        return (
            not self._halted
            and self._clock >= self._silent_until
            and self._clock >= self._booting_until
        )

    def _can_read(self) -> bool:
        # Not ``self._block is None``: Marlin reads while a command waits (see ``_run``).
        return (
            self._running()
            and not self._errors
            and not self._rx
            and len(self._queue) < self.options.command_buffer
        )

    def _ep_listening(self) -> bool:
        return self.options.emergency_parser and self._running() and self.identity.name != "rrf"

    @property
    def tails(self) -> list[Tail]:
        """Every line a drain cut, in order of arrival."""
        return self.counters.tails

    def _next_internal_event(self) -> float:
        times = [math.inf]
        fault_time = self._faults.next_time()
        if fault_time is not None:
            times.append(fault_time)
        if not self._running():
            if self._clock < self._silent_until:
                times.append(self._silent_until)
            if self._clock < self._booting_until:
                times.append(self._booting_until)
            return min(times)
        if self._errors:
            times.append(self._error_due if self._error_due < math.inf else self._drain_due)
        block = self._block
        if block is not None:
            times.append(block.next_keepalive)
            times.append(block.next_report)
            if block.kind == "until":
                times.append(block.until)
            elif block.kind == "heat" and block.heater is not None:
                times.append(block.heater.reached_at(self.options.temp_window))
            elif block.kind == "planner_slot" and self._planner:
                times.append(self._planner[0])
            elif block.kind == "planner_empty" and self._planner:
                times.append(self._planner[-1])
        times.append(self._next_autoreport)
        if self._wait_interval() is not None and self._idle():
            times.append(self._next_wait)
        return min(times)

    def _advance(self, now: float) -> None:
        stuck = 0
        while True:
            self._deliver(now)
            event = self._next_internal_event()
            if event > now:
                break
            stuck = stuck + 1 if event <= self._clock else 0
            if stuck > 1000:
                raise RuntimeError(f"simulated firmware stuck at t={self._clock}")
            self._clock = max(self._clock, event)
            self._on_timers()
            self._run()
        self._clock = max(self._clock, now)
        self._run()

    def _on_timers(self) -> None:
        now = self._clock
        for fault in self._faults.fire_due(now):
            self._apply_event(fault)
        if self._banner_due and now >= self._booting_until:
            # The bootloader has given up waiting for a new firmware image; Marlin starts.
            self._banner_due = False
            self._emit_lines(self.identity.banner)
        if not self._running():
            return
        if self._errors:
            if now >= self._error_due - _EPSILON:
                self._notice_line_error()
            if now >= self._drain_due - _EPSILON:
                self._report_line_errors()
        block = self._block
        interval = self.options.keepalive_interval
        if block is not None:
            if block.busy is not None and now >= block.next_keepalive - _EPSILON:
                self._emit(block.busy)
                block.next_keepalive = _next_tick(block.next_keepalive, interval, now)
            if block.heater is not None and now >= block.next_report - _EPSILON:
                line = wait_report(
                    self._wait_style(), self._readings(), self._reading(block.heater)
                )
                if line is not None:
                    self._emit(line)
                block.next_report = _next_tick(block.next_report, 1.0, now)
        if now >= self._next_autoreport - _EPSILON:
            self._emit(" " + self._temperatures())
            self._next_autoreport = _next_tick(self._next_autoreport, self._autoreport, now)
        wait_every = self._wait_interval()
        if wait_every is not None and self._idle() and now >= self._next_wait - _EPSILON:
            self._emit("wait")
            self._next_wait = _next_tick(self._next_wait, wait_every, now)

    # ----- bytes arriving from the host -----

    def _next_eol_arrival(self) -> float:
        for chunk in self._inbound:
            match = _EOL.search(chunk.data, chunk.offset)
            if match is not None:
                return chunk.start + (match.start() + 1) * self._byte_time
        return math.inf

    def _deliver(self, now: float) -> None:
        """Hand over, line by line, the bytes that arrive before the next event or ``now``."""
        while self._inbound:
            limit = min(now, self._next_internal_event())
            chunk = self._inbound[0]
            if chunk.start > limit + _EPSILON:
                return
            if self._byte_time > 0:
                arrived = min(len(chunk.data), int((limit - chunk.start) / self._byte_time + 1e-6))
            else:
                arrived = len(chunk.data)
            if arrived <= chunk.offset:
                return
            match = _EOL.search(chunk.data, chunk.offset, arrived)
            end = match.end() if match is not None else arrived
            segment = chunk.data[chunk.offset : end]
            chunk.offset = end
            if chunk.offset >= len(chunk.data):
                self._inbound.popleft()
            arrival = chunk.start + end * self._byte_time
            self._clock = max(self._clock, min(arrival, limit))
            self._take(segment)

    def _take(self, segment: bytes) -> None:
        if self._halted or self._clock < self._booting_until:
            return  # a killed board and a bootloader read nothing
        if self._clock < self._silent_until:
            self._into_rx(segment)
            return
        if self._ep_listening() and self._scan_emergency(segment):
            self._run()
            if not self._running():
                return
        if self._can_read():
            self._partial += segment
            self._assemble()
            self._run()
        else:
            self._into_rx(segment)

    def _into_rx(self, segment: bytes) -> None:
        room = self.options.rx_buffer - len(self._rx)
        if len(segment) > room:
            # A UART overrun: what does not fit is gone, mid-line or not.
            self.counters.overrun_bytes += len(segment) - max(room, 0)
            segment = segment[: max(room, 0)]
        self._rx += segment

    def _read_rx(self) -> None:
        """Marlin's get_serial_commands: pull bytes while the command queue has room."""
        if (
            self.identity.full_rx_flush
            and len(self._rx) >= self.options.rx_buffer - 1
            and len(self._queue) < self.options.command_buffer
            and not self._errors
        ):
            # Prusa's get_command(): a full RX ring is flushed before anything is read.
            self._rx.clear()
            self._emit("Full RX Buffer")
        while (
            self._rx
            and not self._errors
            and len(self._queue) < self.options.command_buffer
            and self._running()
        ):
            match = _EOL.search(self._rx)
            if match is None:
                self._partial += self._rx
                self._rx.clear()
                break
            self._partial += self._rx[: match.end()]
            del self._rx[: match.end()]
            self._assemble()

    def _assemble(self) -> None:
        match = _EOL.search(self._partial)
        if match is None:
            if len(self._partial) > 4 * self.options.max_line:
                # Marlin keeps only MAX_CMD_SIZE characters; no need to hoard the rest.
                del self._partial[self.options.max_line :]
            return
        line = bytes(self._partial[: match.start()])
        del self._partial[: match.end()]
        self._line_complete(line)

    def _scan_emergency(self, segment: bytes) -> bool:
        """Marlin's EMERGENCY_PARSER: watches every byte as it arrives, before any buffer."""
        acted = False
        self._ep_partial += segment
        while True:
            match = _EOL.search(self._ep_partial)
            if match is None:
                if len(self._ep_partial) > self.options.max_line:
                    del self._ep_partial[: -self.options.max_line]
                return acted
            line = bytes(self._ep_partial[: match.start()]).decode("latin-1").strip()
            del self._ep_partial[: match.end()]
            line = _LINE_PREFIX.sub("", line, count=1) if line.startswith("N") else line
            code = line[:4].upper()
            if self.identity.shutdown_keeps_answering and code != "M112":
                continue  # Klipper's GCodeIO._process_data() looks ahead for M112 only
            if code in _EMERGENCY and not line[4:5].isdigit():
                command = line.split("*", 1)[0].strip()
                self._emergency(code, command)
                acted = True

    def _emergency(self, code: str, command: str) -> None:
        self.executed.append(command)
        if code == "M112":
            self._kill()
            if self.identity.shutdown_keeps_answering:
                # Klipper runs the queued M112 again later (a no-op, with its ok).
                self.executed.pop()
        elif code == "M410":
            self._quick_stop()
        elif code == "M108":
            self._break_wait(("heat", "user"))
        elif code == "M876":
            self._break_wait(("user",))

    # ----- lines: numbers, checksums, resends -----

    def _line_complete(self, raw: bytes) -> None:
        text = raw.decode("latin-1")
        cut = text.find(";")
        if cut >= 0:
            text = text[:cut]
        text = text[: self.options.max_line - 1].strip()
        tail: Tail | None = None
        if self._tail_next:
            # The first line to complete after a drain that cut a line: its end, on its own.
            self._tail_next = False
            if text:
                tail = Tail(text)
                self.counters.tails.append(tail)
        if not text:
            return  # Marlin answers nothing to an empty or comment-only line
        self._next_wait = self._clock + (self._wait_interval() or 1.0)
        if not self.identity.checks_line_numbers:
            self._unchecked_line(text)
            return
        if text[0] != "N":
            if "*" in text and self.identity.checksum_without_number == "reject":
                # Prusa cmdqueue.cpp get_command(): "No Line Number with checksum".
                if tail is not None:
                    tail.command = text
                    tail.outcome = "rejected"
                self._line_error("No Line Number with checksum")
                return
            # Marlin queues it as it is; GCodeParser::parse() ends the line at its first "*"
            # (searched from the second character on).
            self._enqueue(_cut_at_star(text), None, tail)
            return
        marks = self._line_faults()
        if marks is None:
            return
        if marks.keys() & _CORRUPTING:
            text = self._corrupt(text)
        number_at = 0
        is_m110 = "M110" in text
        if is_m110:
            second = text.find("N", 4)
            if second >= 0:
                number_at = second
        number = _strtol(text[number_at + 1 :])
        star = text.rfind("*")
        payload = text[:star] if star >= 0 else text
        discards = self.identity.bad_line == "discard"
        if number in self._cursed:
            self._line_error("checksum mismatch", expected=checksum(payload.encode("latin-1")))
            self._cursed[number] -= 1
            if self._cursed[number] == 0:
                del self._cursed[number]
            return
        if number != self._last_n + 1 and not is_m110 and not discards:
            # No Marlin keeps a window of recently taken numbers: any number but last+1 is an
            # error (queue.cpp get_serial_commands(), Marlin_main.cpp get_serial_commands()).
            self._line_error("Line Number is not Last Line Number+1")
            return
        if star < 0:
            if not discards:
                self._line_error("No Checksum with line number")
                return
        else:
            expected = checksum(payload.encode("latin-1"))
            if _strtol(text[star + 1 :]) != expected:
                if discards:
                    # RepRapFirmware: StringParser::LineFinished() drops the line silently.
                    self.counters.line_errors += 1
                    self.counters.discarded_lines += 1
                    return
                self._line_error(
                    "checksum mismatch",
                    expected=expected,
                    with_ok="resend_without_ok" not in marks,
                )
                if "double_resend" in marks:
                    self._line_error("Line Number is not Last Line Number+1", expected=expected)
                return
        if "resend_old" in marks:
            back = int(marks["resend_old"].params["back"])
            self._last_n = max(0, number - 1 - back)
            self._line_error("Line Number is not Last Line Number+1")
            return
        if "endless_resend" in marks:
            times = int(marks["endless_resend"].params["times"])
            remaining = times - 1 if times > 0 else -1
            if remaining != 0:
                self._cursed[number] = remaining
            self._line_error("checksum mismatch", expected=checksum(payload.encode("latin-1")))
            return
        self._last_n = number
        command = _cut_at_star(_LINE_PREFIX.sub("", payload, count=1).strip())
        queued = self._enqueue(command, number)
        queued.lost_ok = "lost_ok" in marks
        queued.extra_ok = "extra_ok" in marks
        queued.resend_unsent = "resend_unsent" in marks
        if "long_command" in marks:
            queued.hold = float(marks["long_command"].params["seconds"])
            queued.hold_keepalive = bool(marks["long_command"].params["keepalive"])

    def _unchecked_line(self, text: str) -> None:
        """Klipper's GCodeDispatch._process_commands(): skip a leading N word, check nothing."""
        marks: dict[str, Fault] = {}
        if text.startswith("N"):
            fired = self._line_faults()
            if fired is None:
                return
            marks = fired
            if marks.keys() & _CORRUPTING:
                text = self._corrupt(text)  # nothing checks it: the damaged line runs as it is
            text = _LINE_PREFIX.sub("", text, count=1).strip()
        # "*" is just one more parameter letter to Klipper; the command never uses it.
        queued = self._enqueue(_cut_at_star(text), None)
        queued.lost_ok = "lost_ok" in marks
        queued.extra_ok = "extra_ok" in marks

    def _line_faults(self) -> dict[str, Fault] | None:
        """The faults a numbered line fires (events happen now); None: the line is gone."""
        self.counters.numbered_received += 1
        marks: dict[str, Fault] = {}
        for fault in self._faults.on_numbered_line(self.counters.numbered_received):
            if fault.spec.kind == "event":
                self._apply_event(fault)
            else:
                marks[fault.name] = fault
        if not self._running() or "drop_line" in marks:
            return None
        return marks

    def _corrupt(self, text: str) -> str:
        """One byte of the line's body damaged on the wire (as a UART framing error would)."""
        star = text.rfind("*")
        body_end = star if star > 0 else len(text)
        start = text.find(" ") + 1 if " " in text[:body_end] else 1
        if start >= body_end:
            start = max(0, body_end - 1)
        index = self._faults.rng.randrange(start, body_end) if body_end > start else 0
        flipped = chr(ord(text[index]) ^ 0x04)
        if flipped in "\r\n*;":
            flipped = chr(ord(text[index]) ^ 0x01)
        return text[:index] + flipped + text[index + 1 :]

    # ----- line errors: noticed a moment after the line, then the drain -----

    def _line_error(self, reason: str, *, expected: int = 0, with_ok: bool = True) -> None:
        """A line error; the firmware reports it (and drains) once its main loop gets there."""
        self.counters.line_errors += 1
        self._errors.append(_LineError(reason, expected, with_ok))
        if len(self._errors) > 1:
            return  # reported together with the first
        jitter = self.options.service_jitter
        delay = self._jitter_rng.uniform(0.0, jitter) if jitter > 0 else 0.0
        self._error_due = self._clock + delay
        self._drain_due = math.inf
        if delay <= 0:
            self._notice_line_error()
            if self._clock >= self._drain_due - _EPSILON:
                self._report_line_errors()

    def _notice_line_error(self) -> None:
        """gcode_line_error(): the Error line goes out; the drain follows once it has left."""
        self._error_due = math.inf
        first = self._errors[0]
        self._emit(f"{self.identity.error_prefix}{first.reason}, Last Line: {self._last_n}")
        drain_at = self._clock
        if self.identity.drain_on_error and self._byte_time > 0:
            # An unbuffered UART write blocks until all but tx_buffer bytes are on the wire.
            drain_at = max(
                drain_at, self._out_wire_free - self.identity.tx_buffer * self._byte_time
            )
        self._drain_due = drain_at

    def _report_line_errors(self) -> None:
        errors, self._errors = self._errors, []
        self._drain_due = math.inf
        for index, error in enumerate(errors):
            if index > 0:
                self._emit(f"{self.identity.error_prefix}{error.reason}, Last Line: {self._last_n}")
            if self.identity.drain_on_error:
                self._drain()
            self._emit(resend_line(self._resend_form(), self._last_n + 1, error.expected))
            if error.with_ok and self._ok_after_resend():
                self._emit(self._resend_ok())
        self._run()

    def _drain(self) -> None:
        """Everything that has arrived is discarded: the receive buffer and the partial line."""
        drained = bytes(self._partial) + bytes(self._rx)
        self._partial.clear()
        self._rx.clear()
        self.counters.drains += 1
        self.counters.drained_bytes += len(drained)
        if drained and drained[-1:] not in (b"\n", b"\r"):
            # The drain fell inside a line: what is still on the wire arrives as a line of
            # its own.
            self._tail_next = True

    def _ok_after_resend(self) -> bool:
        forced = self.options.ok_after_resend
        return self.identity.ok_after_resend if forced is None else forced

    def _resend_ok(self) -> str:
        if (
            self.identity.resend_ok == "queue_head"
            and self.options.advanced_ok
            and self.identity.advanced_ok_supported
        ):
            # Marlin 1.1.9 ok_to_send(): the slot at the queue's read index, stale or not.
            self._retire_moves()
            number = self._slot_numbers[self._dequeued % self.options.command_buffer]
            planner_free = self.options.planner_size - 1 - len(self._planner)
            buffer_free = self.options.command_buffer - len(self._queue)
            shown = f" N{number}" if number is not None else ""
            return f"ok{shown} P{planner_free} B{buffer_free}"
        return "ok"

    def _resend_form(self) -> str:
        fault = self._mode("resend_format")
        return str(fault.params["form"]) if fault is not None else self.identity.resend_form

    def _enqueue(self, command: str, number: int | None, tail: Tail | None = None) -> _Command:
        match = _CODE.match(command)
        code = ""
        if match is not None:
            code = match.group(1).upper() + match.group(2)
            if match.group(3) is not None:
                code += "." + match.group(3)
        queued = _Command(command, number, code, tail)
        if tail is not None:
            tail.command = command
        self._slot_numbers[self._enqueued % self.options.command_buffer] = number
        self._enqueued += 1
        self._queue.append(queued)
        return queued

    # ----- the main loop -----

    def _run(self) -> None:
        while self._running():
            # Marlin keeps its command queue full even while the head command waits (for a
            # planner slot, a heater, a dwell, homing, the user): every such wait loops on
            # idle(), whose manage_inactivity() calls queue.get_available_commands(). So lines
            # leave the receive buffer for free slots whether or not a command is blocked;
            # only a full queue leaves them there. (Reading only between commands would make
            # a burst that arrives during a wait overrun the receive buffer while three
            # slots stand empty, which real firmware never does.)
            self._read_rx()
            if not self._running():
                return
            block = self._block
            if block is not None:
                if not self._resolved(block):
                    return
                self._block = None
                block.then()
                continue
            if not self._queue:
                return
            self._execute(self._queue[0])

    def _resolved(self, block: _Block) -> bool:
        if block.broken:
            return True
        now = self._clock + _EPSILON
        self._retire_moves()
        if block.kind == "until":
            return now >= block.until
        if block.kind == "planner_slot":
            return len(self._planner) < self.options.planner_size - 1
        if block.kind == "planner_empty":
            return not self._planner
        if block.kind == "heat" and block.heater is not None:
            return now >= block.heater.reached_at(self.options.temp_window)
        return False

    def _retire_moves(self) -> None:
        planner = self._planner
        while planner and planner[0] <= self._clock + _EPSILON:
            planner.popleft()

    def _block_on(
        self,
        kind: str,
        then: Callable[[], None],
        *,
        until: float = math.inf,
        busy: str | None = "echo:busy: processing",
        heater: Heater | None = None,
    ) -> None:
        block = _Block(kind, then, until=until, heater=heater)
        if busy is not None and self.identity.busy_keepalive:
            block.busy = busy
            block.next_keepalive = self._clock + self.options.keepalive_interval
        if heater is not None:
            block.next_report = self._clock + 1.0
        self._block = block

    def _finish(
        self, command: _Command, lines: Iterable[str] = (), ok_data: str | None = None
    ) -> None:
        """The head command is done: its output, its ok, and the queue moves on."""
        if command.hold > 0:
            # The fault's duration is what the host lives through: not scaled by move_timing.
            seconds, command.hold = command.hold, 0.0
            busy = "echo:busy: processing" if command.hold_keepalive else None
            output = list(lines)
            self._block_on(
                "until",
                lambda: self._finish(command, output, ok_data),
                until=self._clock + seconds,
                busy=busy,
            )
            return
        before = self._mode("ok_before_output") is not None
        ok = None if command.lost_ok else self._ok_text(command, ok_data)
        if before and ok is not None:
            self._emit(ok)
        self._emit_lines(lines)
        if not before and ok is not None:
            self._emit(ok)
        if command.extra_ok:
            self._emit("ok")
        if command.resend_unsent:
            self._emit(resend_line(self._resend_form(), self._last_n + 1))
            if self._ok_after_resend():
                self._emit(self._resend_ok())
        if self._queue and self._queue[0] is command:
            self._queue.popleft()
            self._dequeued += 1
        self._next_wait = self._clock + (self._wait_interval() or 1.0)

    def _ok_text(self, command: _Command, data: str | None) -> str:
        fault = self._mode("ok_variant")
        style = str(fault.params["style"]) if fault is not None else ""
        if not style:
            if self.identity.ok_with_number:
                style = "number"
            elif self.options.advanced_ok and self.identity.advanced_ok_supported:
                style = "advanced"
            else:
                style = "plain"
        if data is not None:
            return f"ok {data}"
        self._retire_moves()
        if style == "advanced":
            planner_free = self.options.planner_size - 1 - len(self._planner)
            buffer_free = self.options.command_buffer - len(self._queue)
            number = f" N{command.number}" if command.number is not None else ""
            return f"ok{number} P{planner_free} B{buffer_free}"
        if style == "colon":
            return f"ok N:{command.number if command.number is not None else self._last_n}"
        if style == "number":
            return f"ok {command.number}" if command.number is not None else "ok"
        if style == "temperature":
            return "ok " + self._temperatures()
        return "ok"

    # ----- commands -----

    def _execute(self, command: _Command) -> None:
        code = command.code
        handler = _HANDLERS.get(code)
        if self._shut_down and code not in _KLIPPER_WHEN_NOT_READY:
            # klippy/gcode.py cmd_default(): not ready -> gcmd.error(state message), then ok.
            self._finish(command, ["!! Shutdown due to M112 command"])
            return
        if code in _EMERGENCY and self._ep_listening() and not self._shut_down:
            # The emergency parser already acted on it; in the queue it is a no-op.
            if command.tail is not None:
                command.tail.outcome = "emergency"
            self._finish(command)
            return
        known = (
            handler is not None
            or code in _SILENT_CODES
            or (code.startswith("M862") and self.identity.name == "prusa")
            or (code.startswith("T") and code[1:].isdigit())
        )
        if command.tail is not None:
            command.tail.outcome = "executed" if known else "unknown"
            command.tail.executed = True
            command.tail.index = len(self.executed)
        self.executed.append(command.text)
        if handler is not None:
            handler(self, command)
        elif code in _SILENT_CODES or (code.startswith("M862") and self.identity.name == "prusa"):
            self._silent_command(command)
        elif code.startswith("T") and code[1:].isdigit():
            tool = int(code[1:])
            if tool >= self.options.extruders:
                self._finish(command, [f"echo:T{tool} Invalid extruder"])
            else:
                self._toolhead.tool = tool
                self._finish(command)
        else:
            self._finish(command, [self._unknown(command)])

    def _unknown(self, command: _Command) -> str:
        identity = self.identity
        if identity.shutdown_keeps_answering:
            # Klipper's args_r split: the command is the first three parts, "G999" or "123 G1".
            parts = _KLIPPER_ARGS.split(command.text.upper())
            return identity.unknown_command.format(command="".join(parts[:3]).strip())
        code, text = command.code, command.text
        if code.startswith("G") and identity.unknown_g is not None:
            return identity.unknown_g.format(command=text, code=code)
        if code.startswith("M") and identity.unknown_m is not None:
            return identity.unknown_m.format(command=text, code=code)
        return identity.unknown_command.format(command=text, code=code)

    def _silent_command(self, command: _Command) -> None:
        head = self._toolhead
        if command.code == "G90":
            head.relative = head.relative_e = False
        elif command.code == "G91":
            head.relative = head.relative_e = True
        elif command.code == "M82":
            head.relative_e = False
        elif command.code == "M83":
            head.relative_e = True
        self._finish(command)

    def _move(self, command: _Command) -> None:
        words = _words(command.text[len(command.code) :])
        distance = self._toolhead.move(words)
        if distance <= 0:
            self._finish(command)  # Marlin drops zero-length moves before the planner
            return
        seconds = self.options.scaled(
            move_seconds(distance, self._toolhead.feed_mm_s(), self.options.acceleration)
        )
        self._plan(command, seconds)

    def _plan(self, command: _Command, seconds: float) -> None:
        self._retire_moves()
        if len(self._planner) >= self.options.planner_size - 1:
            self._block_on("planner_slot", lambda: self._plan(command, seconds))
            return
        start = max(self._clock, self._planner[-1] if self._planner else self._clock)
        if seconds > 0:
            self._planner.append(start + seconds)
        slow = self._mode("slow_planner")
        if slow is not None:
            delay = float(slow.params["delay"])
            self._block_on(
                "until", lambda: self._finish(command), until=self._clock + delay, busy=None
            )
            return
        self._finish(command)

    def _synchronize(self, then: Callable[[], None]) -> None:
        self._retire_moves()
        if self._planner:
            self._block_on("planner_empty", then)
        else:
            then()

    def _timed(self, command: _Command, seconds: float, then: Callable[[], None]) -> None:
        def wait() -> None:
            if seconds <= 0:
                then()
            else:
                self._block_on("until", then, until=self._clock + seconds)

        self._synchronize(wait)

    def _home(self, command: _Command) -> None:
        words = _words(command.text[len(command.code) :])
        axes = [a for a in ("X", "Y", "Z") if a in words] or ["X", "Y", "Z"]

        def done() -> None:
            for axis in axes:
                self._toolhead.position[axis] = 0.0
            self._finish(command)

        self._timed(command, self.options.scaled(self.options.home_seconds), done)

    def _probe(self, command: _Command) -> None:
        self._timed(
            command, self.options.scaled(self.options.probe_seconds), lambda: self._finish(command)
        )

    def _dwell(self, command: _Command) -> None:
        words = _words(command.text[len(command.code) :])
        seconds = words.get("S", 0.0) + words.get("P", 0.0) / 1000.0
        self._timed(command, self.options.scaled(seconds), lambda: self._finish(command))

    def _set_position(self, command: _Command) -> None:
        words = _words(command.text[len(command.code) :])
        self._toolhead.set_position(words or {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0})
        self._finish(command)

    def _wait_moves(self, command: _Command) -> None:
        self._synchronize(lambda: self._finish(command))

    def _heater_for(self, command: _Command) -> Heater | None:
        code = command.code
        if code in ("M140", "M190"):
            return self._bed
        if code in ("M141", "M191"):
            self._chamber_used = True
            return self._chamber
        words = _words(command.text[len(code) :])
        tool = int(words.get("T", self._toolhead.tool))
        if tool >= len(self._hotends):
            return None
        return self._hotends[tool]

    def _set_temperature(self, command: _Command) -> None:
        heater = self._heater_for(command)
        if heater is None:
            self._finish(command, ["echo:Invalid extruder"])
            return
        words = _words(command.text[len(command.code) :])
        target = words.get("S", words.get("R"))
        if target is not None:
            heater.set_target(target, self._clock)
        if command.code in ("M104", "M140", "M141"):
            self._finish(command)
            return
        if target is None:
            self._finish(command)
            return
        self._block_on("heat", lambda: self._finish(command), heater=heater, busy=None)

    def _report_temperatures(self, command: _Command) -> None:
        if self._mode("ok_before_output") is None:
            self._finish(command, ok_data=self._temperatures())
        else:
            self._finish(command, [self._temperatures()])

    # Overrides during a print, as Marlin 2.x runs them (docs/printer-page.md cites the files).

    def _speed_or_flow(self, command: _Command) -> None:
        """M220 (gcode/config/M220.cpp), M221 (M221.cpp): S sets the percentage; alone, a report."""
        words = _words(command.text[len(command.code) :])
        head = self._toolhead
        flow = command.code == "M221"
        if "S" in words:
            percent = max(1.0, float(int(words["S"])))
            if flow:
                head.flow_factor = percent
            else:
                head.speed_factor = percent
            self._finish(command)
            return
        if flow:
            self._finish(command, [f"echo:E{head.tool} Flow: {head.flow_factor:.0f}%"])
        else:
            self._finish(command, [f"FR:{head.speed_factor:.0f}%"])

    def _babystep(self, command: _Command) -> None:
        """M290 (gcode/motion/M290.cpp): Z or S steps Z by at most 2 mm; no axis or R: a report."""
        text = command.text[len(command.code) :].upper()
        words = _words(text)
        step = words.get("Z", words.get("S"))
        if step is not None:
            self.babystep_z = round(self.babystep_z + max(-2.0, min(2.0, step)), 4)
        if not any(axis in text for axis in "XYZ") or "R" in text:
            self._finish(command, [f"echo:Babystep Z{self.babystep_z:g}"])
        else:
            self._finish(command)

    def _report_position(self, command: _Command) -> None:
        self._finish(command, [self._toolhead.report()])

    def _report_firmware(self, command: _Command) -> None:
        name = self.identity.firmware_name.format(extruders=self.options.extruders)
        if self.identity.ok_carries_m115:
            self._finish(command, ok_data=name)  # Klipper cmd_M115(): gcmd.ack(msg)
            return
        lines = [name]
        caps = list(self.identity.capabilities)
        report = self.options.capabilities_report
        if report == "partial":
            caps = caps[: self.identity.partial_capabilities]
        elif report == "none":
            caps = []
        for name, value in caps:
            if name == "AUTOREPORT_TEMP":
                value = int(self.options.autoreport_temp)
            elif name == "EMERGENCY_PARSER":
                value = int(self.options.emergency_parser)
            lines.append(f"Cap:{name}:{value}")
        self._finish(command, lines)

    def _autoreport_temperatures(self, command: _Command) -> None:
        if not self.options.autoreport_temp or self.identity.shutdown_keeps_answering:
            # Klipper has no M155.
            if command.tail is not None:
                command.tail.outcome = "unknown"
            self._finish(command, [self._unknown(command)])
            return
        if self.options.autoreport_silent:
            # Announced and acknowledged, yet no report ever comes (a broken build).
            self._finish(command)
            return
        words = _words(command.text[len(command.code) :])
        self._autoreport = max(0.0, words.get("S", 1.0))
        self._next_autoreport = self._clock + self._autoreport if self._autoreport > 0 else math.inf
        self._finish(command)

    def _set_line_number(self, command: _Command) -> None:
        words = _words(command.text[len(command.code) :])
        if "N" in words:
            self._last_n = int(words["N"])
        self._finish(command)

    def _user_wait(self, command: _Command, prompt: str) -> None:
        if self.identity.action_prompts:
            self._emit_lines(
                [
                    "//action:prompt_end",
                    f"//action:prompt_begin {prompt}",
                    "//action:prompt_button Continue",
                    "//action:prompt_show",
                ]
            )
        if command.code == "M600":
            self._emit("//action:paused")

        def resumed() -> None:
            lines = ["//action:prompt_end"] if self.identity.action_prompts else []
            if command.code == "M600":
                lines.append("//action:resumed")
            self._finish(command, lines)

        self._block_on("user", resumed, busy="echo:busy: paused for user")

    def _filament_change(self, command: _Command) -> None:
        self._synchronize(lambda: self._user_wait(command, "Change filament"))

    def _stop_for_user(self, command: _Command) -> None:
        self._synchronize(lambda: self._user_wait(command, "Click to continue"))

    def _answer_prompt(self, command: _Command) -> None:
        self._break_wait(("user",))
        self._finish(command)

    def _host_message(self, command: _Command) -> None:
        text = command.text[len(command.code) :].strip()
        words = text.split(" ", 1)
        prefix = ""
        while words and len(words[0]) == 2 and words[0][0] in "AEP" and words[0][1].isdigit():
            prefix = {"A": "//", "E": "echo:"}.get(words[0][0], prefix)
            text = words[1] if len(words) > 1 else ""
            words = text.split(" ", 1)
        self._finish(command, [prefix + text])

    def _resume_after_error(self, command: _Command) -> None:
        if not self.identity.m999_resends:
            self._finish(command)
            return
        # M999 -> flush_and_request_resend(): SERIAL_FLUSH() (discards the RX ring on AVR),
        # "Resend: N", the resend's ok; then M999's own ok.
        if self.identity.drain_on_error:
            self._drain()
        self._emit(resend_line(self._resend_form(), self._last_n + 1))
        if self._ok_after_resend():
            self._emit(self._resend_ok())
        self._finish(command)

    def _progress(self, command: _Command) -> None:
        if not self.identity.m73_report:
            self._silent_command(command)
            return
        words = _words(command.text[len(command.code) :])
        for key in self._m73:
            if key in words:
                self._m73[key] = int(words[key])
        m73 = self._m73

        def line(mode: str, percent: int, remaining: int, change: int) -> str:
            # Prusa Marlin_main.cpp, case 73: printf "%S MODE: Percent done: %hhd; ..."
            signed = percent - 256 if percent > 127 else percent
            return (
                f"{mode} MODE: Percent done: {signed}; print time remaining in mins: "
                f"{remaining}; Change in mins: {change}"
            )

        self._finish(
            command,
            [
                line("NORMAL", m73["P"], m73["R"], m73["C"]),
                line("SILENT", m73["Q"], m73["S"], m73["D"]),
            ],
        )

    def _queued_kill(self, command: _Command) -> None:
        self._kill()
        if self._shut_down:
            self._finish(command)

    def _queued_quick_stop(self, command: _Command) -> None:
        self._quick_stop()
        self._finish(command)

    def _queued_break(self, command: _Command) -> None:
        self._break_wait(("heat", "user"))
        self._finish(command)

    def _kill(self) -> None:
        if self.identity.shutdown_keeps_answering:
            # Klipper: invoke_shutdown(); GCodeDispatch._handle_shutdown() says so, the host
            # link stays up and every later command gets "!! <reason>" and ok.
            if not self._shut_down:
                self._shut_down = True
                self._emit("// Klipper state: Shutdown")
                self._planner.clear()
                for heater in (*self._hotends, self._bed, self._chamber):
                    heater.set_target(0.0, self._clock)
            return
        self._emit(KILLED)
        self._halted = True
        self._queue.clear()
        self._planner.clear()
        self._block = None
        self._rx.clear()
        self._partial.clear()
        for heater in (*self._hotends, self._bed, self._chamber):
            heater.set_target(0.0, self._clock)

    def _quick_stop(self) -> None:
        self._planner.clear()

    def _break_wait(self, kinds: tuple[str, ...]) -> None:
        if self._block is not None and self._block.kind in kinds:
            self._block.broken = True

    # ----- faults that happen at a moment -----

    def _apply_event(self, fault: Fault) -> None:
        name, params = fault.name, fault.params
        if name == "reset":
            self._restart()
        elif name == "silence":
            seconds = float(params["seconds"])
            self._silent_until = self._clock + seconds if seconds > 0 else math.inf
        elif name == "write_stall":
            self._stall_until = self._clock + float(params["seconds"])
            self.link_requests.append(LinkRequest("stall", float(params["seconds"]), self._clock))
        elif name == "unplug":
            # The board loses its link (and, USB-powered, its power) until the runner plugs it in.
            self._silent_until = math.inf
            self.link_requests.append(LinkRequest("unplug", float(params["seconds"]), self._clock))
        elif name == "fatal_error":
            self._emit_lines(_FATAL_LINES[str(params["kind"])])
            self._kill()
        elif name == "emit":
            self._emit(str(params["text"]))
        elif name == "unsolicited":
            what = params["what"]
            if what == "autoreport":
                self._emit(" " + self._temperatures())
            elif what == "echo":
                self._emit("echo:Settings Stored (662 bytes; crc 20112)")
            else:
                self._emit("//action:notification Printing...")
        elif name == "action":
            separator = "// action:" if params["spaced"] else "//action:"
            action = str(params["action"])
            if action == "prompt":
                self._emit_lines(
                    [
                        f"{separator}prompt_begin Filament runout",
                        f"{separator}prompt_button Continue",
                        f"{separator}prompt_show",
                    ]
                )
            else:
                self._emit(separator + action)
        elif name == "garbage":
            length = int(params["length"])
            what = params["what"]
            if what == "nul":
                junk = b"\x00" * length
            elif what == "binary":
                junk = bytes((0xFF - (i * 37) % 0x70) for i in range(length))
            else:
                junk = bytes(33 + (i * 7) % 90 for i in range(length))
            self._send(junk + b"\n")
        elif name == "long_line":
            self._emit("echo:" + "x" * max(0, int(params["length"]) - 5))

    def _mode(self, name: str) -> Fault | None:
        return self._faults.active_modes.get(name)

    # ----- what the printer says -----

    def _emit(self, line: str) -> None:
        if self._clock < self._silent_until:
            return
        eol = b"\r\n" if self._mode("crlf") is not None else b"\n"
        self._send(line.encode("utf-8", "replace") + eol)

    def _emit_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self._emit(line)

    def _send(self, data: bytes) -> None:
        split = self._mode("split_writes")
        if split is not None and len(data) > 2:
            half = len(data) // 2
            self._queue_out(data[:half], 0.0)
            self._queue_out(data[half:], float(split.params["gap"]))
        else:
            self._queue_out(data, 0.0)

    def _queue_out(self, data: bytes, extra_delay: float) -> None:
        start = max(self._clock, self._out_wire_free)
        done = start + len(data) * self._byte_time
        self._out_wire_free = done
        latency = self.options.latency
        if self.options.latency_timer and latency > 0:
            deliver = self._timer_release(done, len(data)) + extra_delay
        else:
            deliver = done + latency + extra_delay
        deliver = max(deliver, self._out_last)
        self._out_last = deliver
        if self._outbound and self._outbound[-1][0] == deliver:
            self._outbound[-1] = (deliver, self._outbound[-1][1] + data)
        else:
            self._outbound.append((deliver, data))

    def _timer_release(self, done: float, size: int) -> float:
        """When an FTDI-style adapter hands bytes complete at ``done`` to the host."""
        latency = self.options.latency
        tick = math.ceil(done / latency) * latency
        if tick != self._usb_tick:
            self._usb_tick = tick
            self._usb_pending = 0
        self._usb_pending += size
        if self._usb_pending >= _USB_PACKET:
            # A full packet leaves without waiting for the timer, with what waited before it.
            self._usb_pending = 0
            outbound = self._outbound
            for index in range(len(outbound) - 1, -1, -1):
                if outbound[index][0] != tick:
                    break
                outbound[index] = (done, outbound[index][1])
            if self._out_last == tick:
                self._out_last = done
            return done
        return tick

    def _readings(self) -> list[HeaterReading]:
        readings = [self._reading(h) for h in self._hotends]
        readings.append(self._reading(self._bed))
        if self._chamber_used:
            readings.append(self._reading(self._chamber))
        return readings

    def _reading(self, heater: Heater) -> HeaterReading:
        now = self._clock
        return HeaterReading(
            heater.letter, heater.index, heater.temperature(now), heater.target, heater.power(now)
        )

    def _temperatures(self) -> str:
        fault = self._mode("temperature_format")
        style = (
            str(fault.params["style"]) if fault is not None else self.identity.temperature_format
        )
        return temperature_report(style, self._readings())

    def _wait_style(self) -> str:
        fault = self._mode("temperature_format")
        if fault is not None and fault.params["style"] in ("marlin1", "prusa"):
            return "marlin1"
        return self.identity.wait_format

    def _wait_interval(self) -> float | None:
        fault = self._mode("wait_idle")
        if fault is not None:
            return float(fault.params["interval"])
        return 1.0 if self.identity.wait_when_idle else None

    def _idle(self) -> bool:
        return self._running() and self._block is None and not self._queue


def _next_tick(previous: float, interval: float, now: float) -> float:
    """The next time on a fixed cadence after ``now`` (skipping ticks missed while catching up)."""
    if interval <= 0:
        return math.inf
    ticks = max(1, math.floor((now - previous) / interval) + 1)
    return previous + ticks * interval


_HANDLERS: dict[str, Callable[[SimulatedFirmware, _Command], None]] = {
    "G0": SimulatedFirmware._move,
    "G1": SimulatedFirmware._move,
    "G4": SimulatedFirmware._dwell,
    "G28": SimulatedFirmware._home,
    "G29": SimulatedFirmware._probe,
    "G92": SimulatedFirmware._set_position,
    "M0": SimulatedFirmware._stop_for_user,
    "M1": SimulatedFirmware._stop_for_user,
    "M104": SimulatedFirmware._set_temperature,
    "M109": SimulatedFirmware._set_temperature,
    "M140": SimulatedFirmware._set_temperature,
    "M190": SimulatedFirmware._set_temperature,
    "M141": SimulatedFirmware._set_temperature,
    "M191": SimulatedFirmware._set_temperature,
    "M105": SimulatedFirmware._report_temperatures,
    "M108": SimulatedFirmware._queued_break,
    "M110": SimulatedFirmware._set_line_number,
    "M112": SimulatedFirmware._queued_kill,
    "M114": SimulatedFirmware._report_position,
    "M115": SimulatedFirmware._report_firmware,
    "M118": SimulatedFirmware._host_message,
    "M155": SimulatedFirmware._autoreport_temperatures,
    "M400": SimulatedFirmware._wait_moves,
    "M410": SimulatedFirmware._queued_quick_stop,
    "M600": SimulatedFirmware._filament_change,
    "M876": SimulatedFirmware._answer_prompt,
    "M999": SimulatedFirmware._resume_after_error,
    "M73": SimulatedFirmware._progress,
    "M220": SimulatedFirmware._speed_or_flow,
    "M221": SimulatedFirmware._speed_or_flow,
    "M290": SimulatedFirmware._babystep,
}
# klippy: commands registered with when_not_ready=True (gcode.py, heaters.py M105).
_KLIPPER_WHEN_NOT_READY = frozenset(["M105", "M110", "M112", "M115"])
