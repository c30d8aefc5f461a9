"""The printer service printing real files on the in-process simulator: print, pause, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from instance.job_records import JobOutcome
from instance.machine_state import MachineState
from instance.printer import PrinterError, PrinterState
from instance.sim.options import SimOptions
from tests.conftest import GCODE, Rig, file_commands, open_rig, state, wait_until, without_host

# Hang guards only: on a loaded machine the pause test takes four times as long.
pytestmark = pytest.mark.timeout(300)

CUBE = GCODE / "cube_slic3r.gcode"
TOWER = GCODE / "tower_prusa_relE.gcode"
PAUSE_SCRIPT = ["G91", "G1 E-2 F2400", "G1 Z10 F600", "G90"]
CANCEL_SCRIPT = ["M104 S0", "M140 S0", "M107", "G91", "G1 Z10 F600", "G90", "M84"]


def run(coroutine: Coroutine[Any, Any, None], timeout: float = 240.0) -> None:
    asyncio.run(asyncio.wait_for(coroutine, timeout))


def number(value: float | None) -> str:
    assert value is not None
    return f"{value:.5f}".rstrip("0").rstrip(".")


def track_states(rig: Rig) -> list[str]:
    states: list[str] = []
    printer = rig.printer

    def note() -> None:
        if not states or states[-1] != printer.state.value:
            states.append(printer.state.value)

    printer.subscribe(note)
    return states


def pause_block(commands: list[str], k: int) -> list[str]:
    """What a pause after the file's first ``k`` commands and its resume must execute."""
    machine = MachineState()
    for command in commands[:k]:
        machine.apply(command)
    x, y, z, e = (machine.position[axis] for axis in "XYZE")
    return [
        "M400",
        "M114",
        *PAUSE_SCRIPT,
        "G90",
        f"G1 X{number(x)} Y{number(y)} F6000",
        f"G1 Z{number(z)} F600",
        "G91",
        "G1 E2 F2400",
        "G90",
        f"G92 E{number(e)}",
        "G90" if machine.absolute_xyz else "G91",
        "M82" if machine.absolute_e else "M83",
        f"G1 F{machine.feed_rate:g}",
    ]


def test_clean_print_executes_the_file_exactly_then_waits_for_a_clear_bed(tmp_path: Path):
    async def scenario() -> None:
        rig = await open_rig(tmp_path)
        printer = rig.printer
        states = track_states(rig)
        job_id = await printer.start_print(CUBE)
        record = await asyncio.wait_for(printer.wait_for_job(), 30)
        assert record is not None
        assert record.id == job_id
        assert record.outcome is JobOutcome.COMPLETED
        assert record.reason is None
        assert states == ["printing", "finished"]
        assert without_host(rig.executed) == file_commands(CUBE)
        with pytest.raises(PrinterError, match="bed was not confirmed clear"):
            await printer.start_print(CUBE)
        printer.confirm_bed_clear()
        assert state(printer) is PrinterState.READY
        await printer.start_print(CUBE)
        assert state(printer) is PrinterState.PRINTING
        await printer.cancel()
        await rig.close()

    run(scenario())


def test_pause_twice_then_resume_restores_modes_position_and_skips_nothing(tmp_path: Path):
    commands = file_commands(TOWER)

    async def scenario() -> None:
        rig = await open_rig(tmp_path)
        printer = rig.printer
        states = track_states(rig)
        await printer.start_print(TOWER)
        job = printer.job
        assert job is not None
        for at in (3000, 30000):

            def reached(at: int = at) -> bool:
                return job.progress().lines_done >= at

            await wait_until(reached)
            pausing = asyncio.create_task(printer.pause())
            await asyncio.sleep(0)
            assert state(printer) is PrinterState.PAUSING
            await pausing
            assert state(printer) is PrinterState.PAUSED
            before = job.progress()
            await asyncio.sleep(0.3)
            after = job.progress()
            assert (after.bytes_done, after.lines_done) == (before.bytes_done, before.lines_done)
            assert after.elapsed == pytest.approx(before.elapsed, abs=0.01)
            resuming = time.monotonic()
            await printer.resume()
            resumed = job.progress()
            assert resumed.lines_done >= before.lines_done
            # The paused time (0.3 s and more) is not counted: the clock has gone on for
            # no longer than the resume itself took, however slow the machine.
            assert resumed.elapsed - before.elapsed <= time.monotonic() - resuming + 0.01
        record = await asyncio.wait_for(printer.wait_for_job(), 40)
        assert record is not None
        assert record.outcome is JobOutcome.COMPLETED
        assert states == ["printing", "pausing", "paused"] * 2 + ["printing", "finished"]
        executed = without_host(rig.executed)
        starts = [i for i in range(len(executed) - 1) if executed[i : i + 2] == ["M400", "M114"]]
        assert len(starts) == 2
        k1 = starts[0]
        k2 = starts[1] - len(pause_block(commands, k1))
        expected = (
            commands[:k1]
            + pause_block(commands, k1)
            + commands[k1:k2]
            + pause_block(commands, k2)
            + commands[k2:]
        )
        assert executed == expected
        machine = MachineState()
        for command in commands[:k1]:
            machine.apply(command)
        assert not machine.absolute_e, "the tower must pause while in relative E (M83)"
        await rig.close()

    run(scenario())


