"""The printer service when the firmware fails, resets, unplugs or asks the host for something."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from instance.job_records import REASON_PRINTER_RESET, JobOutcome
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
from tests.integration.test_printer_jobs import CANCEL_SCRIPT, pause_block, run

pytestmark = pytest.mark.timeout(60)

CUBE = GCODE / "cube_slic3r.gcode"


def test_thermal_runaway_fails_the_job_with_the_firmware_words(tmp_path: Path):
    async def scenario() -> None:
        rig = await open_rig(tmp_path, faults=["fatal_error:kind=thermal_runaway,at_line=2000"])
        printer = rig.printer
        await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.FAILED
        assert record.reason is not None
        assert "Thermal Runaway" in record.reason
        assert "halted" in record.reason
        assert state(printer) is PrinterState.FAILED
        executed = without_host(rig.executed)
        assert executed == file_commands(CUBE)[: len(executed)]
        with pytest.raises(PrinterError):
            await printer.start_print(CUBE)
        await rig.close()

    run(scenario())


def test_a_reset_mid_print_interrupts_the_job_and_never_comes_back_ready(tmp_path: Path):
    async def scenario() -> None:
        rig = await open_rig(tmp_path, faults=["reset:at_line=2000"])
        printer = rig.printer
        await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.reason == REASON_PRINTER_RESET
        assert record.last_line is not None
        await asyncio.wait_for(printer.link.wait_ready(), 10)
        await asyncio.sleep(0.1)
        assert state(printer) is PrinterState.FAILED
        # Not one line of the lost job reaches the freshly reset printer.
        assert without_host(rig.executed[rig.sim.firmware.resets[-1] :]) == []
        with pytest.raises(PrinterError, match="bed"):
            await printer.start_print(CUBE)
        printer.confirm_bed_clear()
        assert state(printer) is PrinterState.READY
        await rig.close()

    run(scenario())


def test_an_unplug_interrupts_the_job_and_the_printer_comes_back_by_itself(tmp_path: Path):
    async def scenario() -> None:
        rig = await open_rig(tmp_path, faults=["unplug:seconds=1,at_line=2000"])
        printer = rig.printer
        await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.INTERRUPTED
        assert record.reason is not None
        assert record.reason.startswith("printer disconnected")
        assert state(printer) is PrinterState.OFFLINE
        await wait_until(lambda: state(printer) is not PrinterState.OFFLINE, 10)
        await wait_until(lambda: printer.link.ready, 10)
        assert state(printer) is PrinterState.FAILED
        await rig.close()

    run(scenario())


def test_the_printer_asks_to_pause_then_the_user_resumes(tmp_path: Path):
    commands = file_commands(CUBE)

    async def scenario() -> None:
        rig = await open_rig(tmp_path, faults=["action:action=pause,at_line=500"])
        printer = rig.printer
        await printer.start_print(CUBE)
        await wait_until(lambda: state(printer) is PrinterState.PAUSED, 10)
        await printer.resume()
        record = await asyncio.wait_for(printer.wait_for_job(), 30)
        assert record is not None
        assert record.outcome is JobOutcome.COMPLETED
        executed = without_host(rig.executed)
        k = executed.index("M114") - 1
        assert executed == commands[:k] + pause_block(commands, k) + commands[k:]
        await rig.close()

    run(scenario())


def test_the_printer_asks_to_cancel(tmp_path: Path):
    async def scenario() -> None:
        rig = await open_rig(tmp_path, faults=["action:action=cancel,spaced=true,at_line=500"])
        printer = rig.printer
        await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.CANCELLED
        assert state(printer) is PrinterState.BED_NOT_CLEARED
        executed = without_host(rig.executed, ("M108",))
        k = executed.index("M400")
        assert executed == [*file_commands(CUBE)[:k], "M400", *CANCEL_SCRIPT]
        await rig.close()

    run(scenario())


def test_a_prompt_from_the_printer_is_shown_and_answered_with_m876(tmp_path: Path):
    async def scenario() -> None:
        rig = await open_rig(tmp_path, faults=["action:action=prompt,at_time=0.3"])
        printer = rig.printer
        await wait_until(lambda: printer.prompt is not None and bool(printer.prompt.choices), 5)
        assert printer.prompt is not None
        assert printer.prompt.text == "Filament runout"
        assert printer.prompt.choices == ["Continue"]
        with pytest.raises(PrinterError, match="not offered"):
            printer.answer_prompt(1)
        printer.answer_prompt(0)
        assert [printer.prompt] == [None]  # (a list: the attribute was narrowed above)
        await wait_until(lambda: "M876 S0" in rig.executed, 5)
        await rig.close()

    run(scenario())


def test_m600_pauses_until_the_user_answers_then_the_file_continues(tmp_path: Path):
    """M600: the firmware pauses itself and prompts; the service shows it as paused with the
    prompt, and the user's resume (or answer to the prompt) lets the firmware carry on."""
    source = file_head(CUBE, 3000, tmp_path / "head.gcode")
    lines = source.read_text().splitlines(keepends=True)
    gcode = tmp_path / "m600.gcode"
    gcode.write_text("".join(lines[:1500]) + "M600 ; change filament\n" + "".join(lines[1500:]))

    async def scenario() -> None:
        rig = await open_rig(tmp_path / "data")
        printer = rig.printer
        await printer.start_print(gcode)
        await wait_until(lambda: state(printer) is PrinterState.PAUSED, 10)
        assert printer.prompt is not None
        assert printer.prompt.text == "Change filament"
        job = printer.job
        assert job is not None
        paused_at = job.progress().lines_done
        await asyncio.sleep(0.3)
        assert job.progress().lines_done == paused_at
        await printer.resume()
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.COMPLETED
        assert without_host(rig.executed, ("M876",)) == file_commands(gcode)
        assert "M876 S0" in rig.executed
        await rig.close()

    run(scenario())
