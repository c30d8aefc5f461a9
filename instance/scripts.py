"""The G-code a pause, a resume and a cancel run, with the user's own scripts allowed."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from instance.machine_state import MachineState

DEFAULT_PAUSE = ("G91", "G1 E-{retract} F2400", "G1 Z{lift} F600", "G90")
DEFAULT_RESUME = (
    "G90",
    "G1 X{x} Y{y} F{travel}",
    "G1 Z{z} F600",
    "G91",
    "G1 E{retract} F2400",
    "G90",
    "G92 E{e}",
)
DEFAULT_CANCEL = ("M104 S0", "M140 S0", "M107", "G91", "G1 Z{lift} F600", "G90", "M84")
VARIABLES = frozenset(
    {"x", "y", "z", "e", "feed", "tool", "hotend", "bed", "retract", "lift", "travel"}
)


# A placeholder: a variable, optionally plus or minus a number ({z+2}, {x-5.5}).
_FIELD = re.compile(r"^([a-z]+)\s*(?:([+-])\s*(\d+(?:\.\d*)?))?$")


class ScriptError(ValueError):
    """A script uses a placeholder that does not exist or is malformed."""


def check_script(name: str, lines: tuple[str, ...]) -> None:
    """ScriptError naming the first line of ``lines`` with a malformed or unknown placeholder."""
    for line in lines:
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(line) if field]
        except ValueError as error:
            raise ScriptError(f"{name} script line {line!r}: {error}") from error
        unknown = [field for field in fields if _variable(field) not in VARIABLES]
        if unknown:
            raise ScriptError(
                f"{name} script line {line!r}: unknown placeholder {{{unknown[0]}}}; "
                f"known: {', '.join(sorted(VARIABLES))}, each maybe plus or minus a number"
                " ({z+2})"
            )


def _variable(field: str) -> str | None:
    match = _FIELD.match(field.strip())
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class JobScripts:
    """Pause parks the head, resume puts everything back, cancel cools and frees the motors.

    Lines may use ``{x} {y} {z} {e}`` (where the head was), ``{feed}``,
    ``{tool}``, ``{hotend}``, ``{bed}``, ``{retract}``, ``{lift}`` and
    ``{travel}``.  A line whose placeholder has no value (the position was
    never known) is skipped rather than sent half-filled.
    """

    pause: tuple[str, ...] = DEFAULT_PAUSE
    resume: tuple[str, ...] = DEFAULT_RESUME
    cancel: tuple[str, ...] = DEFAULT_CANCEL
    retract: float = 2.0
    lift: float = 10.0
    travel: float = 6000.0

    def __post_init__(self) -> None:
        check_script("pause", self.pause)
        check_script("resume", self.resume)
        check_script("cancel", self.cancel)

    def _values(self, machine: MachineState | None) -> dict[str, float | int | None]:
        values: dict[str, float | int | None] = {
            "retract": self.retract,
            "lift": self.lift,
            "travel": self.travel,
        }
        if machine is not None:
            for axis in "xyze":
                values[axis] = machine.position.get(axis.upper())
            values["feed"] = machine.feed_rate
            values["tool"] = machine.tool
            values["hotend"] = machine.hotend_targets.get(machine.tool)
            values["bed"] = machine.bed_target
        return values

    def render(self, lines: tuple[str, ...], machine: MachineState) -> list[str]:
        """``lines`` filled with the values the pause and resume scripts get (the park move)."""
        return _render(lines, self._values(machine))

    def pause_commands(self, machine: MachineState) -> list[str]:
        return _render(self.pause, self._values(machine))

    def resume_commands(self, machine: MachineState) -> list[str]:
        """Put the head back, then the modes, tool and feed rate the file had set."""
        return _render(self.resume, self._values(machine)) + machine.restore_modes()

    def cancel_commands(self) -> list[str]:
        return _render(self.cancel, self._values(None))


def _render(lines: tuple[str, ...], values: Mapping[str, float | int | None]) -> list[str]:
    commands: list[str] = []
    for line in lines:
        text: list[str] = []
        for literal, field, _spec, _conversion in string.Formatter().parse(line):
            text.append(literal)
            if field is None:
                continue
            value = _value(field, values)
            if value is None:
                break
            text.append(_number(value))
        else:
            commands.append("".join(text))
    return commands


def _value(field: str, values: Mapping[str, float | int | None]) -> float | int | None:
    """``field``'s value: a variable's, plus or minus its number if it has one."""
    match = _FIELD.match(field.strip())
    if match is None:
        return None
    value = values.get(match.group(1))
    if value is None or match.group(2) is None:
        return value
    offset = float(match.group(3))
    return round(value + offset if match.group(2) == "+" else value - offset, 5)


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.5f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
