"""What the move model makes of small hand-written programs: time, filament, layers, extents."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from instance.analysis import GcodeAnalysis, MachineLimits, analyse_file

JD = MachineLimits(junction_deviation=0.05, acceleration_print=1000, acceleration_travel=1000)


@pytest.fixture(params=["c", "python"])
def kernel(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(
    tmp_path: Path, text: str, kernel: str, limits: MachineLimits | None = None
) -> GcodeAnalysis:
    path = tmp_path / "t.gcode"
    path.write_text(text)
    return analyse_file(path, limits, kernel=kernel)


def test_one_long_move_is_a_trapezoid(tmp_path: Path, kernel: str) -> None:
    # 100 mm at 100 mm/s, 1000 mm/s²: 0.1 s up, 0.1 s down, 90 mm cruising.
    a = run(tmp_path, "G1 X100 F6000\n", kernel, JD)
    assert a.computed_time_s == pytest.approx(1.1, rel=1e-3)


def test_short_moves_never_reach_their_feedrate(tmp_path: Path, kernel: str) -> None:
    zigzag = "G1 F6000\n" + "".join(f"G1 X{i % 2} Y{i * 0.5:.1f}\n" for i in range(200))
    a = run(tmp_path, zigzag, kernel, JD)
    length = sum(math.hypot(1, 0.5) for _ in range(199)) + math.hypot(0, 0)
    assert a.computed_time_s > 2 * length / 100


def test_acceleration_from_the_file_wins(tmp_path: Path, kernel: str) -> None:
    moves = "".join(f"G1 X{(i % 2) * 10} Y{i} F6000\n" for i in range(50))
    fast = run(tmp_path, "M204 P5000 T5000\n" + moves, kernel)
    slow = run(tmp_path, "M204 P300 T300\n" + moves, kernel)
    assert slow.computed_time_s > 1.5 * fast.computed_time_s


def test_feedrate_is_capped_per_axis(tmp_path: Path, kernel: str) -> None:
    # M203 Z2: a 10 mm Z move at F6000 takes at least 5 s.
    a = run(tmp_path, "M203 Z2\nG1 Z10 F6000\n", kernel)
    assert a.computed_time_s >= 5.0


def test_dwells_and_heat_waits_are_not_in_the_time(tmp_path: Path, kernel: str) -> None:
    base = run(tmp_path, "G1 X100 F6000\nG1 X0\n", kernel, JD)
    waited = run(tmp_path, "G1 X100 F6000\nG4 S10\nM109 S200\nG4 P500\nG1 X0\n", kernel, JD)
    assert waited.dwell_time_s == pytest.approx(10.5)
    # The printer stops at the dwell, so the move before it decelerates fully; no more.
    assert waited.computed_time_s == pytest.approx(base.computed_time_s, abs=0.05)


def test_filament_ignores_retracts_and_resets(tmp_path: Path, kernel: str) -> None:
    program = (
        "M82\nG92 E0\nG1 X10 E5 F1200\nG1 E3\nG1 X20\nG1 E5\nG1 X30 E10\n"  # 10 used
        "G92 E0\nG1 X40 E4\nG1 E-1\n"  # +4, retract at the end not used
    )
    a = run(tmp_path, program, kernel)
    assert a.computed_filament_length_mm == pytest.approx(14.0)
    relative = "M83\nG1 X10 E5 F1200\nG1 E-2\nG1 X20\nG1 E2\nG1 X30 E5\nG1 E-1\n"
    b = run(tmp_path, relative, kernel)
    assert b.computed_filament_length_mm == pytest.approx(10.0)
    assert b.filament_volume_cm3 == pytest.approx(10.0 * math.pi * 0.875**2 / 1000)
    assert b.filament_weight_g == pytest.approx(b.filament_volume_cm3 * 1.24)


def test_layers_come_from_extruding_moves_only(tmp_path: Path, kernel: str) -> None:
    program = "G1 Z5 F3000\nG1 X50 Y50\nG1 Z0.3\nM83\n"
    for z in (0.3, 0.5, 0.7):
        program += f"G1 Z{z}\nG1 X60 E1\nG1 Z{z + 0.4}\nG1 X50\nG1 Z{z}\nG1 Y60 E1\n"
    a = run(tmp_path, program, kernel)
    assert a.layer_count == 3
    assert a.layer_heights == pytest.approx([0.3, 0.2, 0.2])
    assert a.first_layer_height == pytest.approx(0.3)
    assert a.layer_height == pytest.approx(0.2)
    # The travel to (50, 50) at Z5 is not part of the print.
    assert a.printing_area == pytest.approx(
        {"min_x": 50, "max_x": 60, "min_y": 50, "max_y": 60, "min_z": 0.3, "max_z": 0.7}
    )
    assert a.dimensions == pytest.approx({"width": 10, "depth": 10, "height": 0.7})


def test_arcs_are_followed(tmp_path: Path, kernel: str) -> None:
    # A full circle of radius 10 around (50, 50), extruding, at 50 mm/s, in chords
    # of at most 1 mm (as Marlin cuts it): extremes within a chord's sagitta.
    a = run(tmp_path, "G1 X60 Y50 F3000\nM83\nG2 X60 Y50 I-10 J0 E5 F3000\n", kernel, JD)
    assert a.printing_area["min_x"] == pytest.approx(40, abs=0.05)
    assert a.printing_area["max_y"] == pytest.approx(60, abs=0.05)
    circle = 2 * math.pi * 10 / 50
    travel = a.computed_time_s - run(tmp_path, "G1 X60 Y50 F3000\n", kernel, JD).computed_time_s
    assert circle < travel < circle * 1.2
    radius = run(tmp_path, "G1 X60 Y50 F3000\nM83\nG3 X40 Y50 R10 E5\n", kernel, JD)
    assert radius.printing_area["max_y"] == pytest.approx(60, abs=0.05)  # CCW: over the top


def test_inches_and_relative_moves(tmp_path: Path, kernel: str) -> None:
    a = run(tmp_path, "G20\nM83\nG1 X1 E0.1 F60\nG91\nG1 X1 E0.1\n", kernel)
    assert a.printing_area["max_x"] == pytest.approx(50.8)
    assert a.computed_filament_length_mm == pytest.approx(5.08)


def test_tools_are_counted_apart(tmp_path: Path, kernel: str) -> None:
    a = run(tmp_path, "M83\nT0\nG1 X10 E3\nT1\nG1 X20 E2\nT0\nG1 X30 E1\n", kernel)
    assert a.filament_per_tool_mm == pytest.approx([4.0, 2.0])
    assert a.to_octoprint()["filament"]["tool1"]["length"] == pytest.approx(2.0)


def test_junction_deviation_and_jerk_both_plan_corners(tmp_path: Path, kernel: str) -> None:
    square = "G1 F6000\n" + "G1 X20\nG1 Y20\nG1 X0\nG1 Y0\n" * 10
    tight = run(tmp_path, "M205 J0.005\n" + square, kernel)
    loose = run(tmp_path, "M205 J0.2\n" + square, kernel)
    jerky = run(tmp_path, "M205 X20 Y20\n" + square, kernel)
    assert tight.computed_time_s > loose.computed_time_s
    assert jerky.computed_time_s < tight.computed_time_s
