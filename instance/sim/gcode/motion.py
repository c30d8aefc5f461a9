"""Moves and where the toolhead is: G0/G1 through the planner, G4, G28, G29, G92, M400, the
motion modes (G90/G91, M82/M83) and tool changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from instance.sim.gcode.parser import words
from instance.sim.motion import move_seconds

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware


def _move(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    distance = fw.toolhead.move(words(command.text[len(command.code) :]))
    if distance <= 0:
        fw.finish(command)  # Marlin drops zero-length moves before the planner
        return
    seconds = fw.options.scaled(
        move_seconds(distance, fw.toolhead.feed_mm_s(), fw.options.acceleration)
    )
    _plan(fw, command, seconds)


def _plan(fw: SimulatedFirmware, command: QueuedCommand, seconds: float) -> None:
    """The move takes a planner block (waiting for one while the planner is full)."""
    fw.retire_moves()
    if len(fw.planner) >= fw.options.planner_size - 1:
        fw.block_on("planner_slot", lambda: _plan(fw, command, seconds))
        return
    start = max(fw.clock, fw.planner[-1] if fw.planner else fw.clock)
    if seconds > 0:
        fw.planner.append(start + seconds)
        fw.counters.starvation.planned(fw.clock, start, seconds)
    slow = fw.mode("slow_planner")
    if slow is not None:
        delay = float(slow.params["delay"])
        fw.block_on("until", lambda: fw.finish(command), until=fw.clock + delay, busy=None)
        return
    fw.finish(command)


def synchronize(fw: SimulatedFirmware, then: Callable[[], None]) -> None:
    """planner.synchronize(): ``then`` once every planned move is done."""
    fw.retire_moves()
    if fw.planner:
        fw.block_on("planner_empty", then)
    else:
        then()


def _timed(fw: SimulatedFirmware, seconds: float, then: Callable[[], None]) -> None:
    """After the moves, an action lasting ``seconds`` (homing, probing, a dwell)."""

    def wait() -> None:
        if seconds <= 0:
            then()
        else:
            fw.block_on("until", then, until=fw.clock + seconds)

    synchronize(fw, wait)


def _home(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    given = words(command.text[len(command.code) :])
    axes = [a for a in ("X", "Y", "Z") if a in given] or ["X", "Y", "Z"]

    def done() -> None:
        for axis in axes:
            fw.toolhead.position[axis] = 0.0
        fw.finish(command)

    _timed(fw, fw.options.scaled(fw.options.home_seconds), done)


def _probe(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    _timed(fw, fw.options.scaled(fw.options.probe_seconds), lambda: fw.finish(command))


def _dwell(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    given = words(command.text[len(command.code) :])
    seconds = given.get("S", 0.0) + given.get("P", 0.0) / 1000.0
    _timed(fw, fw.options.scaled(seconds), lambda: fw.finish(command))


def _set_position(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    given = words(command.text[len(command.code) :])
    fw.toolhead.set_position(given or {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0})
    fw.finish(command)


def _wait_moves(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    synchronize(fw, lambda: fw.finish(command))


def acknowledge_silently(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    """A command Marlin runs without a word; of those, only the motion modes change state here."""
    head = fw.toolhead
    if command.code == "G90":
        head.relative = head.relative_e = False
    elif command.code == "G91":
        head.relative = head.relative_e = True
    elif command.code == "M82":
        head.relative_e = False
    elif command.code == "M83":
        head.relative_e = True
    fw.finish(command)


def change_tool(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    """T<n>: the active extruder (an error line for one the printer does not have)."""
    tool = int(command.code[1:])
    if tool >= fw.options.extruders:
        fw.finish(command, [f"echo:T{tool} Invalid extruder"])
    else:
        fw.toolhead.tool = tool
        fw.finish(command)


COMMANDS: dict[str, Handler] = {
    "G0": _move,
    "G1": _move,
    "G4": _dwell,
    "G28": _home,
    "G29": _probe,
    "G92": _set_position,
    "M400": _wait_moves,
}
