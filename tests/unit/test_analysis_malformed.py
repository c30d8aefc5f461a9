"""Files that are not what they should be: never a crash, a clear error only for non-G-code."""

from __future__ import annotations

import math
import os
import random
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instance.analysis import AnalysisError, analyse_file
from tests.unit.test_analysis_support import GCODE

CUBE = GCODE / "cube_slic3r.gcode"


@pytest.fixture(params=["c", "python"])
def kernel(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def finite(values: list[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def test_binary_file_is_refused(tmp_path: Path, kernel: str) -> None:
    path = tmp_path / "photo.gcode"
    path.write_bytes(random.Random(1).randbytes(200_000))
    with pytest.raises(AnalysisError, match="binary"):
        analyse_file(path, kernel=kernel)


def test_prusa_binary_gcode_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "part.bgcode"
    path.write_bytes(b"GCDE\x01\x00\x00\x00\x01\x00" + bytes(100))
    with pytest.raises(AnalysisError, match="bgcode"):
        analyse_file(path)


def test_prose_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.gcode"
    path.write_text("Dear operator,\nplease print this.\nThanks!\n" * 50)
    with pytest.raises(AnalysisError, match="no G-code command"):
        analyse_file(path)


def test_empty_and_comment_only_files(tmp_path: Path, kernel: str) -> None:
    empty = tmp_path / "empty.gcode"
    empty.write_bytes(b"")
    for path in (empty, tmp_path / "c.gcode"):
        if path != empty:
            path.write_text("; nothing to print\n;\n")
        a = analyse_file(path, kernel=kernel)
        assert a.computed_time_s == 0 and a.filament_length_mm == 0 and a.layer_count == 0
        assert a.to_octoprint()["dimensions"] == {"width": 0, "depth": 0, "height": 0}
    assert analyse_file(empty).line_count == 0


def test_garbage_lines_are_ignored(tmp_path: Path, kernel: str) -> None:
    rng = random.Random(7)
    junk = [b"%%%", b"G1 X", b"M", b"G1 Xfoo Yba", b"\xff\xfe\xfd", b"\x1b[0m", b"X1.2.3"]
    lines = CUBE.read_bytes().split(b"\n")
    mixed = []
    for line in lines:
        mixed.append(line)
        if rng.random() < 0.05:
            mixed.append(rng.choice(junk))
    path = tmp_path / "mixed.gcode"
    path.write_bytes(b"\n".join(mixed))
    a = analyse_file(path, kernel=kernel)
    clean = analyse_file(CUBE, kernel=kernel)
    # "G1 X" and friends are moves to where the head already is: nothing changes.
    assert a.computed_filament_length_mm == pytest.approx(clean.computed_filament_length_mm)
    assert a.layer_count == clean.layer_count
    assert a.computed_time_s == pytest.approx(clean.computed_time_s, rel=0.01)


def test_absurd_numbers(tmp_path: Path, kernel: str) -> None:
    program = (
        "G1 X1e308 Y-1e308 E1e308 F1e308\nG1 Xinf Ynan Enan\nG1 X1e9 Y1e9 E1e9 F1\n"
        "G1 F0 X5\nG1 F-5 X6\nG2 X0 Y0 I999999999 J0 E1\nG3 X1 Y1 R0.0000001\n"
        "M204 P0 T0 R0\nM201 X0 Y0\nM203 X0\nG1 X10 Y10 E1 F1200\nG4 P-5\nT123456789\n"
        "G1 X99999999999999999999 E5\n"
    )
    path = tmp_path / "absurd.gcode"
    path.write_text(program)
    a = analyse_file(path, kernel=kernel)
    assert finite([a.computed_time_s, a.filament_length_mm, *a.printing_area.values()])
    assert a.dwell_time_s == 0


def test_a_line_without_end(tmp_path: Path, kernel: str) -> None:
    path = tmp_path / "long.gcode"
    path.write_bytes(b"G1 X10 E1 F600\n" + b"G1 X20 E2 " + b" " * 6_000_000)
    a = analyse_file(path, kernel=kernel)
    assert a.line_count == 2
    assert a.computed_filament_length_mm == pytest.approx(2.0)


def test_memory_stays_flat_on_a_big_file(tmp_path: Path) -> None:
    # ~70 MB: the fixture 200 times over. Python-side allocations stay a few MB
    # (the file is streamed; the C kernel holds only its planner window).
    data = CUBE.read_bytes()
    path = tmp_path / "big.gcode"
    with path.open("wb") as out:
        for _ in range(200):
            out.write(data)
    assert os.path.getsize(path) > 60e6
    tracemalloc.start()
    try:
        a = analyse_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert a.line_count == 200 * data.count(b"\n")
    assert peak < 16e6


_GCODE_ISH = st.text(
    alphabet=st.sampled_from(list("GMTNXYZEFIJRPS0123456789.-+ ;*eE\t\rx#")), max_size=40
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_GCODE_ISH, max_size=60))
def test_random_gcode_ish_lines_never_crash_and_kernels_agree(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.gcode"
        path.write_text("\n".join(lines))
        try:
            c = analyse_file(path, kernel="c")
        except AnalysisError:
            with pytest.raises(AnalysisError):
                analyse_file(path, kernel="python")
            return
        py = analyse_file(path, kernel="python")
    assert c.computed_time_s == pytest.approx(py.computed_time_s, rel=1e-9, abs=1e-9)
    assert c.filament_per_tool_mm == pytest.approx(py.filament_per_tool_mm, rel=1e-9, abs=1e-9)
    assert c.layer_heights == py.layer_heights
    assert finite([c.computed_time_s, *c.printing_area.values(), *c.dimensions.values()])