def test_cancel_while_printing_runs_the_cancel_script_and_sends_nothing_more(tmp_path: Path):
    commands = file_commands(CUBE)

    async def scenario() -> None:
        rig = await open_rig(tmp_path)
        printer = rig.printer
        states = track_states(rig)
        await printer.start_print(CUBE)
        job = printer.job
        assert job is not None
        await wait_until(lambda: job.progress().lines_done >= 3000)
        acknowledged = job.progress().lines_done
        await printer.cancel()
        record = printer.last_job
        assert record is not None
        assert record.outcome is JobOutcome.CANCELLED
        assert states == ["printing", "cancelling", "bed not cleared"]
        assert state(printer) is PrinterState.BED_NOT_CLEARED
        executed = without_host(rig.executed, ("M108",))
        k = executed.index("M400")
        assert executed == [*commands[:k], "M400", *CANCEL_SCRIPT]
        assert acknowledged <= k <= acknowledged + 16  # only what was already on the wire
        assert record.last_offset is not None
        await rig.close()

    run(scenario())


def test_cancel_breaks_a_heat_up_wait_at_once(tmp_path: Path):
    gcode = tmp_path / "heat.gcode"
    moves = "".join(f"G1 X{i} F3000\n" for i in range(1, 40))
    gcode.write_text("M140 S60\nM104 S200\nM109 S200 ; wait\n" + moves)

    async def scenario() -> None:
        rig = await open_rig(tmp_path / "data", SimOptions(seed=1, move_timing="real"))
        printer = rig.printer
        await printer.start_print(gcode)
        await wait_until(lambda: "M109 S200" in rig.executed, 60)
        await asyncio.sleep(0.5)
        await printer.cancel()
        # The cancel did not wait for the heat-up (about a minute at 3 °C/s): the hotend
        # is still far from 200 °C and M108 broke the wait.
        hotends = {n: h for n, h in printer.heaters.items() if n.startswith("T")}
        assert hotends, printer.heaters
        assert all(actual < 150 for actual, _ in hotends.values()), hotends
        record = printer.last_job
        assert record is not None
        assert record.outcome is JobOutcome.CANCELLED
        assert state(printer) is PrinterState.BED_NOT_CLEARED
        executed = rig.executed
        assert "M108" in executed[executed.index("M109 S200") :]
        file_part = without_host(executed, ("M108",))
        k = file_part.index("M400")
        assert file_part == [*file_commands(gcode)[:k], "M400", *CANCEL_SCRIPT]
        assert k <= 3 + 8
        await rig.close()

    run(scenario())


def test_cancel_breaks_a_heat_up_wait_that_begins_after_the_first_m108(tmp_path: Path):
    # Marlin's M108 ends only a wait that has begun: sent while the M109 still
    # sits behind moves in the firmware's buffers it is lost, and the cancel would
    # wait for the whole heat-up. The host sends it again until the queue drains.
    gcode = tmp_path / "moves-then-heat.gcode"
    # More moves than the planner holds (16), so the M109 waits in the command
    # buffer, written but not begun, while the first moves run.
    moves = "".join(f"G1 X{10 + (i % 2) * 10} F3000\n" for i in range(18))
    gcode.write_text("M104 S200\n" + moves + "M109 S200 ; wait\nG1 X50 F3000\n")

    async def scenario() -> None:
        rig = await open_rig(tmp_path / "data", SimOptions(seed=1, move_timing="real"))
        printer = rig.printer
        await printer.start_print(gcode)
        await wait_until(lambda: rig.executed.count("G1 X20 F3000") >= 1, 60)
        assert "M109 S200" not in rig.executed
        await printer.cancel()
        executed = rig.executed
        assert "M109 S200" in executed, "the wait began after the first M108"
        # The first M108 came before the wait and was lost; a later one broke it.
        assert executed.index("M108") < executed.index("M109 S200")
        assert "M108" in executed[executed.index("M109 S200") :]
        hotends = {n: h for n, h in printer.heaters.items() if n.startswith("T")}
        assert all(actual < 150 for actual, _ in hotends.values()), hotends
        record = printer.last_job
        assert record is not None and record.outcome is JobOutcome.CANCELLED
        await rig.close()

    run(scenario())


def test_cancel_while_paused_ends_the_job_without_resuming(tmp_path: Path):
    commands = file_commands(CUBE)

    async def scenario() -> None:
        rig = await open_rig(tmp_path)
        printer = rig.printer
        await printer.start_print(CUBE)
        job = printer.job
        assert job is not None
        await wait_until(lambda: job.progress().lines_done >= 2000)
        await printer.pause()
        assert state(printer) is PrinterState.PAUSED
        await printer.cancel()
        assert state(printer) is PrinterState.BED_NOT_CLEARED
        record = printer.last_job
        assert record is not None
        assert record.outcome is JobOutcome.CANCELLED
        executed = without_host(rig.executed, ("M108",))
        k = executed.index("M114") - 1
        assert executed == [*commands[:k], "M400", "M114", *PAUSE_SCRIPT, "M400", *CANCEL_SCRIPT]
        with pytest.raises(PrinterError, match="cannot resume"):
            await printer.resume()
        await rig.close()

    run(scenario())
