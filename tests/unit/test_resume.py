"""plan_resume on a real PrusaSlicer file."""

from __future__ import annotations

from pathlib import Path

import pytest

from instance.gcode_file import GcodeFile, GcodeLine
from instance.job_records import JobOutcome, JobRecord
from instance.machine_state import MachineState
from instance.resume import ResumeError, plan_resume

CUBE = Path(__file__).parent.parent / "fixtures" / "gcode" / "cube_prusa_marlin2.gcode"


def record_after(line: GcodeLine, path: Path = CUBE) -> JobRecord:
    return JobRecord(
        id=7,
        file_name=path.name,
        file_size=path.stat().st_size,
        started_at=0.0,
        ended_at=1.0,
        outcome=JobOutcome.INTERRUPTED,
        reason="printer reset",
        last_line=line.number,
        last_offset=line.end_offset,
        resumed_from=None,
        start_offset=0,
    )


def test_resume_mid_file_heats_sets_z_homes_xy_only_and_restores_e_and_modes():
    lines = list(GcodeFile(CUBE).iter_commands())
    last = lines[10000]
    machine = MachineState()
    for line in lines[:10001]:
        machine.apply(line.command)
    plan = plan_resume(record_after(last), CUBE)
    assert plan.offset == last.end_offset
    assert plan.line == lines[10001].number
    z = machine.position["Z"]
    assert plan.z == z
    preamble = plan.preamble
    assert preamble[:2] == ["M190 S60", "M109 T0 S210"]  # the file's own temperatures
    assert f"G92 Z{z:g}" in preamble
    assert "G28 X Y" in preamble
    assert not any(c.startswith("G28") and "Z" in c for c in preamble)
    assert preamble.index(f"G92 Z{z:g}") < preamble.index("G28 X Y")
    assert f"G92 E{machine.position['E']:g}" in preamble
    assert preamble[-3:] == ["G90", "M82", f"G1 F{machine.feed_rate:g}"]


def test_resume_from_layer_starts_right_after_the_layer_change():
    lines = list(GcodeFile(CUBE).iter_commands())
    # The Z1.15 layer: ;LAYER_CHANGE / ;Z:1.15 / ;HEIGHT:0.2 / G1 Z1.15 F7800 at line 1247.
    change = next(line for line in lines if line.command == "G1 Z1.15 F7800")
    inside = next(line for line in lines if line.number > change.number + 40)
    plan = plan_resume(record_after(inside), CUBE, from_layer=True)
    assert plan.offset == change.end_offset
    assert plan.line == change.number + 1
    assert plan.z == pytest.approx(1.15)
    assert "G92 Z1.15" in plan.preamble


def test_a_different_file_or_no_z_yet_is_refused(tmp_path: Path):
    lines = list(GcodeFile(CUBE).iter_commands())
    with pytest.raises(ResumeError, match="not the same file"):
        plan_resume(record_after(lines[100]), GCODE_OTHER)
    early = tmp_path / "early.gcode"
    early.write_text("M104 S200\nG28\nM109 S200\nG1 X10 Y10\nG1 X20\n")
    first = next(iter(GcodeFile(early).iter_commands()))
    with pytest.raises(ResumeError, match="Z height"):
        plan_resume(record_after(first, early), early)


GCODE_OTHER = CUBE.parent / "cube_slic3r.gcode"
