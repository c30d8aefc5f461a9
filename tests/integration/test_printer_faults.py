"""Every link fault the simulator can make, against a real print: exact, or a stated failure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from instance.job_records import JobOutcome
from instance.printer import PrinterState
from instance.sim.options import SimOptions
from tests.conftest import GCODE, file_commands, file_head, open_rig, state, without_host
from tests.integration.test_printer_jobs import run

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Case:
    faults: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    fails: str | None = None  # words the job's recorded reason must hold
    lines: int = 4000
    response_timeout: float = 3.0
    wait: float = 30.0


CASES: dict[str, Case] = {
    "corrupt 5 %": Case(("corrupt_line:probability=0.05",)),
    "random_resend": Case(("random_resend",)),
    "double_resend": Case(("double_resend:every=97",)),
    "lost_ok": Case(("lost_ok:every=211",)),
    "extra_ok": Case(("extra_ok:every=199",)),
    "resend rs": Case(("resend_format:form=rs", "random_resend")),
    "resend teacup": Case(("resend_format:form=teacup", "random_resend")),
    "resend nospace": Case(("resend_format:form=nospace", "random_resend")),
    "ok plain": Case(("ok_variant:style=plain",)),
    "ok colon": Case(("ok_variant:style=colon",)),
    "ok number": Case(("ok_variant:style=number",)),
    "ok temperature": Case(("ok_variant:style=temperature",)),
    "ok_before_output": Case(("ok_before_output",)),
    "temperatures spaced": Case(("temperature_format:style=spaced",)),
    "temperatures rrf": Case(("temperature_format:style=rrf",)),
    "temperatures repetier": Case(("temperature_format:style=repetier",)),
    "unsolicited autoreport": Case(("unsolicited:what=autoreport,every=50",)),
    "unsolicited echo": Case(("unsolicited:what=echo,every=50",)),
    "garbage": Case(("garbage:every=300", "garbage:what=nul,every=333")),
    "crlf": Case(("crlf",)),
    "split_writes": Case(("split_writes",), lines=1500),
    "long_line": Case(("long_line:every=500",)),
    "slow_planner": Case(("slow_planner:delay=0.005",), lines=800),
    "wait_idle": Case(("wait_idle",)),
    "silence 2 s": Case(("silence:seconds=2,at_line=300",), response_timeout=1.0),
    "long_command": Case(("long_command:seconds=3,at_line=300",), response_timeout=1.0),
    "drop_line": Case(("drop_line:at_line=300", "drop_line:at_line=2500"), response_timeout=1.0),
    "resend_unsent once": Case(("resend_unsent:at_line=500",)),
    "resend_unsent repeated": Case(("resend_unsent:every=500",), lines=2500),
    "resend_without_ok": Case(("resend_without_ok:every=300",)),
    "resend_without_ok plain": Case(
        ("resend_without_ok:every=700",), options={"advanced_ok": False}, response_timeout=1.0
    ),
    "resend_old": Case(("resend_old:at_line=500",), fails="older than the kept history"),
    "endless_resend": Case(("endless_resend:at_line=500",), fails="link is stuck"),
    "marlin1": Case(options={"identity": "marlin1"}),
    "prusa": Case(options={"identity": "prusa"}),
    "rrf": Case(options={"identity": "rrf"}),
    "repetier": Case(options={"identity": "repetier"}),
    "no advanced ok": Case(options={"advanced_ok": False}),
    "reset_on_open": Case(("reset_on_open",)),
}


async def print_with(case: Case, tmp_path: Path) -> None:
    gcode = file_head(GCODE / "cube_slic3r.gcode", case.lines, tmp_path / "head.gcode")
    rig = await open_rig(
        tmp_path / "data",
        SimOptions(seed=1, **case.options),
        case.faults,
        response_timeout=case.response_timeout,
    )
    printer = rig.printer
    try:
        await printer.start_print(gcode)
        record = await asyncio.wait_for(printer.wait_for_job(), case.wait)
        assert record is not None
        executed = without_host(rig.executed)
        commands = file_commands(gcode)
        if case.fails is None:
            assert record.outcome is JobOutcome.COMPLETED, record.reason
            assert state(printer) is PrinterState.FINISHED
            assert executed == commands
        else:
            assert record.outcome in (JobOutcome.FAILED, JobOutcome.INTERRUPTED)
            assert record.reason is not None
            assert case.fails in record.reason
            assert state(printer) in (PrinterState.FAILED, PrinterState.OFFLINE)
            # Nothing skipped, nothing twice: what ran is the file's beginning.
            assert executed == commands[: len(executed)]
            assert record.last_line is not None
    finally:
        await rig.close()


@pytest.mark.parametrize("name", CASES)
def test_a_print_survives_or_fails_plainly(name: str, tmp_path: Path):
    run(print_with(CASES[name], tmp_path))
