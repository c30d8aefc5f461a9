"""The compiled kernel and the portable one give the same figures."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from instance.analysis import GcodeAnalysis, MachineLimits, analyse_file, ckernel
from instance.analysis.ckernel import CKernel, compiled_available, library_path, load_library
from instance.analysis.pykernel import PyKernel
from tests.unit.test_analysis_support import GCODE, strip_comments


def same(a: GcodeAnalysis, b: GcodeAnalysis) -> None:
    assert a.kernel == "c" and b.kernel == "python"
    assert a.computed_time_s == pytest.approx(b.computed_time_s, rel=1e-12)
    assert a.filament_per_tool_mm == pytest.approx(b.filament_per_tool_mm, rel=1e-12)
    assert a.layer_heights == b.layer_heights
    assert a.printing_area == b.printing_area
    assert a.move_count == b.move_count
    assert a.dwell_time_s == pytest.approx(b.dwell_time_s)
    assert a.line_count == b.line_count


def test_the_compiled_kernel_was_built() -> None:
    # Built by `pip install -e .` (setuptools ext-modules); this machine has a compiler.
    assert library_path() is not None
    assert compiled_available()
    assert analyse_file(GCODE / "cube_slic3r.gcode").kernel == "c"


def test_without_the_compiled_kernel_the_portable_one_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What an install without a C compiler looks like: no library next to the module.
    monkeypatch.setattr(ckernel, "_loaded", True)
    monkeypatch.setattr(ckernel, "_lib", None)
    assert not compiled_available()
    assert analyse_file(GCODE / "cube_slic3r.gcode").kernel == "python"


def test_the_c_source_compiles_strictly_and_matches_the_built_one(tmp_path: Path) -> None:
    # A fresh, warning-free build of _kernel.c gives what the installed library gives
    # (a stale build after an edit of the C file would fail here).
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None
    source = Path(ckernel.__file__).with_name("_kernel.c")
    built = tmp_path / "fresh_kernel.so"
    subprocess.run(
        [
            compiler,
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-shared",
            "-fPIC",
            "-o",
            str(built),
            str(source),
            "-lm",
        ],
        check=True,
    )
    fresh = load_library(built)
    assert fresh is not None
    data = (GCODE / "tower_prusa_relE.gcode").read_bytes()
    limits = MachineLimits().as_vector()
    results = []
    for kernel in (CKernel(limits, fresh), CKernel(limits), PyKernel(limits)):
        kernel.feed(data)
        results.append(kernel.finish())
    assert results[0] == results[1] == results[2]


def test_forcing_the_portable_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FABFLEET_ANALYSIS_KERNEL", "python")
    assert analyse_file(GCODE / "cube_slic3r.gcode").kernel == "python"


@pytest.mark.parametrize("path", sorted(GCODE.glob("*.gcode")), ids=lambda p: p.stem)
def test_kernels_agree_on_fixtures(path: Path, tmp_path: Path) -> None:
    same(analyse_file(path, kernel="c"), analyse_file(path, kernel="python"))
    bare = strip_comments(path, tmp_path / "bare.gcode")
    jd = MachineLimits(junction_deviation=0.02)
    same(analyse_file(bare, jd, kernel="c"), analyse_file(bare, jd, kernel="python"))


ODD_LINES = [
    "N10 G1 X10 Y10 E1 F1200*57",
    "g1 x20 y5 e2.5",
    "G1X30Y10E3F600",
    "G1 X1E2",
    "G1 X.5 Y+.25 E-0.5",
    "G1 X5. Y6.",
    "G1 X- Y",
    "G1 X1e400 Y2",
    "G1 XNAN YINF",
    "G28 XINFINITY",
    "G1 X1_0 Y2",
    "G1 X 10",
    "G1.5 X10",
    "G0001 X12 Y12",
    "M83",
    "M82",
    "G91",
    "G1 X1 Y1 E0.1",
    "G90",
    "G92 E0 X0",
    "G28 X",
    "G28",
    "G20",
    "G1 X1 Y1 E0.01",
    "G21",
    "G2 X20 Y20 R5 E1",
    "G3 X10 Y10 R-7 E1",
    "G2 X20 Y20 R1 E1",
    "G3 X10 Y20 I5 J0 E1",
    "G2 X10 Y20 I0 J0 E1",
    "G2 X0 Y0 I1e9 J0 E1",
    "M201 X500 Y500 Z50 E5000",
    "M203 X100 Y100 Z5 E30",
    "M204 S800",
    "M204 P1000 R2000 T1500",
    "M205 X8 Y8 Z0.4 E5 S0 T0",
    "M205 J0.02",
    "M205 J0",
    "G4 P250",
    "G4 S1",
    "M400",
    "T1",
    "T99",
    "T0",
    "   ",
    "; comment only",
    "*12",
    "\x00\x01garbage\x7f",
    "ÿþ G1 X3",
    "G1 X9999999999 Y1",
    "G1 F-100 X3",
    "G1 F0 X4 E1",
    "G1 F99999999 X5",
    "G1 Z0.2 E0",
    "G1 Z0.4 X1 Y2 E3",
]


def test_kernels_agree_on_odd_lines(tmp_path: Path) -> None:
    rng = random.Random(4)
    for round_ in range(10):
        lines = [rng.choice(ODD_LINES) for _ in range(300)]
        path = tmp_path / f"odd{round_}.gcode"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        same(analyse_file(path, kernel="c"), analyse_file(path, kernel="python"))
