"""What a file was sliced for — its material and nozzle — as the slicer wrote it, read from
the file's head and tail (instance/gcode_file.py ``head_and_tail``). The hub's dispatch check
compares them with the printer's profile and its loaded spool before a start.

The same comments the hub's queue reads (hub/queue/gcode_scan.py; the two share the rules,
not code): ``; filament_type = PETG`` and ``; nozzle_diameter = 0.4`` (PrusaSlicer,
OrcaSlicer, SuperSlicer; the first extruder's of ``PLA;PETG`` / ``0.4,0.6``), ``;MATERIAL:``,
``;FILAMENT_TYPE:``, ``;EXTRUDER_TRAIN.0.MATERIAL.TYPE:``, ``;NOZZLE_DIAMETER:`` and
``;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:`` (Cura and its followers). The last one written wins
(a footer over a header placeholder).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from instance.gcode_file import head_and_tail

# Within one line: [ \t], never \s (which would reach into the next line).
_MATERIAL = re.compile(
    r"^;[ \t]*(?:filament_type[ \t]*=|MATERIAL:|FILAMENT_TYPE:|EXTRUDER_TRAIN\.0\.MATERIAL\.TYPE:)"
    r"[ \t]*(.*?)[ \t]*$",
    re.M,
)
_NOZZLE = re.compile(
    r"^;[ \t]*(?:nozzle_diameter[ \t]*=|NOZZLE_DIAMETER:|EXTRUDER_TRAIN\.0\.NOZZLE\.DIAMETER:)"
    r"[ \t]*(.*?)[ \t]*$",
    re.M,
)


@dataclass(frozen=True, slots=True)
class SlicedFor:
    # Upper case as the slicer names it ("PLA"); None when the file does not say.
    material: str | None = None
    # Millimetres; None when the file does not say.
    nozzle: float | None = None


def _first(value: str) -> str:
    """The first extruder's entry of a per-extruder list ("PLA;PETG", "0.4,0.6")."""
    return re.split(r"[;,]", value, maxsplit=1)[0].strip().strip('"')


def parse_sliced_for(text: str) -> SlicedFor:
    materials = [m for m in _MATERIAL.findall(text) if m]
    nozzles = [n for n in _NOZZLE.findall(text) if n]
    material = _first(materials[-1]).upper() if materials else None
    nozzle: float | None = None
    if nozzles:
        try:
            nozzle = float(_first(nozzles[-1]))
        except ValueError:
            nozzle = None
        if nozzle is not None and not 0 < nozzle < 10:
            nozzle = None
    return SlicedFor(material or None, nozzle)


def read_sliced_for(path: str | os.PathLike[str]) -> SlicedFor:
    return parse_sliced_for(head_and_tail(path))
