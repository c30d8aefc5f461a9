"""What the printer is set to after the commands it executed: modes, feed rate, tool, heat."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from instance.protocol.framing import command_code

_AXES = "XYZE"
_MOVE_WORDS = re.compile(r"(?<![A-Za-z])([XYZEFxyzef])\s*(-?[\d.]+)")


def _words(command: str) -> dict[str, float]:
    """Parameter letters of a command with numeric values (``G1 X10 F600`` → X, F)."""
    words: dict[str, float] = {}
    for token in command.split()[1:]:
        letter = token[0].upper()
        if not letter.isalpha():
            continue
        try:
            words[letter] = float(token[1:])
        except ValueError:
            continue
    return words


def heater_target(command: str, tool: int = 0) -> tuple[str, float] | None:
    """The heater (``T0``, ``T1``, ``B``, ``C``) and target a command sets, if it sets one.

    ``tool`` is the active tool, for an ``M104`` without ``T``.
    """
    # Asked of every acknowledged line: most are moves, turned away before any parsing.
    if command[:2] not in ("M1", "m1"):
        return None
    code = command_code(command)
    if code not in ("M104", "M109", "M140", "M190", "M141", "M191"):
        return None
    words = _words(command)
    target = words.get("S", words.get("R"))
    if target is None:
        return None
    if code in ("M140", "M190"):
        return "B", target
    if code in ("M141", "M191"):
        return "C", target
    return f"T{int(words.get('T', tool))}", target


@dataclass(slots=True)
class MachineState:
    """Tracks the state a pause must restore and a crash-resume must rebuild.

    Positions are logical (after ``G92``), as the file sees them; ``None``
    means not known yet.
    """

    absolute_xyz: bool = True
    absolute_e: bool = True
    feed_rate: float | None = None
    tool: int = 0
    hotend_targets: dict[int, float] = field(default_factory=dict)
    bed_target: float | None = None
    chamber_target: float | None = None
    fan_speed: float | None = None
    position: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(_AXES, None))
    layer_z: float | None = None
    # X/Y/Z travel of the moves applied, in mm: straight from point to point (an arc
    # counts as its chord), and only once the axes' positions are known.
    travel_mm: float = 0.0
    _z_moved: bool = False

    def apply(self, command: str) -> None:
        """Update from one executed command (comments already stripped)."""
        code = command_code(command)
        if code in ("G0", "G1", "G2", "G3"):
            self._move(command)
        elif code == "G90":
            self.absolute_xyz = True
            self.absolute_e = True
        elif code == "G91":
            self.absolute_xyz = False
            self.absolute_e = False
        elif code == "M82":
            self.absolute_e = True
        elif code == "M83":
            self.absolute_e = False
        elif code == "G92":
            words = _words(command)
            if not words:
                self.position = dict.fromkeys(_AXES, 0.0)
            for axis in _AXES:
                if axis in words:
                    self.position[axis] = words[axis]
        elif code == "G28":
            named = command.upper()[3:]
            homed = [axis for axis in "XYZ" if axis in named] or list("XYZ")
            for axis in homed:
                self.position[axis] = 0.0
        elif code in ("M104", "M109"):
            words = _words(command)
            target = words.get("S", words.get("R"))
            if target is not None:
                tool = int(words.get("T", self.tool))
                self.hotend_targets[tool] = target
        elif code in ("M140", "M190"):
            words = _words(command)
            target = words.get("S", words.get("R"))
            if target is not None:
                self.bed_target = target
        elif code in ("M141", "M191"):
            target = _words(command).get("S")
            if target is not None:
                self.chamber_target = target
        elif code == "M106":
            self.fan_speed = _words(command).get("S", 255.0)
        elif code == "M107":
            self.fan_speed = 0.0
        elif len(code) >= 2 and code[0] == "T" and code[1:].isdigit():
            self.tool = int(code[1:])

    def _move(self, command: str) -> None:
        # Runs for every acknowledged move: one regex pass, no dictionary of all words.
        position = self.position
        x0, y0, z0 = position["X"], position["Y"], position["Z"]
        for axis, text in _MOVE_WORDS.findall(command):
            try:
                value = float(text)
            except ValueError:
                continue
            axis = axis.upper()
            if axis == "F":
                self.feed_rate = value
                continue
            if axis == "Z":
                self._z_moved = True
            absolute = self.absolute_e if axis == "E" else self.absolute_xyz
            if absolute:
                position[axis] = value
            else:
                current = position[axis]
                position[axis] = None if current is None else current + value
        x1, y1, z1 = position["X"], position["Y"], position["Z"]
        dx = x1 - x0 if x0 is not None and x1 is not None else 0.0
        dy = y1 - y0 if y0 is not None and y1 is not None else 0.0
        if self._z_moved:
            self._z_moved = False
            self.layer_z = z1
            dz = z1 - z0 if z0 is not None and z1 is not None else 0.0
            self.travel_mm += math.sqrt(dx * dx + dy * dy + dz * dz)
        elif dx or dy:
            self.travel_mm += math.sqrt(dx * dx + dy * dy)

    def restore_modes(self) -> list[str]:
        """Commands that put modes, tool and feed rate back as they are now."""
        commands = [f"T{self.tool}"] if self.tool or len(self.hotend_targets) > 1 else []
        commands.append("G90" if self.absolute_xyz else "G91")
        commands.append("M82" if self.absolute_e else "M83")
        if self.feed_rate is not None:
            commands.append(f"G1 F{self.feed_rate:g}")
        return commands
