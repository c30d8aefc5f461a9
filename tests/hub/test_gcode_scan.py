"""The fleet queue's look at a G-code file: the extruded box and the slicer's comments.

Expected values were read off the files themselves (tests/fixtures/gcode/README.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hub.queue.gcode_scan import Box, GcodeFacts, parse_duration, scan_file, scan_stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"


def scan(text: str) -> GcodeFacts:
    return scan_stream(io.BytesIO(text.encode()))


def box_of(facts: GcodeFacts) -> tuple[float, ...]:
    assert facts.box is not None
    return tuple(round(v, 3) for v in facts.box.to_json().values())


CUBE = (83.375, 116.625, 83.375, 116.625, 0.35)
TOWER = (78.376, 121.624, 78.377, 121.624, 0.35, 60.1)
FLOWER = (75.998, 124.002, 76.002, 124.002, 0.3, 15.1)


@pytest.mark.parametrize(
    ("name", "material", "nozzle", "seconds", "box"),
    [
        # PrusaSlicer: object centred on a 200x200 bed, first layer at Z .35.
        ("cube_prusa_marlin2.gcode", "PLA", 0.4, 30 * 60 + 42, (*CUBE, 19.95)),
        # Relative E (M83 + G92 E0 every layer): same rules, taller part.
        ("tower_prusa_relE.gcode", "PLA", 0.4, 40 * 60 + 5, TOWER),
        ("flower_prusa_limits.gcode", "PLA", 0.4, 28 * 60 + 19, FLOWER),
        # Slic3r 1.3 names the nozzle (0.5 here) but no filament type and no time.
        ("cube_slic3r.gcode", None, 0.5, None, (*CUBE, 20.15)),
        # Cura: ;TIME:1494; the Ender 3 start G-code draws its purge lines at X 0.1-0.4,
        # Y 20-200, which are extruded and so belong to the box.
        ("cube_cura_ender3.gcode", None, None, 1494, (0.1, 145.3, 20.0, 200.0, 0.3, 20.1)),
    ],
)  # fmt: skip
def test_real_slicer_files(
    name: str,
    material: str | None,
    nozzle: float | None,
    seconds: float | None,
    box: tuple[float, ...],
) -> None:
    facts = scan_file(FIXTURES / name)
    assert facts.material == material
    assert facts.nozzle == nozzle
    assert facts.estimated_seconds == seconds
    assert box_of(facts) == box


def test_travel_retraction_and_priming_in_place_do_not_count() -> None:
    facts = scan(
        "G90\nM82\nG28\nG1 Z5 F5000\n"
        "G1 X100 Y100 E-1\n"  # travel while retracting
        "G1 E0\n"  # unretract in place
        "G1 X10 Y10 Z0.2\n"  # travel
        "G1 X20 Y10 E1\n"  # extrude 10..20 at Y10
        "G1 X200 Y200\n"  # travel far away
        "G0 X250 Y250 Z30\n"
    )
    assert box_of(facts) == (10, 20, 10, 10, 0.2, 0.2)


def test_relative_positioning_and_relative_extrusion() -> None:
    facts = scan(
        "G28\nG1 X50 Y50 Z0.3\nG91\n"
        "G1 X10 E1\n"  # 50 → 60, relative E
        "G1 Y5 E1\n"  # Y 50 → 55
        "G1 Z1\n"  # travel up
        "G90\nM83\nG1 X40 Y40 E0.5\n"  # absolute XYZ, relative E: extrudes
        "G1 X30 Y30 E-0.5\n"  # retract: no
    )
    assert box_of(facts) == (40, 60, 40, 55, 0.3, 1.3)


def test_set_position_and_homing() -> None:
    facts = scan(
        "G1 X10 Y10 Z1\n"
        "G92 X0 Y0\n"  # the current point is now called 0,0 (the head did not move)
        "G1 X5 Y5 E1\n"  # extrudes from 0,0 to 5,5 in the new coordinates
        "G92 E0\n"
        "G28 X\n"  # only X homes
        "G1 Y20 E2\n"  # from X0 Y5 to X0 Y20
    )
    assert box_of(facts) == (0, 5, 0, 20, 1, 1)


def test_absolute_e_after_g92_e0_counts_again() -> None:
    facts = scan("M82\nG1 X0 Y0 Z.2\nG1 X10 E5\nG92 E0\nG1 X20 E1\n")
    assert box_of(facts) == (0, 20, 0, 0, 0.2, 0.2)


def test_arc_counts_the_circle_it_passes() -> None:
    # Counter-clockwise half circle from (10,0) around (0,0) to (-10,0) passes (0,10).
    facts = scan("G1 X10 Y0 Z.2\nG3 X-10 Y0 I-10 J0 E1\n")
    assert box_of(facts) == (-10, 10, 0, 10, 0.2, 0.2)
    # Clockwise the other way round: through (0,-10).
    facts = scan("G1 X10 Y0 Z.2\nG2 X-10 Y0 I-10 J0 E1\n")
    assert box_of(facts) == (-10, 10, -10, 0, 0.2, 0.2)


def test_inches_words_run_together_and_line_numbers() -> None:
    facts = scan("G20\nG1X1Y1Z0.01\nG1 X2 E0.1\nG21\nN5 G1 X100 Y30 E5*56\n")
    assert box_of(facts) == (25.4, 100, 25.4, 30, 0.254, 0.254)


def test_no_extrusion_no_box() -> None:
    facts = scan("; only travel\nG28\nG1 X10 Y10\nM104 S0\n")
    assert facts.box is None
    assert facts.to_json()["box"] is None


@pytest.mark.parametrize(
    ("header", "material", "nozzle", "seconds"),
    [
        # OrcaSlicer / PrusaSlicer, several extruders: the first one's.
        ("; filament_type = PETG;PLA\n; nozzle_diameter = 0.6,0.4\n"
         "; estimated printing time (normal mode) = 1d 2h 3m 4s\n", "PETG", 0.6, 93784),
        ("; total estimated time: 1h 5m 2s\n; filament_type = asa\n", "ASA", None, 3902),
        # Cura's Griffin header and a ;MATERIAL: line a Cura user adds to the start G-code.
        (";FLAVOR:Griffin\n;PRINT.TIME:600\n;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:0.8\n"
         ";MATERIAL:TPU\n", "TPU", 0.8, 600),
        # Nonsense values are ignored, not guessed.
        ("; nozzle_diameter = wide\n;TIME:soon\n; filament_type = \n", None, None, None),
    ],
)  # fmt: skip
def test_slicer_comments(
    header: str, material: str | None, nozzle: float | None, seconds: float | None
) -> None:
    facts = scan(header + "G1 X1 Y1 Z.2\nG1 X2 E1\n")
    assert (facts.material, facts.nozzle, facts.estimated_seconds) == (material, nozzle, seconds)


def test_durations() -> None:
    assert parse_duration("30m 42s") == 1842
    assert parse_duration("2h") == 7200
    assert parse_duration("1494") == 1494
    assert parse_duration("later") is None
    assert parse_duration("-5") is None


@pytest.mark.timeout(600)  # a deadline for a busy machine; how fast is not asserted here
def test_a_large_file_is_scanned_whole(tmp_path: Path) -> None:
    """40 MB (about 1.5 million lines of real slicer output): every line is read, the box is
    the part's and the slicer's comments are found."""
    source = (FIXTURES / "tower_prusa_relE.gcode").read_bytes()
    big = tmp_path / "big.gcode"
    with big.open("wb") as out:
        for _ in range(27):
            out.write(source)
    facts = scan_file(big)
    assert facts.lines == 27 * 56011
    assert isinstance(facts.box, Box)
    assert box_of(facts)[:4] == (78.376, 121.624, 78.377, 121.624)
    assert (facts.material, facts.nozzle) == ("PLA", 0.4)


# What each slicer wrote as the file's filament (mm): the scan's net extrusion is within
# 1.2 % (priming and wipes the slicer leaves out of its own figure make the difference).
SLICER_FILAMENT = {
    "cube_prusa_marlin2.gcode": 1682.58,  # "; filament used [mm] = 1682.58"
    "tower_prusa_relE.gcode": 1933.93,  # relative E, "G92 E0" every layer
    "cube_slic3r.gcode": 732.2,  # "; filament used = 732.2mm (5.2cm3)"
    "cube_cura_ender3.gcode": 1828.48,  # ";Filament used: 1.82848m"
}


@pytest.mark.parametrize(("name", "written"), sorted(SLICER_FILAMENT.items()))
def test_filament_is_what_the_slicer_wrote_within_a_percent(name: str, written: float) -> None:
    facts = scan_file(FIXTURES / name)
    assert facts.filament_mm is not None
    assert abs(facts.filament_mm - written) / written < 0.012, facts.filament_mm


def test_filament_counts_retractions_back_out_and_not_g92_resets() -> None:
    # 5 mm pushed, 1 retracted and pushed again, reset, 2 more: 7 mm net.
    facts = scan("M82\nG1 X0 Y0 Z.2\nG1 X10 E5\nG1 E4\nG1 E5\nG92 E0\nG1 X20 E2\n")
    assert facts.filament_mm == pytest.approx(7.0)
    relative = scan("M83\nG1 X0 Y0 Z.2\nG1 X10 E5\nG1 E-1\nG1 E1\nG1 X20 E2\n")
    assert relative.filament_mm == pytest.approx(7.0)
    assert scan("G1 X10 Y10\n").filament_mm is None
