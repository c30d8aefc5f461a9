"""A simulated printer's firmware: the board's state, its clock and its main loop; no I/O.

The parts it composes, each in its own module: ``wire`` (the cable at baud pace),
``receive_buffer`` (the RX ring, lines into the queue), ``line_checks`` (line
numbers, checksums, line faults), ``resend`` (line errors, drains, ``Resend:``),
``command_queue``, ``ok_reply`` (what an ok says), ``gcode`` (the commands, one
module per kind) and ``fault_events`` (faults that happen at a moment).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from instance.sim.command_queue import QueuedCommand, Tail
from instance.sim.fault_events import LinkRequest, apply_event
from instance.sim.faults import Fault, FaultSchedule
from instance.sim.gcode import execute
from instance.sim.gcode.emergency import KILLED
from instance.sim.gcode.temperature import reading, readings, temperatures, wait_style
from instance.sim.heaters import Heater
from instance.sim.identities import IDENTITIES, wait_report
from instance.sim.motion import Toolhead
from instance.sim.ok_reply import ok_text
from instance.sim.options import SimOptions
from instance.sim.receive_buffer import read_rx, take
from instance.sim.resend import LineError, notice_line_error, report_line_errors, request_resend
from instance.sim.starvation import Starvation
from instance.sim.ticks import EPSILON, next_tick
from instance.sim.wire import SerialWire

__all__ = ["KILLED", "LinkRequest", "SimulatedFirmware", "Tail"]


@dataclass(slots=True)
class Block:
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
class Counters:
    """What happened on the link since power-on, for tests and the record (never reset)."""

    overrun_bytes: int = 0
    line_errors: int = 0
    numbered_received: int = 0
    resets: int = 0
    drains: int = 0
    drained_bytes: int = 0
    discarded_lines: int = 0
    tails: list[Tail] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)
    starvation: Starvation = field(default_factory=Starvation)


class SimulatedFirmware:
    """A Marlin-like printer driven by explicit times.

    ``receive`` hands over bytes the host wrote at ``now``; ``poll`` advances
    the model and returns what has reached the host by ``now``;
    ``next_deadline`` says when polling next matters. ``executed`` lists every
    command the printer carried out, in order (no ``N``, no checksum, no
    comment); ``resets`` holds the index into ``executed`` at which each reset
    after power-on happened; ``counters.tails`` lists every line a drain cut
    (see ``Tail``), executed or not.

    Its other attributes and methods are the board's state and services for
    the parts in ``instance.sim`` (the modules named above), not for the host.
    """

    def __init__(self, options: SimOptions, faults: Iterable[Fault] = (), now: float = 0.0) -> None:
        self.options = options
        self.identity = IDENTITIES[options.identity]
        self.executed: list[str] = []
        self.resets: list[int] = []
        self.counters = Counters()
        self.link_requests: list[LinkRequest] = []
        self.faults = FaultSchedule(tuple(faults), options.seed)
        self.clock = now
        self.wire = SerialWire(options.byte_time, options.latency, options.latency_timer, now)
        self.stall_until = -math.inf
        self.cursed: dict[int, int] = {}  # endless_resend: line number -> rejections left
        # Service delays have their own stream, so they do not shift which lines faults hit.
        self.jitter_rng = random.Random(options.seed * 7919 + 17)
        self._power_on(now)

    # ----- state that a reset restores -----

    def _power_on(self, now: float) -> None:
        options = self.options
        self.rx = bytearray()
        self.partial = bytearray()
        self.ep_partial = bytearray()
        self.queue: deque[QueuedCommand] = deque()
        self.planner: deque[float] = deque()  # when each planned move ends
        self.counters.starvation.paused()
        self.block: Block | None = None
        self.last_n = 0
        self.killed = False
        self.shut_down = False  # Klipper: shut down, but still answering
        self.pending_errors: list[LineError] = []
        self.error_due = math.inf  # when the firmware notices the pending line error
        self.drain_due = math.inf  # when it drains (after a blocking Error line is out)
        self.tail_next = False
        self.slot_numbers: list[int | None] = [None] * options.command_buffer
        self.enqueued = 0
        self.dequeued = 0
        self.m73 = {"P": 255, "R": 65535, "Q": 255, "S": 65535, "C": 65535, "D": 65535}
        self.silent_until = -math.inf
        self.booting_until = -math.inf
        self.autoreport_interval = 0.0
        self.next_autoreport = math.inf
        self.next_wait = now + 1.0
        self.toolhead = Toolhead(feed_rate=options.feed_rate)
        # M290's running total (Marlin's babystep.axis_total with BABYSTEP_DISPLAY_TOTAL).
        self.babystep_z = 0.0
        scaled_rate = self._scaled_rate
        self.hotends = [
            Heater(
                "T",
                i,
                options.ambient,
                scaled_rate(options.hotend_rate),
                scaled_rate(options.cooling_rate),
            )
            for i in range(options.extruders)
        ]
        self.bed = Heater(
            "B",
            None,
            options.ambient,
            scaled_rate(options.bed_rate),
            scaled_rate(options.cooling_rate),
        )
        self.chamber = Heater(
            "C",
            None,
            options.ambient,
            scaled_rate(options.chamber_rate),
            scaled_rate(options.cooling_rate),
        )
        for heater in (*self.hotends, self.bed, self.chamber):
            heater.since = now
        self.chamber_used = False
        boot = self.mode("reset_on_open")
        self._banner_due = boot is not None
        if boot is not None:
            self.booting_until = now + float(boot.params["boot_seconds"])
        else:
            self.emit_lines(self.identity.banner)

    def _scaled_rate(self, rate: float) -> float:
        timing = self.options.move_timing
        if timing == "instant":
            return math.inf
        return rate * self.options.time_factor if timing == "accelerated" else rate

    def reset(self, now: float) -> None:
        """The board restarts (DTR on open, brown-out): banner, empty queues, line 0."""
        self._advance(now)
        self.restart()

    def restart(self) -> None:
        """The board restarts now."""
        self.resets.append(len(self.executed))
        self.counters.resets += 1
        self.cursed.clear()
        self._power_on(self.clock)

    # ----- the host side of the wire -----

    def receive(self, data: bytes, now: float) -> None:
        """Bytes the host wrote at ``now``; they reach the receive buffer at baud pace."""
        if not data:
            return
        self.wire.write(data, now, self.stall_until)

    def poll(self, now: float) -> bytes:
        """Advance to ``now``; the bytes that have reached the host by then."""
        self._advance(now)
        return self.wire.arrived(now)

    def next_deadline(self) -> float | None:
        """When ``poll`` should next be called; None: only when bytes arrive."""
        times = [self._next_internal_event()]
        arrival = self.wire.next_arrival()
        if arrival is not None:
            times.append(arrival)
        if self.wire.carrying and (self.can_read() or self.ep_listening()):
            times.append(self.wire.next_eol_arrival())
        best = min(times)
        return None if best == math.inf else best

    @property
    def halted(self) -> bool:
        return self.killed

    @property
    def last_line(self) -> int:
        return self.last_n

    def input_paused_until(self) -> float:
        """Until when the printer takes no bytes at all (write stall); -inf when it takes them."""
        return self.stall_until

    @property
    def tails(self) -> list[Tail]:
        """Every line a drain cut, in order of arrival."""
        return self.counters.tails

    # ----- what the board is doing -----

    def running(self) -> bool:
        """Neither killed, nor silenced by a fault, nor in its bootloader."""
        return (
            not self.killed and self.clock >= self.silent_until and self.clock >= self.booting_until
        )

    def can_read(self) -> bool:
        """Whether bytes arriving now go straight on into the command queue."""
        # Not ``self.block is None``: Marlin reads while a command waits (see ``run``).
        return (
            self.running()
            and not self.pending_errors
            and not self.rx
            and len(self.queue) < self.options.command_buffer
        )

    def ep_listening(self) -> bool:
        """Whether the emergency parser watches the bytes as they arrive."""
        return self.options.emergency_parser and self.running() and self.identity.name != "rrf"

    def mode(self, name: str) -> Fault | None:
        """The ``mode`` fault of that name, if it is on."""
        return self.faults.active_modes.get(name)

    def wait_interval(self) -> float | None:
        """How often an idle board prints ``wait``; None: it does not."""
        fault = self.mode("wait_idle")
        if fault is not None:
            return float(fault.params["interval"])
        return 1.0 if self.identity.wait_when_idle else None

    def _idle(self) -> bool:
        return self.running() and self.block is None and not self.queue

    # ----- the model's clock -----

    def _next_internal_event(self) -> float:
        times = [math.inf]
        fault_time = self.faults.next_time()
        if fault_time is not None:
            times.append(fault_time)
        if not self.running():
            if self.clock < self.silent_until:
                times.append(self.silent_until)
            if self.clock < self.booting_until:
                times.append(self.booting_until)
            return min(times)
        if self.pending_errors:
            times.append(self.error_due if self.error_due < math.inf else self.drain_due)
        block = self.block
        if block is not None:
            times.append(block.next_keepalive)
            times.append(block.next_report)
            if block.kind == "until":
                times.append(block.until)
            elif block.kind == "heat" and block.heater is not None:
                times.append(block.heater.reached_at(self.options.temp_window))
            elif block.kind == "planner_slot" and self.planner:
                times.append(self.planner[0])
            elif block.kind == "planner_empty" and self.planner:
                times.append(self.planner[-1])
        times.append(self.next_autoreport)
        if self.wait_interval() is not None and self._idle():
            times.append(self.next_wait)
        return min(times)

    def _advance(self, now: float) -> None:
        stuck = 0
        while True:
            self._deliver(now)
            event = self._next_internal_event()
            if event > now:
                break
            stuck = stuck + 1 if event <= self.clock else 0
            if stuck > 1000:
                raise RuntimeError(f"simulated firmware stuck at t={self.clock}")
            self.clock = max(self.clock, event)
            self._on_timers()
            self.run()
        self.clock = max(self.clock, now)
        self.run()

    def _on_timers(self) -> None:
        now = self.clock
        for fault in self.faults.fire_due(now):
            apply_event(self, fault)
        if self._banner_due and now >= self.booting_until:
            # The bootloader has given up waiting for a new firmware image; Marlin starts.
            self._banner_due = False
            self.emit_lines(self.identity.banner)
        if not self.running():
            return
        if self.pending_errors:
            if now >= self.error_due - EPSILON:
                notice_line_error(self)
            if now >= self.drain_due - EPSILON:
                report_line_errors(self)
        block = self.block
        interval = self.options.keepalive_interval
        if block is not None:
            if block.busy is not None and now >= block.next_keepalive - EPSILON:
                self.emit(block.busy)
                block.next_keepalive = next_tick(block.next_keepalive, interval, now)
            if block.heater is not None and now >= block.next_report - EPSILON:
                line = wait_report(wait_style(self), readings(self), reading(self, block.heater))
                if line is not None:
                    self.emit(line)
                block.next_report = next_tick(block.next_report, 1.0, now)
        if now >= self.next_autoreport - EPSILON:
            self.emit(" " + temperatures(self))
            self.next_autoreport = next_tick(self.next_autoreport, self.autoreport_interval, now)
        wait_every = self.wait_interval()
        if wait_every is not None and self._idle() and now >= self.next_wait - EPSILON:
            self.emit("wait")
            self.next_wait = next_tick(self.next_wait, wait_every, now)

    def _deliver(self, now: float) -> None:
        """Hand over, line by line, the bytes that arrive before the next event or ``now``."""
        while self.wire.carrying:
            limit = min(now, self._next_internal_event())
            piece = self.wire.next_piece(limit)
            if piece is None:
                return
            segment, arrival = piece
            self.clock = max(self.clock, min(arrival, limit))
            take(self, segment)

    # ----- the main loop -----

    def run(self) -> None:
        """Marlin's loop: read lines into the queue, end a finished wait, run the next command."""
        while self.running():
            # Marlin keeps its command queue full even while the head command waits (for a
            # planner slot, a heater, a dwell, homing, the user): every such wait loops on
            # idle(), whose manage_inactivity() calls queue.get_available_commands(). So lines
            # leave the receive buffer for free slots whether or not a command is blocked;
            # only a full queue leaves them there. (Reading only between commands would make
            # a burst that arrives during a wait overrun the receive buffer while three
            # slots stand empty, which real firmware never does.)
            read_rx(self)
            if not self.running():
                return
            block = self.block
            if block is not None:
                if not self._resolved(block):
                    return
                self.block = None
                block.then()
                continue
            if not self.queue:
                return
            execute(self, self.queue[0])

    def _resolved(self, block: Block) -> bool:
        if block.broken:
            return True
        now = self.clock + EPSILON
        self.retire_moves()
        if block.kind == "until":
            return now >= block.until
        if block.kind == "planner_slot":
            return len(self.planner) < self.options.planner_size - 1
        if block.kind == "planner_empty":
            return not self.planner
        if block.kind == "heat" and block.heater is not None:
            return now >= block.heater.reached_at(self.options.temp_window)
        return False

    def retire_moves(self) -> None:
        """Moves whose time is over leave the planner."""
        planner = self.planner
        while planner and planner[0] <= self.clock + EPSILON:
            planner.popleft()

    def block_on(
        self,
        kind: str,
        then: Callable[[], None],
        *,
        until: float = math.inf,
        busy: str | None = "echo:busy: processing",
        heater: Heater | None = None,
    ) -> None:
        """The head command waits (``kind``); ``then`` runs once the wait is over."""
        block = Block(kind, then, until=until, heater=heater)
        if kind != "planner_slot":
            self.counters.starvation.paused()
        if busy is not None and self.identity.busy_keepalive:
            block.busy = busy
            block.next_keepalive = self.clock + self.options.keepalive_interval
        if heater is not None:
            block.next_report = self.clock + 1.0
        self.block = block

    def finish(
        self, command: QueuedCommand, lines: Iterable[str] = (), ok_data: str | None = None
    ) -> None:
        """The head command is done: its output, its ok, and the queue moves on."""
        if command.hold > 0:
            # The fault's duration is what the host lives through: not scaled by move_timing.
            seconds, command.hold = command.hold, 0.0
            busy = "echo:busy: processing" if command.hold_keepalive else None
            output = list(lines)
            self.block_on(
                "until",
                lambda: self.finish(command, output, ok_data),
                until=self.clock + seconds,
                busy=busy,
            )
            return
        before = self.mode("ok_before_output") is not None
        ok = None if command.lost_ok else ok_text(self, command, ok_data)
        if before and ok is not None:
            self.emit(ok)
        self.emit_lines(lines)
        if not before and ok is not None:
            self.emit(ok)
        if command.extra_ok:
            self.emit("ok")
        if command.resend_unsent:
            request_resend(self)
        if self.queue and self.queue[0] is command:
            self.queue.popleft()
            self.dequeued += 1
        self.next_wait = self.clock + (self.wait_interval() or 1.0)

    # ----- what the printer says -----

    def emit(self, line: str) -> None:
        """The board prints a line (unless a fault silenced it)."""
        if self.clock < self.silent_until:
            return
        eol = b"\r\n" if self.mode("crlf") is not None else b"\n"
        self.send(line.encode("utf-8", "replace") + eol)

    def emit_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.emit(line)

    def send(self, data: bytes) -> None:
        """Bytes onto the wire (in two pieces under ``split_writes``)."""
        split = self.mode("split_writes")
        if split is not None and len(data) > 2:
            half = len(data) // 2
            self.wire.send(data[:half], self.clock, 0.0)
            self.wire.send(data[half:], self.clock, float(split.params["gap"]))
        else:
            self.wire.send(data, self.clock, 0.0)
