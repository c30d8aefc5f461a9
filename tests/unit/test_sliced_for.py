"""What a file was sliced for (instance/sliced_for.py): the real slicer files agree with what
the hub's queue reads from them (tests/hub/test_gcode_scan.py), and odd comments are safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from instance.sliced_for import SlicedFor, parse_sliced_for, read_sliced_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cube_prusa_marlin2.gcode", SlicedFor("PLA", 0.4)),
        ("tower_prusa_relE.gcode", SlicedFor("PLA", 0.4)),
        # Slic3r 1.3 names the nozzle but no filament type; bare CuraEngine names neither.
        ("cube_slic3r.gcode", SlicedFor(None, 0.5)),
        ("cube_cura_ender3.gcode", SlicedFor(None, None)),
    ],
)
def test_real_slicer_files(name: str, expected: SlicedFor) -> None:
    assert read_sliced_for(FIXTURES / name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("; filament_type = PETG;PLA\n; nozzle_diameter = 0.6,0.4\n", SlicedFor("PETG", 0.6)),
        (";MATERIAL:asa\n;NOZZLE_DIAMETER:0.4\n", SlicedFor("ASA", 0.4)),
        (
            ";EXTRUDER_TRAIN.0.MATERIAL.TYPE:TPU\n;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:0.8\n",
            SlicedFor("TPU", 0.8),
        ),
        # A header placeholder, then the real value in the footer: the footer wins.
        ("; filament_type = \n; filament_type = PLA\n", SlicedFor("PLA", None)),
        ("; nozzle_diameter = wide\n", SlicedFor(None, None)),
        ("; nozzle_diameter = 40\n", SlicedFor(None, None)),
        ("G1 X1 ; MATERIAL:PLA in a comment after a move\n", SlicedFor(None, None)),
    ],
)
def test_comments(text: str, expected: SlicedFor) -> None:
    assert parse_sliced_for(text) == expected
