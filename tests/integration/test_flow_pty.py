"""Flow control over a real pty: a full window never overruns the printer's receive buffer.

The simulated printer runs in this event loop (so its counters can be read) behind a
real pty; the print server reaches it through pyserial like any serial printer. With
``slow_planner`` every move waits a while before its ok, so lines pile up in the
printer while the window is full: a host (or a firmware model) that gets the buffers
wrong shows up as dropped bytes, checksum errors and resends.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from instance.job_records import JobOutcome
from instance.link import LinkSettings
from instance.printer import Printer, PrinterSettings
from instance.sim.faults import parse_fault
from instance.sim.options import SimOptions
from instance.sim.runner import serve_pty
from tests.conftest import GCODE, file_commands, file_head, without_host

pytestmark = pytest.mark.timeout(300)

SLOW_PLANNER = "slow_planner:delay=0.002"


async def print_over_pty(tmp_path: Path, lines: int, options: dict[str, Any]) -> None:
    gcode = file_head(GCODE / "cube_slic3r.gcode", lines, tmp_path / "head.gcode")
    link_path = tmp_path / "printer"
    server = await serve_pty(
        SimOptions(seed=1, **options), [parse_fault(SLOW_PLANNER)], str(link_path)
    )
    printer = Printer(
        PrinterSettings(
            link=LinkSettings(port=str(link_path), response_timeout=3.0, reconnect_delay=0.2),
            data_dir=tmp_path / "data",
        )
    )
    try:
        await printer.start()
        await asyncio.wait_for(printer.link.wait_ready(), 60)
        await printer.start_print(gcode)
        peak = 0

        async def watch_the_window() -> None:
            nonlocal peak
            while True:
                peak = max(peak, printer.link.core.in_flight)
                await asyncio.sleep(0.001)

        watcher = asyncio.create_task(watch_the_window())
        try:
            record = await asyncio.wait_for(printer.wait_for_job(), 120)
        finally:
            watcher.cancel()
        assert record is not None
        assert record.outcome is JobOutcome.COMPLETED, record.reason
        firmware = server.firmware
        assert without_host(firmware.executed) == file_commands(gcode)
        # Not one byte lost, not one line rejected, not one resend.
        assert firmware.counters.overrun_bytes == 0
        assert firmware.counters.line_errors == 0
        assert printer.link.core.resend_count == 0
        assert printer.link.line_errors == 0
        # And the window stayed wide: while the printer worked through its slow moves,
        # the host kept several lines in flight, not one at a time (how fast that makes
        # a print is bench/throughput.py's business).
        assert peak >= 4, peak
    finally:
        await printer.stop()
        await server.close()


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="unpaced"),
        pytest.param({"baud": 250000, "latency": 0.001}, id="250000-baud-1ms"),
    ],
)
def test_slow_planner_over_a_pty_needs_no_resend(tmp_path: Path, options: dict[str, Any]) -> None:
    asyncio.run(print_over_pty(tmp_path, 1500, options))
