"""Flow control over a real pty: a full window never overruns the printer's receive buffer.

The simulated printer runs in this event loop (so its counters can be read) behind a
real pty; the print server reaches it through pyserial like any serial printer. With
``slow_planner`` every move waits a while before its ok, so lines pile up in the
printer while the window is full: a host (or a firmware model) that gets the buffers
wrong shows up as dropped bytes, checksum errors and resends.
"""

from __future__ import annotations

import asyncio
import time
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

pytestmark = pytest.mark.timeout(60)

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
        await asyncio.wait_for(printer.link.wait_ready(), 10)
        started = time.monotonic()
        await printer.start_print(gcode)
        record = await asyncio.wait_for(printer.wait_for_job(), 30)
        seconds = time.monotonic() - started
        assert record is not None
        assert record.outcome is JobOutcome.COMPLETED, record.reason
        firmware = server.firmware
        assert without_host(firmware.executed) == file_commands(gcode)
        # Not one byte lost, not one line rejected, not one resend.
        assert firmware.counters.overrun_bytes == 0
        assert firmware.counters.line_errors == 0
        assert printer.link.core.resend_count == 0
        assert printer.link.line_errors == 0
        # And the window stayed wide: the moves' 2 ms each, not a round trip per line, set
        # the pace (one in flight would add the pty's and the event loop's latency to each).
        assert seconds < lines * 0.002 * 2.0
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
