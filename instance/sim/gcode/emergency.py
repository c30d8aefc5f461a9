"""Stopping and recovering: M112 (kill), M410 (quick stop), M108 (break a wait), M999, and
Marlin's EMERGENCY_PARSER, which acts on M108/M112/M410/M876 as their bytes arrive."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode.parser import LINE_PREFIX
from instance.sim.resend import drain, request_resend
from instance.sim.wire import EOL

if TYPE_CHECKING:
    from instance.sim.command_queue import Handler, QueuedCommand
    from instance.sim.firmware import SimulatedFirmware

EMERGENCY_CODES = ("M108", "M112", "M410", "M876")
KILLED = "Error:Printer halted. kill() called!"


def scan_emergency(fw: SimulatedFirmware, segment: bytes) -> bool:
    """Marlin's EMERGENCY_PARSER: watches every byte as it arrives, before any buffer."""
    acted = False
    fw.ep_partial += segment
    while True:
        match = EOL.search(fw.ep_partial)
        if match is None:
            if len(fw.ep_partial) > fw.options.max_line:
                del fw.ep_partial[: -fw.options.max_line]
            return acted
        line = bytes(fw.ep_partial[: match.start()]).decode("latin-1").strip()
        del fw.ep_partial[: match.end()]
        line = LINE_PREFIX.sub("", line, count=1) if line.startswith("N") else line
        code = line[:4].upper()
        if fw.identity.shutdown_keeps_answering and code != "M112":
            continue  # Klipper's GCodeIO._process_data() looks ahead for M112 only
        if code in EMERGENCY_CODES and not line[4:5].isdigit():
            command = line.split("*", 1)[0].strip()
            _on_arrival(fw, code, command)
            acted = True


def _on_arrival(fw: SimulatedFirmware, code: str, command: str) -> None:
    fw.executed.append(command)
    if code == "M112":
        kill(fw)
        if fw.identity.shutdown_keeps_answering:
            # Klipper runs the queued M112 again later (a no-op, with its ok).
            fw.executed.pop()
    elif code == "M410":
        fw.planner.clear()
    elif code == "M108":
        break_wait(fw, ("heat", "user"))
    elif code == "M876":
        break_wait(fw, ("user",))


def kill(fw: SimulatedFirmware) -> None:
    """Marlin's kill(): heaters off, everything dropped, the board reads nothing more.

    Klipper shuts down instead and keeps answering.
    """
    heaters = (*fw.hotends, fw.bed, fw.chamber)
    if fw.identity.shutdown_keeps_answering:
        # Klipper: invoke_shutdown(); GCodeDispatch._handle_shutdown() says so, the host
        # link stays up and every later command gets "!! <reason>" and ok.
        if not fw.shut_down:
            fw.shut_down = True
            fw.emit("// Klipper state: Shutdown")
            fw.planner.clear()
            for heater in heaters:
                heater.set_target(0.0, fw.clock)
        return
    fw.emit(KILLED)
    fw.killed = True
    fw.queue.clear()
    fw.planner.clear()
    fw.block = None
    fw.rx.clear()
    fw.partial.clear()
    for heater in heaters:
        heater.set_target(0.0, fw.clock)


def break_wait(fw: SimulatedFirmware, kinds: tuple[str, ...]) -> None:
    """End the head command's wait if it is one of ``kinds`` ("heat", "user")."""
    if fw.block is not None and fw.block.kind in kinds:
        fw.block.broken = True


def _queued_kill(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    kill(fw)
    if fw.shut_down:
        fw.finish(command)


def _queued_quick_stop(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    fw.planner.clear()
    fw.finish(command)


def _queued_break(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    break_wait(fw, ("heat", "user"))
    fw.finish(command)


def _resume_after_error(fw: SimulatedFirmware, command: QueuedCommand) -> None:
    if not fw.identity.m999_resends:
        fw.finish(command)
        return
    # M999 -> flush_and_request_resend(): SERIAL_FLUSH() (discards the RX ring on AVR),
    # "Resend: N", the resend's ok; then M999's own ok.
    if fw.identity.drain_on_error:
        drain(fw)
    request_resend(fw)
    fw.finish(command)


COMMANDS: dict[str, Handler] = {
    "M108": _queued_break,
    "M112": _queued_kill,
    "M410": _queued_quick_stop,
    "M999": _resume_after_error,
}
