"""Faults that happen at a moment (``event`` faults): a reset, silence, a stalled or pulled
cable, a fatal error, and lines the printer says unasked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from instance.sim.faults import Fault
from instance.sim.gcode.emergency import kill
from instance.sim.gcode.temperature import temperatures

if TYPE_CHECKING:
    from instance.sim.firmware import SimulatedFirmware

_FATAL_LINES = {
    "thermal_runaway": ("Error:Thermal Runaway, system stopped! Heater_ID: 0",),
    "maxtemp": ("Error:MAXTEMP triggered, system stopped! Heater_ID: 0",),
    "mintemp": ("Error:MINTEMP triggered, system stopped! Heater_ID: 0",),
    "heating_failed": ("Error:Heating failed, system stopped! Heater_ID: 0",),
    "repetier": ("fatal:Heater/sensor failure - Printer stopped and heaters disabled",),
}


@dataclass(slots=True)
class LinkRequest:
    """Something only the runner can do: pull the cable, or stop draining the port."""

    what: str  # "unplug" or "stall"
    seconds: float
    at: float


def apply_event(fw: SimulatedFirmware, fault: Fault) -> None:
    """The event fault happens now."""
    name, params = fault.name, fault.params
    if name == "reset":
        fw.restart()
    elif name == "silence":
        seconds = float(params["seconds"])
        fw.silent_until = fw.clock + seconds if seconds > 0 else math.inf
    elif name == "write_stall":
        fw.stall_until = fw.clock + float(params["seconds"])
        fw.link_requests.append(LinkRequest("stall", float(params["seconds"]), fw.clock))
    elif name == "unplug":
        # The board loses its link (and, USB-powered, its power) until the runner plugs it in.
        fw.silent_until = math.inf
        fw.link_requests.append(LinkRequest("unplug", float(params["seconds"]), fw.clock))
    elif name == "fatal_error":
        fw.emit_lines(_FATAL_LINES[str(params["kind"])])
        kill(fw)
    elif name == "emit":
        fw.emit(str(params["text"]))
    elif name == "unsolicited":
        what = params["what"]
        if what == "autoreport":
            fw.emit(" " + temperatures(fw))
        elif what == "echo":
            fw.emit("echo:Settings Stored (662 bytes; crc 20112)")
        else:
            fw.emit("//action:notification Printing...")
    elif name == "action":
        separator = "// action:" if params["spaced"] else "//action:"
        action = str(params["action"])
        if action == "prompt":
            fw.emit_lines(
                [
                    f"{separator}prompt_begin Filament runout",
                    f"{separator}prompt_button Continue",
                    f"{separator}prompt_show",
                ]
            )
        else:
            fw.emit(separator + action)
    elif name == "garbage":
        length = int(params["length"])
        what = params["what"]
        if what == "nul":
            junk = b"\x00" * length
        elif what == "binary":
            junk = bytes((0xFF - (i * 37) % 0x70) for i in range(length))
        else:
            junk = bytes(33 + (i * 7) % 90 for i in range(length))
        fw.send(junk + b"\n")
    elif name == "long_line":
        fw.emit("echo:" + "x" * max(0, int(params["length"]) - 5))
