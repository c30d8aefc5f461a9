"""Marlin's command queue: the commands waiting to run, each with its line number and what
line faults asked of its reply, and the tails a receive-buffer drain cut off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from instance.sim.gcode.parser import command_code

if TYPE_CHECKING:
    from collections.abc import Callable

    from instance.sim.firmware import SimulatedFirmware

    # What ``gcode`` dispatches a command to: runs it, and finishes it now or later.
    Handler = Callable[[SimulatedFirmware, "QueuedCommand"], None]


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
class QueuedCommand:
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


def enqueue(
    fw: SimulatedFirmware, command: str, number: int | None, tail: Tail | None = None
) -> QueuedCommand:
    """Put a command at the queue's end; its slot remembers its line number (for oks)."""
    queued = QueuedCommand(command, number, command_code(command), tail)
    if tail is not None:
        tail.command = command
    fw.slot_numbers[fw.enqueued % fw.options.command_buffer] = number
    fw.enqueued += 1
    fw.queue.append(queued)
    return queued
