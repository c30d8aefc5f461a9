"""Waiting for the user: M0/M1 and M600 (with host action prompts where the firmware sends
them), and M876, the host's answer to a prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode.emergency import break_wait
from instance.sim.gcode.motion import synchronize

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware


def _user_wait(fw: SimulatedFirmware, command: QueuedCommand, prompt: str) -> None:
    if fw.identity.action_prompts:
        fw.emit_lines(
            [
                "//action:prompt_end",
                f"//action:prompt_begin {prompt}",
                "//action:prompt_button Continue",
                "//action:prompt_show",
            ]
        )
    if command.code == "M600":
        fw.emit("//action:paused")

    def resumed() -> None:
        lines = ["//action:prompt_end"] if fw.identity.action_prompts else []
        if command.code == "M600":
            lines.append("//action:resumed")
        fw.finish(command, lines)

    fw.block_on("user", resumed, busy="echo:busy: paused for user")


def _filament_change(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    synchronize(fw, lambda: _user_wait(fw, command, "Change filament"))


def _stop_for_user(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    synchronize(fw, lambda: _user_wait(fw, command, "Click to continue"))


def _answer_prompt(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    break_wait(fw, ("user",))
    fw.finish(command)


COMMANDS: dict[str, Handler] = {
    "M0": _stop_for_user,
    "M1": _stop_for_user,
    "M600": _filament_change,
    "M876": _answer_prompt,
}
