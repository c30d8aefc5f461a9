"""Big G-code files made of real slicer output: the fixtures, one after another."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gcode"
SLICED = (
    "cube_prusa_marlin2.gcode",
    "tower_prusa_relE.gcode",
    "flower_prusa_limits.gcode",
    "cube_cura_ender3.gcode",
    "cube_slic3r.gcode",
)


def write_big_gcode(path: Path, size: int) -> int:
    """At least ``size`` bytes of the fixtures printed one after another (each whole); the
    size written."""
    written = 0
    with path.open("wb") as out:
        while written < size:
            for name in SLICED:
                data = (FIXTURES / name).read_bytes()
                out.write(data if data.endswith(b"\n") else data + b"\n")
                written += len(data) + (0 if data.endswith(b"\n") else 1)
                if written >= size:
                    break
    return written
