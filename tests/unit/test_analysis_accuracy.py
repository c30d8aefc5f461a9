"""Our figures against each slicer's own, with its comments and with every comment stripped."""

from __future__ import annotations

from pathlib import Path

import pytest

from instance.analysis import analyse_file
from tests.unit.test_analysis_support import (
    GCODE,
    printer_profile,
    slicer_figures,
    strip_comments,
)

FIXTURES = sorted(GCODE.glob("*.gcode"))
PRUSA = [f for f in FIXTURES if slicer_figures(f).prusa]


def test_the_fixtures_are_there() -> None:
    names = {f.name for f in FIXTURES}
    assert {"cube_prusa_marlin2.gcode", "tower_prusa_relE.gcode"} <= names
    assert {"cube_cura_ender3.gcode", "cube_slic3r.gcode", "flower_prusa_limits.gcode"} <= names


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_with_metadata_reports_the_slicers_figures(path: Path) -> None:
    figures = slicer_figures(path)
    analysis = analyse_file(path)
    if figures.time_s is not None:
        assert analysis.estimated_time_s is not None
        assert abs(analysis.estimated_time_s - figures.time_s) <= 0.02 * figures.time_s
    else:  # Slic3r 1.3 gives no estimate: ours is reported
        assert analysis.estimated_time_s == analysis.computed_time_s > 0
    assert abs(analysis.filament_length_mm - figures.filament_mm) <= 0.01 * figures.filament_mm
    octo = analysis.to_octoprint()
    assert octo["filament"]["tool0"]["length"] == pytest.approx(figures.filament_mm, rel=0.01)


@pytest.mark.parametrize("path", PRUSA, ids=lambda p: p.stem)
def test_with_metadata_our_own_time_matches_prusaslicer(path: Path) -> None:
    # The limits come from the config block PrusaSlicer appended to the file.
    figures = slicer_figures(path)
    assert figures.time_s is not None
    analysis = analyse_file(path)
    assert analysis.limits_source in ("slicer config", "file (over slicer config)")
    assert abs(analysis.computed_time_s - figures.time_s) <= 0.05 * figures.time_s


@pytest.mark.parametrize("path", PRUSA, ids=lambda p: p.stem)
def test_stripped_time_within_5_percent_of_prusaslicer(path: Path, tmp_path: Path) -> None:
    figures = slicer_figures(path)
    assert figures.time_s is not None
    profile = printer_profile(path)
    assert profile is not None
    stripped = strip_comments(path, tmp_path / path.name)
    assert b";" not in stripped.read_bytes()
    analysis = analyse_file(stripped, profile)
    assert analysis.slicer is None and analysis.slicer_time_s is None
    assert analysis.limits_source in ("profile", "file (over profile)")
    assert analysis.estimated_time_s == analysis.computed_time_s
    assert abs(analysis.computed_time_s - figures.time_s) <= 0.05 * figures.time_s


def test_stripped_file_with_its_own_limits_needs_no_profile(tmp_path: Path) -> None:
    # PrusaSlicer wrote M201/M203/M204/M205 into this one: they are all we need.
    path = GCODE / "flower_prusa_limits.gcode"
    figures = slicer_figures(path)
    assert figures.time_s is not None
    analysis = analyse_file(strip_comments(path, tmp_path / path.name))
    assert analysis.limits_source == "file (over defaults)"
    assert abs(analysis.computed_time_s - figures.time_s) <= 0.05 * figures.time_s


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_stripped_filament_within_1_percent(path: Path, tmp_path: Path) -> None:
    figures = slicer_figures(path)
    source = path
    if "Cura" in path.read_text()[:400]:
        # Cura counts the sliced layers only, not the purge lines of the
        # printer's start G-code: compare from ";LAYER:0" on.
        text = path.read_text()
        source = tmp_path / "layers_only.gcode"
        source.write_text(text[text.index(";LAYER:0") :])
    stripped = strip_comments(source, tmp_path / path.name)
    analysis = analyse_file(stripped)
    assert abs(analysis.filament_length_mm - figures.filament_mm) <= 0.01 * figures.filament_mm


def test_cura_start_gcode_purge_is_counted_as_used(tmp_path: Path) -> None:
    # What the printer really pushes includes the purge lines, so our own figure
    # for the whole Cura file is above Cura's, by about the 30 mm it primes.
    path = GCODE / "cube_cura_ender3.gcode"
    analysis = analyse_file(strip_comments(path, tmp_path / "c.gcode"))
    extra = analysis.computed_filament_length_mm - slicer_figures(path).filament_mm
    assert 25 < extra < 35


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_stripped_file_keeps_geometry(path: Path, tmp_path: Path) -> None:
    full = analyse_file(path)
    bare = analyse_file(strip_comments(path, tmp_path / path.name))
    assert bare.layer_count == full.layer_count
    assert bare.printing_area == full.printing_area
    assert bare.computed_filament_length_mm == pytest.approx(full.computed_filament_length_mm)
