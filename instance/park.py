"""The park move between two layers: the user's park G-code, M400, a frame, the way back.

No I/O: the printer sends what :meth:`ParkMove.commands` renders through the job's own
line path, and asks the job's :class:`ParkFrames` where to stop and for the frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from instance.gcode_file import GcodeLine
from instance.machine_state import MachineState
from instance.scripts import JobScripts, ScriptError, check_script

# Back to where the head was, in the file's own coordinates; then the file's modes, tool
# and feed rate (MachineState.restore_modes), as the resume script does.
PARK_RETURN = ("G90", "G1 X{x} Y{y} F{travel}", "G1 Z{z} F600", "G92 E{e}")
# What the option's text separates lines with (besides newlines): "G91|G1 Z2 F600|G90".
SEPARATOR = "|"
# A line the job's line path can carry: printable ASCII, no checksum or line number of its
# own (the protocol core adds both), no comment.
_SENDABLE = re.compile(r"^[\x20-\x7e]+$")
_NUMBERED = re.compile(r"^[Nn]\d")
# The head really is parked once this is acknowledged (Marlin: the planner is empty).
WAIT_FOR_MOVES = "M400"


def line_problem(line: str) -> str | None:
    """Why ``line`` cannot be a park line, or None."""
    text = line.strip()
    if not text:
        return "an empty line"
    if not _SENDABLE.match(text):
        return f"{text!r} has a character that is not printable ASCII"
    if ";" in text or "*" in text:
        return f"{text!r}: no comments (;) or checksums (*); the print server adds checksums"
    if "$" in text or "|" in text:
        return (
            f"{text!r}: no $ or | (the stack passes the lines in one setting, joined by |,"
            " where Compose would read $ as a variable)"
        )
    if _NUMBERED.match(text):
        return f"{text!r}: no line number (N…); the print server numbers the lines"
    try:
        check_script("park", (text,))
    except ScriptError as error:
        return str(error)
    return None


def parse_park_gcode(text: str) -> tuple[str, ...]:
    """The park lines from an option's text: lines separated by ``|`` or newlines; ValueError
    naming the line (1-based) that cannot be sent. Empty text: no park move."""
    parts = [part.strip() for part in re.split(r"[|\n]", text)]
    lines = tuple(part for part in parts if part)
    for number, line in enumerate(lines, 1):
        problem = line_problem(line)
        if problem is not None:
            raise ValueError(f"park G-code line {number}: {problem}")
    return lines


@dataclass(frozen=True, slots=True)
class ParkMove:
    """The park G-code (placeholders as in the pause and resume scripts)."""

    park: tuple[str, ...]

    def __post_init__(self) -> None:
        for number, line in enumerate(self.park, 1):
            problem = line_problem(line)
            if problem is not None:
                raise ScriptError(f"park G-code line {number}: {problem}")

    def commands(
        self, scripts: JobScripts, machine: MachineState
    ) -> tuple[list[str], list[str]] | None:
        """The park lines (M400 last) and the return lines; None when the head's position is
        not known (X, Y, Z or E): it could not be put back, so it is not moved."""
        if any(machine.position.get(axis) is None for axis in "XYZE"):
            return None
        park = [*scripts.render(self.park, machine), WAIT_FOR_MOVES]
        back = scripts.render(PARK_RETURN, machine) + machine.restore_modes()
        return park, back


class ParkFrames(Protocol):
    """A job's timelapse as the printer sees it when it parks."""

    def park_point(self, line: GcodeLine) -> str | None:
        """Where a frame is due before ``line`` is sent (``layer 3``), or None."""

    async def frame(self, where: str) -> None:
        """Take the frame now (the head is parked); never raises for a camera's trouble."""


@dataclass(frozen=True, slots=True)
class ParkPlan:
    move: ParkMove
    frames: ParkFrames
