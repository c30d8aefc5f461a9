"""Shared helpers: a Printer wired to an in-process simulated printer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from instance.gcode_file import GcodeFile
from instance.link import LinkSettings
from instance.printer import Printer, PrinterSettings, PrinterState
from instance.scripts import JobScripts
from instance.sim.faults import parse_fault
from instance.sim.options import SimOptions
from instance.sim.runner import InProcessLink
from instance.transport.simulated import SimulatedTransport

GCODE = Path(__file__).parent / "fixtures" / "gcode"
# What the host sends on its own: handshake, autoreport, polls and silence prompts.
HOST_CODES = ("M110", "M115", "M155", "M105")


def file_commands(path: Path, start_offset: int = 0) -> list[str]:
    return [line.command for line in GcodeFile(path).iter_commands(start_offset)]


def file_head(source: Path, lines: int, into: Path) -> Path:
    """The first ``lines`` lines of a real fixture, as a new file."""
    with source.open("rb") as f:
        head = b"".join(line for _, line in zip(range(lines), f, strict=False))
    into.write_bytes(head)
    return into


def without_host(executed: Iterable[str], extra: tuple[str, ...] = ()) -> list[str]:
    codes = HOST_CODES + extra
    return [c for c in executed if c.split(" ", 1)[0].upper() not in codes]


@dataclass
class Rig:
    printer: Printer
    sim: InProcessLink

    @property
    def executed(self) -> list[str]:
        return self.sim.firmware.executed

    async def close(self) -> None:
        await self.printer.stop()
        await self.sim.close()


async def open_rig(
    data_dir: Path,
    options: SimOptions | None = None,
    faults: Iterable[str] = (),
    *,
    response_timeout: float = 3.0,
    scripts: JobScripts | None = None,
    wait_ready: bool = True,
    stall_timeout: float = 60.0,
) -> Rig:
    sim = InProcessLink(options or SimOptions(seed=1), [parse_fault(f) for f in faults])
    settings = PrinterSettings(
        link=LinkSettings(
            port="sim://",
            response_timeout=response_timeout,
            reconnect_delay=0.2,
            stall_timeout=stall_timeout,
        ),
        data_dir=data_dir,
        scripts=scripts or JobScripts(),
        opener=lambda: SimulatedTransport.open(sim),
    )
    printer = Printer(settings)
    await printer.start()
    if wait_ready:
        await asyncio.wait_for(printer.link.wait_ready(), 60)
    return Rig(printer, sim)


def state(printer: Printer) -> PrinterState:
    """The printer's state now (a call, so type checkers do not narrow it across awaits)."""
    return printer.state


async def wait_until(predicate: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        await asyncio.sleep(0.005)
