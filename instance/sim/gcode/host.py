"""Talking with the host: M110 (line number), M114 (position), M115 (firmware and
capabilities), M118 (a message to the host), M73 (print progress, which Prusa reports)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode.motion import acknowledge_silently
from instance.sim.gcode.parser import words

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware


def _set_line_number(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    given = words(command.text[len(command.code) :])
    if "N" in given:
        fw.last_n = int(given["N"])
    fw.finish(command)


def _report_position(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    fw.finish(command, [fw.toolhead.report()])


def _report_firmware(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    name = fw.identity.firmware_name.format(extruders=fw.options.extruders)
    if fw.identity.ok_carries_m115:
        fw.finish(command, ok_data=name)  # Klipper cmd_M115(): gcmd.ack(msg)
        return
    lines = [name]
    caps = list(fw.identity.capabilities)
    report = fw.options.capabilities_report
    if report == "partial":
        caps = caps[: fw.identity.partial_capabilities]
    elif report == "none":
        caps = []
    for cap, value in caps:
        if cap == "AUTOREPORT_TEMP":
            value = int(fw.options.autoreport_temp)
        elif cap == "EMERGENCY_PARSER":
            value = int(fw.options.emergency_parser)
        lines.append(f"Cap:{cap}:{value}")
    fw.finish(command, lines)


def _host_message(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    text = command.text[len(command.code) :].strip()
    parts = text.split(" ", 1)
    prefix = ""
    while parts and len(parts[0]) == 2 and parts[0][0] in "AEP" and parts[0][1].isdigit():
        prefix = {"A": "//", "E": "echo:"}.get(parts[0][0], prefix)
        text = parts[1] if len(parts) > 1 else ""
        parts = text.split(" ", 1)
    fw.finish(command, [prefix + text])


def _progress(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    if not fw.identity.m73_report:
        acknowledge_silently(fw, command)
        return
    given = words(command.text[len(command.code) :])
    m73 = fw.m73
    for key in m73:
        if key in given:
            m73[key] = int(given[key])

    def line(mode: str, percent: int, remaining: int, change: int) -> str:
        # Prusa Marlin_main.cpp, case 73: printf "%S MODE: Percent done: %hhd; ..."
        signed = percent - 256 if percent > 127 else percent
        return (
            f"{mode} MODE: Percent done: {signed}; print time remaining in mins: "
            f"{remaining}; Change in mins: {change}"
        )

    fw.finish(
        command,
        [
            line("NORMAL", m73["P"], m73["R"], m73["C"]),
            line("SILENT", m73["Q"], m73["S"], m73["D"]),
        ],
    )


COMMANDS: dict[str, Handler] = {
    "M73": _progress,
    "M110": _set_line_number,
    "M114": _report_position,
    "M115": _report_firmware,
    "M118": _host_message,
}
