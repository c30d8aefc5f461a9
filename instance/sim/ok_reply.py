"""What an ``ok`` says, per firmware profile and ``ok_variant`` fault: plain, ADVANCED_OK's
``ok N<line> P<planner free> B<queue free>``, ``ok N:<line>``, ``ok <line>``, or temperatures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode.temperature import temperatures

if TYPE_CHECKING:
    from instance.sim.command_queue import QueuedCommand
    from instance.sim.firmware import SimulatedFirmware


def ok_text(fw: SimulatedFirmware, command: QueuedCommand, data: str | None) -> str:
    """The ok that ends ``command`` (``data``: what Klipper-style firmware puts in it)."""
    fault = fw.mode("ok_variant")
    style = str(fault.params["style"]) if fault is not None else ""
    if not style:
        if fw.identity.ok_with_number:
            style = "number"
        elif fw.options.advanced_ok and fw.identity.advanced_ok_supported:
            style = "advanced"
        else:
            style = "plain"
    if data is not None:
        return f"ok {data}"
    fw.retire_moves()
    if style == "advanced":
        planner_free = fw.options.planner_size - 1 - len(fw.planner)
        buffer_free = fw.options.command_buffer - len(fw.queue)
        number = f" N{command.number}" if command.number is not None else ""
        return f"ok{number} P{planner_free} B{buffer_free}"
    if style == "colon":
        return f"ok N:{command.number if command.number is not None else fw.last_n}"
    if style == "number":
        return f"ok {command.number}" if command.number is not None else "ok"
    if style == "temperature":
        return "ok " + temperatures(fw)
    return "ok"


def resend_ok(fw: SimulatedFirmware) -> str:
    """The ok that follows a resend request."""
    if (
        fw.identity.resend_ok == "queue_head"
        and fw.options.advanced_ok
        and fw.identity.advanced_ok_supported
    ):
        # Marlin 1.1.9 ok_to_send(): the slot at the queue's read index, stale or not.
        fw.retire_moves()
        number = fw.slot_numbers[fw.dequeued % fw.options.command_buffer]
        planner_free = fw.options.planner_size - 1 - len(fw.planner)
        buffer_free = fw.options.command_buffer - len(fw.queue)
        shown = f" N{number}" if number is not None else ""
        return f"ok{shown} P{planner_free} B{buffer_free}"
    return "ok"
