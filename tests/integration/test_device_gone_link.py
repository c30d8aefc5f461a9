"""How long the device has been gone, and the printer giving up, on the in-process simulator.

The simulated unplug closes the link under the host and refuses to open while the
cable is out, as a serial device does; the real processes are in
``tests/web/test_device_gone.py``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from instance.job_records import JobOutcome
from instance.link import LinkSettings
from instance.printer import Printer, PrinterSettings, PrinterState
from instance.sim.faults import parse_fault
from instance.sim.options import SimOptions
from instance.sim.runner import InProcessLink
from instance.transport.simulated import SimulatedTransport
from tests.conftest import GCODE, wait_until
from tests.integration.test_printer_jobs import run

pytestmark = pytest.mark.timeout(60)

CUBE = GCODE / "cube_slic3r.gcode"


async def started_printer(data_dir: Path, unplug: float, gone_limit: float) -> Printer:
    """A ready printer whose cable comes out for ``unplug`` s at line 500 of a job."""
    sim = InProcessLink(SimOptions(seed=1), [parse_fault(f"unplug:seconds={unplug},at_line=500")])
    printer = Printer(
        PrinterSettings(
            link=LinkSettings(port="sim://", response_timeout=3.0, reconnect_delay=0.2),
            data_dir=data_dir,
            opener=lambda: SimulatedTransport.open(sim),
            device_gone_timeout=gone_limit,
        )
    )
    await printer.start()
    await asyncio.wait_for(printer.link.wait_ready(), 30)
    assert printer.link.gone_for() is None
    return printer


def error_of(printer: Printer) -> str:
    """The printer's error now ("" for none; a call, so mypy does not narrow it across awaits)."""
    return printer.error or ""


def test_the_absence_counts_from_the_unplug_and_ends_when_the_printer_answers(tmp_path: Path):
    async def scenario() -> None:
        printer = await started_printer(tmp_path, unplug=1.5, gone_limit=10.0)
        await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None and record.outcome is JobOutcome.INTERRUPTED
        lost_at = time.monotonic()
        first = printer.link.gone_for()
        assert first is not None and first < 0.5
        await asyncio.sleep(1.0)
        later = printer.link.gone_for()
        assert later is not None and later >= first + 0.9
        counting = error_of(printer)
        assert "device gone for" in counting
        assert counting.endswith("the print server restarts at 10 s")
        await wait_until(lambda: printer.link.ready, 10)
        assert time.monotonic() - lost_at >= 1.0
        assert printer.link.gone_for() is None
        assert error_of(printer) == ""
        assert not printer.device_gone.is_set()
        await printer.stop()

    run(scenario())


def test_the_printer_gives_up_once_the_device_is_gone_for_the_timeout(tmp_path: Path):
    async def scenario() -> None:
        printer = await started_printer(tmp_path, unplug=30.0, gone_limit=1.0)
        job_id = await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None and record.id == job_id
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.reason is not None and record.reason.startswith("printer disconnected: ")
        assert record.reason.count("printer disconnected") == 1, record.reason
        assert record.last_line is not None
        lost_at = time.monotonic()
        # Long before the 30 s unplug ends (the wait is bounded), not before the 1 s limit;
        # the reason below says it gave up at the limit.
        await asyncio.wait_for(printer.device_gone.wait(), 10)
        assert time.monotonic() - lost_at >= 0.9
        assert printer.gave_up_because is not None
        assert printer.gave_up_because.startswith("device gone for 1 s (limit 1 s): ")
        assert printer.state is PrinterState.OFFLINE
        assert printer.error == f"printer disconnected: {printer.gave_up_because}"
        # The job's record is as the loss wrote it.
        assert printer.records.get(job_id) == record
        await printer.stop()

    run(scenario())


def test_zero_never_gives_up(tmp_path: Path):
    async def scenario() -> None:
        printer = await started_printer(tmp_path, unplug=30.0, gone_limit=0.0)
        await printer.start_print(CUBE)
        await asyncio.wait_for(printer.wait_for_job(), 20)
        await asyncio.sleep(2.0)
        assert not printer.device_gone.is_set()
        # The link still counts; nobody acts on it.
        gone = printer.link.gone_for()
        assert gone is not None and gone >= 1.5
        assert "device gone" not in error_of(printer)
        await printer.stop()

    run(scenario())
