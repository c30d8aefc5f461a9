"""Continuing an interrupted print: the resumed job picks up right after the last ok'd line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from instance.job_records import REASON_SERVER_STOPPED, JobOutcome
from instance.printer import PrinterError, PrinterState
from tests.conftest import (
    GCODE,
    file_commands,
    file_head,
    open_rig,
    state,
    wait_until,
    without_host,
)
from tests.integration.test_printer_jobs import run

pytestmark = pytest.mark.timeout(60)


def test_resume_after_a_reset_continues_after_the_last_acknowledged_line(tmp_path: Path):
    gcode = file_head(GCODE / "cube_prusa_marlin2.gcode", 6000, tmp_path / "cube.gcode")

    async def scenario() -> None:
        rig = await open_rig(tmp_path / "data", faults=["reset:at_line=3000"])
        printer = rig.printer
        first = await printer.start_print(gcode)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.last_offset is not None
        await wait_until(lambda: state(printer) is PrinterState.FAILED, 10)
        with pytest.raises(PrinterError, match="not the same file"):
            printer.plan_crash_resume(first, GCODE / "cube_slic3r.gcode")
        plan = printer.plan_crash_resume(first, gcode)
        assert plan.offset == record.last_offset
        reset = rig.sim.firmware.resets[-1]
        before = without_host(rig.executed[:reset])
        commands = file_commands(gcode)
        assert before == commands[: len(before)]
        second = await printer.resume_interrupted(first, gcode)
        resumed = await asyncio.wait_for(printer.wait_for_job(), 30)
        assert resumed is not None
        assert resumed.id == second
        assert resumed.outcome is JobOutcome.COMPLETED
        assert resumed.resumed_from == first
        assert resumed.start_offset == record.last_offset
        after = without_host(rig.executed[reset:])
        assert after == plan.preamble + file_commands(gcode, record.last_offset)
        assert "G28 X Y" in plan.preamble
        await rig.close()

    run(scenario())


def test_a_job_left_running_by_a_crash_is_recovered_and_resumable(tmp_path: Path):
    gcode = file_head(GCODE / "cube_prusa_marlin2.gcode", 6000, tmp_path / "cube.gcode")
    data = tmp_path / "data"

    async def crash() -> int:
        rig = await open_rig(data)
        printer = rig.printer
        job_id = await printer.start_print(gcode)
        job = printer.job
        assert job is not None
        await wait_until(lambda: job.progress().lines_done >= 2000)
        printer.job = None  # the process dies: nobody records how the job ended
        await rig.close()
        return job_id

    async def restart(job_id: int) -> None:
        rig = await open_rig(data)
        printer = rig.printer
        assert [r.id for r in printer.interrupted_jobs] == [job_id]
        record = printer.interrupted_jobs[0]
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.reason == REASON_SERVER_STOPPED
        assert record.last_offset is not None
        assert state(printer) is PrinterState.BED_NOT_CLEARED
        # The restarted print server reports the job it just closed as its last one, so the
        # hub's queue, following it, ends its entry (it stayed "printing" for ever before).
        assert printer.last_job == record
        with pytest.raises(PrinterError, match="bed"):
            await printer.start_print(gcode)
        await printer.resume_interrupted(job_id, gcode, from_layer=True)
        resumed = await asyncio.wait_for(printer.wait_for_job(), 30)
        assert resumed is not None
        assert resumed.outcome is JobOutcome.COMPLETED
        plan = printer.plan_crash_resume(job_id, gcode, from_layer=True)
        assert plan.offset <= record.last_offset
        assert without_host(rig.executed) == plan.preamble + file_commands(gcode, plan.offset)
        await rig.close()

    holder: list[int] = []

    async def both() -> None:
        holder.append(await crash())
        await restart(holder[0])

    run(both())
