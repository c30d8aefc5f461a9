"""What each firmware answers to a command it does not know."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from instance.sim.command_queue import QueuedCommand
    from instance.sim.firmware import SimulatedFirmware

_KLIPPER_ARGS = re.compile("([A-Z_]+|[A-Z*])")


def unknown_reply(fw: SimulatedFirmware, command: QueuedCommand) -> str:
    """The line that says ``command`` is unknown, in the profile's words."""
    identity = fw.identity
    if identity.shutdown_keeps_answering:
        # Klipper's args_r split: the command is the first three parts, "G999" or "123 G1".
        parts = _KLIPPER_ARGS.split(command.text.upper())
        return identity.unknown_command.format(command="".join(parts[:3]).strip())
    code, text = command.code, command.text
    if code.startswith("G") and identity.unknown_g is not None:
        return identity.unknown_g.format(command=text, code=code)
    if code.startswith("M") and identity.unknown_m is not None:
        return identity.unknown_m.format(command=text, code=code)
    return identity.unknown_command.format(command=text, code=code)
