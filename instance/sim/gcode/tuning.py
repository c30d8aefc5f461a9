"""Overrides during a print, as Marlin 2.x runs them: M220 (speed), M221 (flow), M290
(babysteps). docs/printer-page.md cites the files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode.parser import words

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware


def _speed_or_flow(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    """M220 (gcode/config/M220.cpp), M221 (M221.cpp): S sets the percentage; alone, a report."""
    given = words(command.text[len(command.code) :])
    head = fw.toolhead
    flow = command.code == "M221"
    if "S" in given:
        percent = max(1.0, float(int(given["S"])))
        if flow:
            head.flow_factor = percent
        else:
            head.speed_factor = percent
        fw.finish(command)
        return
    if flow:
        fw.finish(command, [f"echo:E{head.tool} Flow: {head.flow_factor:.0f}%"])
    else:
        fw.finish(command, [f"FR:{head.speed_factor:.0f}%"])


def _babystep(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    """M290 (gcode/motion/M290.cpp): Z or S steps Z by at most 2 mm; no axis or R: a report."""
    text = command.text[len(command.code) :].upper()
    given = words(text)
    step = given.get("Z", given.get("S"))
    if step is not None:
        fw.babystep_z = round(fw.babystep_z + max(-2.0, min(2.0, step)), 4)
    if not any(axis in text for axis in "XYZ") or "R" in text:
        fw.finish(command, [f"echo:Babystep Z{fw.babystep_z:g}"])
    else:
        fw.finish(command)


COMMANDS: dict[str, Handler] = {
    "M220": _speed_or_flow,
    "M221": _speed_or_flow,
    "M290": _babystep,
}
