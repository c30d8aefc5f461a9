"""The G-code a pause, a resume and a cancel run, with the user's own scripts allowed."""

from __future__ import annotations

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


class ScriptError(ValueError):
    """A script uses a placeholder that does not exist or is malformed."""


def _check(name: str, lines: tuple[str, ...]) -> None:
    for line in lines:
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(line) if field]
        except ValueError as error:
            raise ScriptError(f"{name} script line {line!r}: {error}") from error
        unknown = [field for field in fields if field not in VARIABLES]
        if unknown:
            raise ScriptError(
                f"{name} script line {line!r}: unknown placeholder {{{unknown[0]}}}; "
                f"known: {', '.join(sorted(VARIABLES))}"
            )


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
        _check("pause", self.pause)
        _check("resume", self.resume)
        _check("cancel", self.cancel)

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
        fields = [field for _, field, _, _ in string.Formatter().parse(line) if field]
        if any(values.get(field) is None for field in fields):
            continue
        commands.append(line.format_map({k: _number(v) for k, v in values.items()}))
    return commands


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.5f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
