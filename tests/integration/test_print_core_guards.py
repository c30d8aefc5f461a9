"""The print core's guards, end to end on a simulated printer: no stall, no silent autoreport.

* A printer that keeps talking (``busy: processing``) but acknowledges nothing for
  longer than the commands in flight explain: the link resynchronises once, then the
  job fails with the reason in its record and on the page, and the heaters go off.
* A firmware that announces AUTOREPORT_TEMP but never reports is polled with M105.
* The stall an independent emulator found (every resend without ok), per profile that
  resends: the print ends and the link learns the firmware's habit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from instance.job_records import JobOutcome
from instance.printer import PrinterState
from instance.sim.options import SimOptions
from tests.conftest import GCODE, file_commands, file_head, open_rig, wait_until, without_host

pytestmark = pytest.mark.timeout(240)


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


async def stalled_job(tmp_path: Path) -> None:
    gcode = file_head(GCODE / "cube_slic3r.gcode", 200, tmp_path / "head.gcode")
    rig = await open_rig(
        tmp_path / "data",
        SimOptions(seed=1),
        ("long_command:seconds=12,keepalive=true,at_line=60",),
        response_timeout=1.0,
        stall_timeout=3.0,
    )
    printer = rig.printer
    try:
        job_id = await printer.start_print(gcode)
        record = await asyncio.wait_for(printer.wait_for_job(), 60)
        assert record is not None
        assert record.outcome is JobOutcome.FAILED
        assert record.reason is not None and "no line acknowledged" in record.reason
        assert printer.error is not None and "no line acknowledged" in printer.error
        kinds = [w.kind for w in printer.records.warnings(job_id)]
        assert kinds == ["stall"]
        # Once the printer answers again the failure policy turns the heaters off.
        await wait_until(lambda: "M104 T0 S0" in rig.executed, 60)
        await wait_until(lambda: "M140 S0" in rig.executed[rig.executed.index("M104 T0 S0") :], 60)
        assert printer.state in (PrinterState.FAILED, PrinterState.CONNECTING)
        # Nothing of the file ran twice or out of order before the failure. (The new
        # handshake's first bytes may meet a receive buffer still full of the old
        # session's lines: what the overrun mangled the printer refused as unknown.)
        refused = {
            text.split('"')[1]
            for _, _, text in printer.terminal
            if text.startswith("echo:Unknown command:")
        }
        ran = without_host(rig.executed[: rig.executed.index("M104 T0 S0")])
        ran = [command for command in ran if command not in refused]
        assert ran == file_commands(gcode)[: len(ran)]
    finally:
        await rig.close()


def test_a_printer_busy_for_ever_fails_the_job_and_cools_down(tmp_path: Path) -> None:
    run(stalled_job(tmp_path))


async def silent_autoreport(tmp_path: Path) -> None:
    rig = await open_rig(tmp_path / "data", SimOptions(seed=1, autoreport_silent=True))
    printer = rig.printer
    try:
        assert printer.capabilities.get("AUTOREPORT_TEMP")
        await wait_until(lambda: rig.executed.count("M105") >= 2, 60)
        await wait_until(lambda: "T0" in printer.heaters, 30)
    finally:
        await rig.close()


def test_autoreport_announced_but_silent_is_polled_with_m105(tmp_path: Path) -> None:
    run(silent_autoreport(tmp_path))


async def resend_without_ok(tmp_path: Path, profile: str) -> None:
    gcode = file_head(GCODE / "cube_slic3r.gcode", 400, tmp_path / "head.gcode")
    rig = await open_rig(
        tmp_path / "data",
        SimOptions(seed=5, identity=profile, ok_after_resend=False),
        ("random_resend:probability=0.05",),
        response_timeout=1.0,
    )
    printer = rig.printer
    try:
        await printer.start_print(gcode)
        record = await asyncio.wait_for(printer.wait_for_job(), 120)
        assert record is not None and record.outcome is JobOutcome.COMPLETED, record
        assert rig.sim.firmware.counters.line_errors > 0
        assert printer.link.core.ok_after_resend is False
    finally:
        await rig.close()


@pytest.mark.parametrize("profile", ["marlin2", "marlin1", "prusa", "repetier"])
def test_resends_without_ok_never_stall_a_print(tmp_path: Path, profile: str) -> None:
    run(resend_without_ok(tmp_path, profile))
