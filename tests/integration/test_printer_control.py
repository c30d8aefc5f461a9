"""Temperatures and manual control of the printer service, on the in-process simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from instance.job_records import JobOutcome
from instance.printer import PrinterError, PrinterState
from instance.sim.options import SimOptions
from tests.conftest import GCODE, file_head, open_rig, state, wait_until
from tests.integration.test_printer_jobs import run

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("autoreport", [True, False])
def test_temperature_history_fills_at_1_hz_and_the_job_keeps_its_own(
    tmp_path: Path, autoreport: bool
):
    gcode = file_head(GCODE / "cube_slic3r.gcode", 700, tmp_path / "head.gcode")

    async def scenario() -> None:
        options = SimOptions(seed=1, autoreport_temp=autoreport)
        rig = await open_rig(tmp_path / "data", options, ["slow_planner:delay=0.004"])
        printer = rig.printer
        job_id = await printer.start_print(gcode)
        record = await asyncio.wait_for(printer.wait_for_job(), 20)
        assert record is not None
        assert record.outcome is JobOutcome.COMPLETED
        await asyncio.sleep(1.2)
        assert ("M155 S1" in rig.executed) is autoreport
        # The handshake's own M105 (its sync) aside: with autoreport, no poll at all.
        handshake = rig.executed.index("M110 N0")
        polls = rig.executed[handshake:].count("M105")
        assert polls >= 2 if not autoreport else polls == 0
        assert len(printer.temperatures) >= 3
        assert "T0.actual" in printer.temperatures.series_names
        assert printer.heaters["T0"][0] == pytest.approx(200, abs=5)
        samples = printer.records.temperatures(job_id)
        assert samples is not None
        assert len(samples) >= 2
        assert any(v is not None for v in samples.values("T0.actual"))
        await rig.close()

    run(scenario())


def test_manual_control_sends_the_expected_gcode_and_is_refused_while_printing(
    tmp_path: Path,
):
    gcode = file_head(GCODE / "cube_slic3r.gcode", 2000, tmp_path / "head.gcode")

    async def scenario() -> None:
        rig = await open_rig(tmp_path / "data")
        printer = rig.printer
        printer.home()
        printer.home("xy")
        printer.jog(x=10, z=-1.5)
        printer.extrude(5)
        printer.set_fan(50)
        printer.set_fan(0)
        printer.preheat(210, 60)
        printer.cool_down()
        printer.motors_off()
        printer.send_gcode("M118 hello")
        expected = [
            "G28 X Y Z",
            "G28 X Y",
            "G91",
            "G1 X10 Z-1.5 F3000",
            "G90",
            "M83",
            "G1 E5 F300",
            "M82",
            "M106 S128",
            "M107",
            "M104 S210",
            "M140 S60",
            "M104 S0",
            "M140 S0",
            "M84",
            "M118 hello",
        ]
        await wait_until(lambda: "M118 hello" in rig.executed, 5)
        start = rig.executed.index("G28 X Y Z")
        assert [c for c in rig.executed[start:] if c != "M155 S1"] == expected
        assert any(d == ">" and text == "M118 hello" for _, d, text in printer.terminal)
        assert any(d == "<" and text == "hello" for _, d, text in printer.terminal)

        await printer.start_print(gcode)
        actions: list[Callable[[], None]] = [
            printer.home,
            lambda: printer.jog(x=1),
            lambda: printer.extrude(1),
            printer.motors_off,
        ]
        for action in actions:
            with pytest.raises(PrinterError, match="printing: manual moves are refused"):
                action()
        printer.emergency_stop()
        record = printer.last_job
        assert record is not None
        assert record.outcome is JobOutcome.FAILED
        assert record.reason is not None
        assert "emergency stop" in record.reason
        assert state(printer) is PrinterState.FAILED
        assert printer.error is not None
        assert "emergency stop" in printer.error
        await wait_until(lambda: "M112" in rig.executed, 5)
        with pytest.raises(PrinterError):
            printer.home()
        await rig.close()

    run(scenario())
