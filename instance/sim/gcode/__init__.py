"""The simulated firmware's commands: one module per kind, dispatched from one table.

As Marlin's gcode.cpp hands each code to its own file: ``motion`` (moves, homing,
dwells, modes, tools), ``temperature`` (heaters, M105, M155), ``host`` (M110,
M114, M115, M118, M73), ``tuning`` (M220, M221, M290), ``pause`` (M0/M1, M600,
M876) and ``emergency`` (M108, M112, M410, M999, the emergency parser).
``execute`` runs the head of the queue; a handler finishes its command through
``SimulatedFirmware.finish``, at once or when a wait ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode import emergency, host, motion, pause, temperature, tuning
from instance.sim.gcode.emergency import EMERGENCY_CODES
from instance.sim.gcode.motion import acknowledge_silently, change_tool
from instance.sim.gcode.unknown import unknown_reply

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware

HANDLERS: dict[str, Handler] = {
    **motion.COMMANDS,
    **temperature.COMMANDS,
    **host.COMMANDS,
    **tuning.COMMANDS,
    **pause.COMMANDS,
    **emergency.COMMANDS,
}
# Commands Marlin runs without a word (fans, messages, settings, modes).
SILENT_CODES = frozenset(
    [
        "M17",
        "M18",
        "M84",
        "M82",
        "M83",
        "M106",
        "M107",
        "M117",
        "M201",
        "M203",
        "M204",
        "M205",
        "M207",
        "M208",
        "M209",
        "M300",
        "M302",
        "M500",
        "M501",
        "M502",
        "M851",
        "M862",
        "M900",
        "M907",
        "G21",
        "G80",
        "G90",
        "G91",
    ]
)
# klippy: commands registered with when_not_ready=True (gcode.py, heaters.py M105).
_KLIPPER_WHEN_NOT_READY = frozenset(["M105", "M110", "M112", "M115"])


def execute(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    """Run the command at the head of the queue."""
    code = command.code
    handler = HANDLERS.get(code)
    if fw.shut_down and code not in _KLIPPER_WHEN_NOT_READY:
        # klippy/gcode.py cmd_default(): not ready -> gcmd.error(state message), then ok.
        fw.finish(command, ["!! Shutdown due to M112 command"])
        return
    if code in EMERGENCY_CODES and fw.ep_listening() and not fw.shut_down:
        # The emergency parser already acted on it; in the queue it is a no-op.
        if command.tail is not None:
            command.tail.outcome = "emergency"
        fw.finish(command)
        return
    silent = code in SILENT_CODES or (code.startswith("M862") and fw.identity.name == "prusa")
    tool_change = code.startswith("T") and code[1:].isdigit()
    known = handler is not None or silent or tool_change
    if command.tail is not None:
        command.tail.outcome = "executed" if known else "unknown"
        command.tail.executed = True
        command.tail.index = len(fw.executed)
    fw.executed.append(command.text)
    if handler is not None:
        handler(fw, command)
    elif silent:
        acknowledge_silently(fw, command)
    elif tool_change:
        change_tool(fw, command)
    else:
        fw.finish(command, [unknown_reply(fw, command)])
