"""The files the soak prints: real slicer files cut after their first layers, so a job takes
about a minute of moves at time factor 1 (the simulator times every move as the printer would).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from instance.gcode_file import GcodeFile

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gcode"
# (file, layers kept): about 40-70 s of moves each at time factor 1 (docs/soak.md has the
# figures); heat-ups come on top (the simulator heats at a real printer's rate).
CUTS = (
    ("cube_prusa_marlin2.gcode", 1),
    ("cube_slic3r.gcode", 2),
    ("tower_prusa_relE.gcode", 1),
)
_Z = re.compile(r"\bZ(-?[0-9.]+)")
_E = re.compile(r"\bE(-?[0-9.]+)")
_MOVE = re.compile(r"^G[01]\b")


@dataclass(frozen=True)
class JobFile:
    """One file the queue gets: its name, bytes and the commands a printer must execute."""

    name: str
    source: str
    layers: int
    data: bytes

    def commands(self, directory: Path) -> list[str]:
        """The file's commands as the print server sends them (comments and blanks dropped)."""
        path = directory / self.name
        path.write_bytes(self.data)
        return [line.command for line in GcodeFile(path).iter_commands()]


def first_layers(text: str, layers: int) -> str:
    """The file up to the first extruding move of layer ``layers + 1`` (a prefix of it: the
    start sequence and ``layers`` whole layers, nothing rewritten)."""
    z = 0.0
    top: float | None = None
    seen = 0
    relative_e = False
    last_e = 0.0
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        code = line.split(";", 1)[0].strip()
        if code.startswith("M83"):
            relative_e = True
        elif code.startswith("M82"):
            relative_e = False
        elif code.startswith("G92") and (found := _E.search(code)):
            last_e = float(found.group(1))
        if _MOVE.match(code):
            if found := _Z.search(code):
                z = float(found.group(1))
            if found := _E.search(code):
                e = float(found.group(1))
                extrudes = e > 0 if relative_e else e > last_e
                last_e = last_e if relative_e else e
                if extrudes and (top is None or z > top + 1e-6):
                    top, seen = z, seen + 1
                    if seen > layers:
                        break
        kept.append(line)
    return "".join(kept)


def job_files() -> list[JobFile]:
    """Every file of ``CUTS``, cut, named after its source and the layers kept."""
    made = []
    for source, layers in CUTS:
        text = (FIXTURES / source).read_text(encoding="utf-8")
        name = f"{Path(source).stem}-{layers}layers.gcode"
        made.append(JobFile(name, source, layers, first_layers(text, layers).encode()))
    return made
