"""How many commands may be in flight without overrunning the printer's buffers.

Marlin reads complete lines from its receive buffer (``rx_buffer`` bytes,
128 by default) into a command queue (``command_slots``, BUFSIZE 4) whenever
a slot is free, also while a command waits (its waits loop on ``idle()``,
which reads the serial port), and frees a command's slot just after its ok.
Bytes that arrive when the receive buffer is full are lost.  So a window is
safe when:

* capacity: the unacknowledged lines beyond the first ``command_slots`` fit
  in the receive buffer (queue + receive buffer is all the printer holds);
  for Marlin this alone is exact;
* blocking, a margin for firmware that does not read while busy: once the
  printer may block (a heat-up, homing, a dwell, or a move that finds the
  planner full), everything sent after it that is not known to be queued
  must fit in the receive buffer.

``ADVANCED_OK`` (``ok N.. P<planner free> B<queue free>``) tells how many moves
the planner can still take without blocking and which lines already left the
receive buffer; without it every command is assumed to block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from instance.protocol.framing import command_code

# Commands whose execution is quick and never waits for the planner or a heater.
_NON_BLOCKING = frozenset(
    {
        "M104", "M140", "M141", "M106", "M107", "M82", "M83", "G90", "G91", "G92",
        "M73", "M117", "M118", "M220", "M221", "M201", "M203", "M204", "M205",
        "M105", "M115", "M155", "M110", "M108", "M410", "M876", "M412", "M75",
        "M76", "M77", "M21", "M20", "M27", "M31", "M92", "M300", "G21", "M211",
    }
)  # fmt: skip
_MOVES = frozenset({"G0", "G1"})
# Planner blocks kept in reserve: a move may be split into several (mesh levelling).
_PLANNER_MARGIN = 2


@dataclass(slots=True)
class SentLine:
    """A line on its way to the printer or waiting for its ok."""

    command: str
    data: bytes
    number: int | None
    tag: object
    code: str
    size: int

    @property
    def is_move(self) -> bool:
        return self.code in _MOVES

    @property
    def may_block(self) -> bool:
        return self.code not in _NON_BLOCKING and self.code not in _MOVES


def make_sent_line(
    command: str, data: bytes, number: int | None, tag: object, code: str | None = None
) -> SentLine:
    if code is None:
        code = command_code(command)
    return SentLine(command, data, number, tag, code, len(data))


class FlowWindow:
    """Decides whether one more line may go out now."""

    def __init__(self, command_slots: int = 4, rx_buffer: int = 128) -> None:
        if command_slots < 1:
            raise ValueError("command_slots must be at least 1")
        if rx_buffer < 8:
            raise ValueError("rx_buffer must be at least 8 bytes")
        self.command_slots = command_slots
        self.rx_buffer = rx_buffer
        self.planner_free: int | None = None
        self.in_queue = 0
        self.single = False

    def learn(self, planner_free: int | None, buffer_free: int | None) -> None:
        """Take in the ``P``/``B`` of the latest ok (None when the ok had none)."""
        self.planner_free = planner_free
        if buffer_free is None:
            self.in_queue = 0
        else:
            # Marlin counts the acknowledged command itself as still queued.
            self.in_queue = max(0, self.command_slots - buffer_free - 1)

    def allows(self, in_flight: Sequence[SentLine], size: int) -> bool:
        """May a line of ``size`` bytes join the lines now in flight (oldest first)?"""
        count = len(in_flight)
        if count == 0:
            return True
        if self.single:
            return False
        rx_buffer = self.rx_buffer
        if count >= self.command_slots:
            beyond = size
            for index in range(self.command_slots, count):
                beyond += in_flight[index].size
            if beyond > rx_buffer:
                return False
        know_planner = self.planner_free is not None
        moves_left = (self.planner_free or 0) - _PLANNER_MARGIN
        known_in_queue = self.in_queue
        blocked = False
        exposed = 0
        for index, line in enumerate(in_flight):
            if blocked:
                if index >= known_in_queue:
                    exposed += line.size
            elif not know_planner or line.may_block:
                blocked = True
            elif line.is_move:
                moves_left -= 1
                if moves_left < 0:
                    blocked = True
        if not blocked:
            return True
        return exposed + size <= rx_buffer
