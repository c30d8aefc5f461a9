"""The board's serial input: Marlin's RX ring (bytes beyond it are lost, as in a UART overrun)
and get_serial_commands(), which moves whole lines into the command queue while it has room."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.sim.gcode.emergency import scan_emergency
from instance.sim.line_checks import line_complete
from instance.sim.wire import EOL

if TYPE_CHECKING:
    from instance.sim.firmware import SimulatedFirmware


def take(fw: SimulatedFirmware, segment: bytes) -> None:
    """Bytes that have just reached the board (at most one line's end among them)."""
    if fw.killed or fw.clock < fw.booting_until:
        return  # a killed board and a bootloader read nothing
    if fw.clock < fw.silent_until:
        _into_rx(fw, segment)
        return
    if fw.ep_listening() and scan_emergency(fw, segment):
        fw.run()
        if not fw.running():
            return
    if fw.can_read():
        fw.partial += segment
        _assemble(fw)
        fw.run()
    else:
        _into_rx(fw, segment)


def _into_rx(fw: SimulatedFirmware, segment: bytes) -> None:
    room = fw.options.rx_buffer - len(fw.rx)
    if len(segment) > room:
        # A UART overrun: what does not fit is gone, mid-line or not.
        fw.counters.overrun_bytes += len(segment) - max(room, 0)
        segment = segment[: max(room, 0)]
    fw.rx += segment


def read_rx(fw: SimulatedFirmware) -> None:
    """Marlin's get_serial_commands: pull bytes while the command queue has room."""
    if (
        fw.identity.full_rx_flush
        and len(fw.rx) >= fw.options.rx_buffer - 1
        and len(fw.queue) < fw.options.command_buffer
        and not fw.pending_errors
    ):
        # Prusa's get_command(): a full RX ring is flushed before anything is read.
        fw.rx.clear()
        fw.emit("Full RX Buffer")
    while (
        fw.rx
        and not fw.pending_errors
        and len(fw.queue) < fw.options.command_buffer
        and fw.running()
    ):
        match = EOL.search(fw.rx)
        if match is None:
            fw.partial += fw.rx
            fw.rx.clear()
            break
        fw.partial += fw.rx[: match.end()]
        del fw.rx[: match.end()]
        _assemble(fw)


def _assemble(fw: SimulatedFirmware) -> None:
    match = EOL.search(fw.partial)
    if match is None:
        if len(fw.partial) > 4 * fw.options.max_line:
            # Marlin keeps only MAX_CMD_SIZE characters; no need to hoard the rest.
            del fw.partial[fw.options.max_line :]
        return
    line = bytes(fw.partial[: match.start()])
    del fw.partial[: match.end()]
    line_complete(fw, line)
