"""Heaters and their reports: M104/M109 (hotends), M140/M190 (bed), M141/M191 (chamber), M105,
M155 autoreport, and the temperature lines each firmware prints."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from instance.sim.gcode.parser import words
from instance.sim.gcode.unknown import unknown_reply
from instance.sim.identities import HeaterReading, temperature_report

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware
    from instance.sim.heaters import Heater


def _heater_for(fw: SimulatedFirmware, command: QueuedCommand) -> Heater | None:
    code = command.code
    if code in ("M140", "M190"):
        return fw.bed
    if code in ("M141", "M191"):
        fw.chamber_used = True
        return fw.chamber
    given = words(command.text[len(code) :])
    tool = int(given.get("T", fw.toolhead.tool))
    if tool >= len(fw.hotends):
        return None
    return fw.hotends[tool]


def _set_temperature(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    heater = _heater_for(fw, command)
    if heater is None:
        fw.finish(command, ["echo:Invalid extruder"])
        return
    given = words(command.text[len(command.code) :])
    target = given.get("S", given.get("R"))
    if target is not None:
        heater.set_target(target, fw.clock)
    if command.code in ("M104", "M140", "M141"):
        fw.finish(command)
        return
    if target is None:
        fw.finish(command)
        return
    fw.block_on("heat", lambda: fw.finish(command), heater=heater, busy=None)


def _report_temperatures(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    if fw.mode("ok_before_output") is None:
        fw.finish(command, ok_data=temperatures(fw))
    else:
        fw.finish(command, [temperatures(fw)])


def _autoreport_temperatures(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    if not fw.options.autoreport_temp or fw.identity.shutdown_keeps_answering:
        # Klipper has no M155.
        if command.tail is not None:
            command.tail.outcome = "unknown"
        fw.finish(command, [unknown_reply(fw, command)])
        return
    if fw.options.autoreport_silent:
        # Announced and acknowledged, yet no report ever comes (a broken build).
        fw.finish(command)
        return
    given = words(command.text[len(command.code) :])
    fw.autoreport_interval = max(0.0, given.get("S", 1.0))
    interval = fw.autoreport_interval
    fw.next_autoreport = fw.clock + interval if interval > 0 else math.inf
    fw.finish(command)


def readings(fw: SimulatedFirmware) -> list[HeaterReading]:
    """Every heater now: the hotends, the bed, and the chamber once a command used it."""
    found = [reading(fw, h) for h in fw.hotends]
    found.append(reading(fw, fw.bed))
    if fw.chamber_used:
        found.append(reading(fw, fw.chamber))
    return found


def reading(fw: SimulatedFirmware, heater: Heater) -> HeaterReading:
    now = fw.clock
    return HeaterReading(
        heater.letter, heater.index, heater.temperature(now), heater.target, heater.power(now)
    )


def temperatures(fw: SimulatedFirmware) -> str:
    """The temperature report (M105's answer, an autoreport) in the profile's format."""
    fault = fw.mode("temperature_format")
    style = str(fault.params["style"]) if fault is not None else fw.identity.temperature_format
    return temperature_report(style, readings(fw))


def wait_style(fw: SimulatedFirmware) -> str:
    """The format of the lines a heat-up wait prints once a second."""
    fault = fw.mode("temperature_format")
    if fault is not None and fault.params["style"] in ("marlin1", "prusa"):
        return "marlin1"
    return fw.identity.wait_format


COMMANDS: dict[str, Handler] = {
    "M104": _set_temperature,
    "M109": _set_temperature,
    "M140": _set_temperature,
    "M190": _set_temperature,
    "M141": _set_temperature,
    "M191": _set_temperature,
    "M105": _report_temperatures,
    "M155": _autoreport_temperatures,
}
