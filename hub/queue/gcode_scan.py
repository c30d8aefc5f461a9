"""What the fleet queue needs to know about a G-code file before choosing a printer.

One streaming pass (constant memory, any size): the box the extruding moves fill,
and what the slicer wrote in its comments — material, nozzle diameter, estimated
time. Pure: no I/O but reading the file, no instance imports.

Positions follow the firmware's rules: ``G90``/``G91`` (absolute/relative XYZ,
and E unless ``M82``/``M83`` say otherwise), ``G92`` (set position), ``G28``
(homing: the homed axes go to 0), ``G20``/``G21`` (inches/mm). A move extrudes
when it moves X, Y or Z while E grows; travel, retraction and priming in place
do not count. Arcs (``G2``/``G3``) count with the points of the circle they pass.

Filament: the net length the extruder pushes (every E change of a move, retractions
back out, ``G92 E`` resets not counted), in millimetres of filament — what the
dispatch check compares with the loaded spool.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# A word: a letter and a number ("X12.5", "E-.4"), spaces allowed between them.
_COMMAND = re.compile(rb"[A-Za-z]\s*\d+(?:\.\d+)?")
_WORD = re.compile(rb"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
# "; key = value" (PrusaSlicer, OrcaSlicer, Slic3r, SuperSlicer).
_SETTING = re.compile(rb"^;\s*([a-z_ ()\[\]]+?)\s*=\s*(.*?)\s*$")
# ";KEY:value" (Cura, and anyone following its style).
_HEADER = re.compile(rb"^;\s*([A-Za-z_.0-9]+)\s*:\s*(.*?)\s*$")
# OrcaSlicer/Bambu: "; model printing time: 1h 2m; total estimated time: 1h 5m 2s".
_TOTAL_TIME = re.compile(rb"total estimated time:\s*([^;]+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")

MATERIAL_SETTINGS = frozenset({b"filament_type"})
NOZZLE_SETTINGS = frozenset({b"nozzle_diameter"})
TIME_SETTINGS = frozenset({b"estimated printing time (normal mode)", b"estimated printing time"})
MATERIAL_HEADERS = frozenset(
    {b"MATERIAL", b"FILAMENT_TYPE", b"EXTRUDER_TRAIN.0.MATERIAL.TYPE", b"MATERIAL.TYPE"}
)
NOZZLE_HEADERS = frozenset({b"NOZZLE_DIAMETER", b"EXTRUDER_TRAIN.0.NOZZLE.DIAMETER"})
TIME_HEADERS = frozenset({b"TIME", b"PRINT.TIME"})


@dataclass(frozen=True, slots=True)
class Box:
    """Millimetres, in the printer's coordinates."""

    min_x: float
    max_x: float
    min_y: float
    max_y: float
    min_z: float
    max_z: float

    def to_json(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 3) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class GcodeFacts:
    # None: nothing is extruded (or no move at all).
    box: Box | None = None
    # Upper case as the slicer names it ("PLA", "PETG"); None when the file does not say.
    material: str | None = None
    nozzle: float | None = None
    # The slicer's estimate, seconds.
    estimated_seconds: float | None = None
    lines: int = 0
    # Net filament pushed, mm; None when nothing is extruded.
    filament_mm: float | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "filament_mm": None if self.filament_mm is None else round(self.filament_mm, 1),
            "box": None if self.box is None else self.box.to_json(),
            "material": self.material,
            "nozzle": self.nozzle,
            "estimated_seconds": self.estimated_seconds,
        }


def parse_duration(text: str) -> float | None:
    """``30m 42s``, ``1d 2h 3m``, ``1494`` → seconds; None when it is not a duration."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts:
            return None
        scale = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
        seconds = sum(float(number) * scale[unit] for number, unit in parts)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _first(value: bytes) -> str:
    """The first extruder's value of a per-extruder list ("PLA;PETG", "0.4,0.6")."""
    text = value.decode("utf-8", "replace").strip().strip('"')
    for separator in (";", ","):
        text = text.split(separator, 1)[0]
    return text.strip().strip('"')


def _nozzle(value: bytes) -> float | None:
    try:
        nozzle = float(_first(value))
    except ValueError:
        return None
    return nozzle if 0 < nozzle < 10 else None


class _Scanner:
    def __init__(self) -> None:
        self.pos = [0.0, 0.0, 0.0]
        self.e = 0.0
        self.extruded = 0.0
        self.absolute = True
        self.absolute_e = True
        self.scale = 1.0
        self.box = [math.inf, -math.inf, math.inf, -math.inf, math.inf, -math.inf]
        self.material: str | None = None
        self.nozzle: float | None = None
        self.seconds: float | None = None
        self.lines = 0
        # The current position is already in the box (the last move extruded).
        self.joined = False

    def add(self, x: float, y: float, z: float) -> None:
        box = self.box
        if x < box[0]:
            box[0] = x
        if x > box[1]:
            box[1] = x
        if y < box[2]:
            box[2] = y
        if y > box[3]:
            box[3] = y
        if z < box[4]:
            box[4] = z
        if z > box[5]:
            box[5] = z

    def comment(self, line: bytes) -> None:
        if self.seconds is None and b"total estimated time:" in line:
            total = _TOTAL_TIME.search(line)
            if total is not None:
                self.seconds = parse_duration(total.group(1).decode("utf-8", "replace"))
                return
        found = _SETTING.match(line)
        if found is not None:
            key, value = found.group(1), found.group(2)
            if key in MATERIAL_SETTINGS and value:
                self.material = _first(value).upper() or self.material
            elif key in NOZZLE_SETTINGS:
                self.nozzle = _nozzle(value) or self.nozzle
            elif key in TIME_SETTINGS and self.seconds is None:
                self.seconds = parse_duration(value.decode("utf-8", "replace"))
            return
        found = _HEADER.match(line)
        if found is not None:
            key, value = found.group(1).upper(), found.group(2)
            if key in MATERIAL_HEADERS and value:
                self.material = _first(value).upper() or self.material
            elif key in NOZZLE_HEADERS:
                self.nozzle = _nozzle(value) or self.nozzle
            elif key in TIME_HEADERS and self.seconds is None:
                self.seconds = parse_duration(value.decode("utf-8", "replace"))

    def words(self, code: bytes) -> dict[bytes, float] | None:
        """The words after the command: ``code`` is what follows it."""
        words: dict[bytes, float] = {}
        for token in code.split():
            try:
                words[token[:1].upper()] = float(token[1:])
            except ValueError:
                break
        else:
            return words
        # Words run together ("G1X10Y5") or odd spacing: the slow, exact way.
        words = {}
        for letter, number in _WORD.findall(code):
            try:
                words[letter.upper()] = float(number)
            except ValueError:
                return None
        return words

    def move(self, code: bytes, arc: int) -> None:
        words = self.words(code)
        if words is None:
            return
        start = self.pos
        end = list(start)
        for index, axis in enumerate((b"X", b"Y", b"Z")):
            value = words.get(axis)
            if value is not None:
                value *= self.scale
                end[index] = value if self.absolute else start[index] + value
        extruding = False
        e = words.get(b"E")
        if e is not None:
            e *= self.scale
            if self.absolute_e:
                extruding = e > self.e + 1e-9
                self.extruded += e - self.e
                self.e = e
            else:
                extruding = e > 1e-9
                self.extruded += e
                self.e += e
        if extruding and (end != start or arc):
            self.add(*start)
            self.add(*end)
            if arc:
                self.arc_extremes(start, end, words, clockwise=arc == 2)
        self.joined = False
        self.pos = end

    def arc_extremes(
        self, start: list[float], end: list[float], words: dict[bytes, float], clockwise: bool
    ) -> None:
        """The circle's leftmost/rightmost/front/back points that the arc passes."""
        i, j = words.get(b"I", 0.0) * self.scale, words.get(b"J", 0.0) * self.scale
        if i == 0 and j == 0:
            return  # R-form arcs: the end points only (rare in slicer output)
        cx, cy = start[0] + i, start[1] + j
        radius = math.hypot(i, j)
        a0 = math.atan2(start[1] - cy, start[0] - cx)
        a1 = math.atan2(end[1] - cy, end[0] - cx)
        # Sweep counter-clockwise from `low` to `high`.
        low, high = (a1, a0) if clockwise else (a0, a1)
        while high <= low:
            high += 2 * math.pi
        z = max(start[2], end[2])
        for quarter in range(8):
            angle = quarter * math.pi / 2
            while angle < low:
                angle += 2 * math.pi
            if angle <= high:
                self.add(cx + radius * math.cos(angle), cy + radius * math.sin(angle), z)

    def home(self, code: bytes) -> None:
        named = [axis for axis, letter in enumerate(b"XYZ") if letter in code.upper()]
        for axis in named or (0, 1, 2):
            self.pos[axis] = 0.0
        self.joined = False

    def set_position(self, code: bytes) -> None:
        words = self.words(code) or {}
        for index, axis in enumerate((b"X", b"Y", b"Z")):
            if axis in words:
                self.pos[index] = words[axis] * self.scale
        if b"E" in words:
            self.e = words[b"E"] * self.scale
        elif not words:
            self.e = 0.0
        self.joined = False

    def line(self, raw: bytes) -> None:
        self.lines += 1
        if raw[:1] == b";":
            self.comment(raw.rstrip())
            return
        cut = raw.find(b";")
        code = (raw if cut < 0 else raw[:cut]).strip()
        if not code:
            return
        if code[:1] == b"N":  # line numbers ("N12 G1 X1*77")
            code = code.split(None, 1)[1] if b" " in code else b""
            code = code.split(b"*", 1)[0]
        found = _COMMAND.match(code)
        if found is None:
            return
        command = found.group().replace(b" ", b"").upper()
        code = code[found.end() :]
        if command in (b"G1", b"G0", b"G01", b"G00"):
            self.move(code, 0)
        elif command in (b"G2", b"G02"):
            self.move(code, 2)
        elif command in (b"G3", b"G03"):
            self.move(code, 3)
        elif command == b"G90":
            self.absolute = self.absolute_e = True
        elif command == b"G91":
            self.absolute = self.absolute_e = False
        elif command == b"M82":
            self.absolute_e = True
        elif command == b"M83":
            self.absolute_e = False
        elif command == b"G92":
            self.set_position(code)
        elif command == b"G28":
            self.home(code)
        elif command == b"G20":
            self.scale = 25.4
        elif command == b"G21":
            self.scale = 1.0

    def facts(self) -> GcodeFacts:
        box = None if self.box[0] > self.box[1] else Box(*self.box)
        filament = self.extruded if self.extruded > 1e-6 else None
        return GcodeFacts(box, self.material, self.nozzle, self.seconds, self.lines, filament)


def scan_stream(stream: BinaryIO) -> GcodeFacts:
    scanner = _Scanner()
    slow = scanner.line
    box = scanner.box
    lines = 0
    # The fast path: a plain "G1 X.. Y.. E.." in absolute XYZ (what slicers write most);
    # anything else goes through _Scanner.line.
    for raw in stream:
        if (
            (raw[:3] != b"G1 " and raw[:3] != b"G0 ")
            or not scanner.absolute
            or scanner.scale != 1.0
        ):
            scanner.lines = lines
            slow(raw)
            lines = scanner.lines
            continue
        lines += 1
        cut = raw.find(b";")
        pos = scanner.pos
        x, y, z = pos
        e = None
        try:
            for token in (raw if cut < 0 else raw[:cut]).split()[1:]:
                letter = token[0]
                if letter == 88:  # X
                    x = float(token[1:])
                elif letter == 89:  # Y
                    y = float(token[1:])
                elif letter == 69:  # E
                    e = float(token[1:])
                elif letter == 90:  # Z
                    z = float(token[1:])
                elif letter != 70:  # F
                    raise ValueError(token)
        except ValueError:
            scanner.lines = lines - 1
            slow(raw)
            lines = scanner.lines
            continue
        if e is not None:
            if scanner.absolute_e:
                extruding = e > scanner.e + 1e-9
                scanner.extruded += e - scanner.e
                scanner.e = e
            else:
                extruding = e > 1e-9
                scanner.extruded += e
                scanner.e += e
            if extruding and (x != pos[0] or y != pos[1] or z != pos[2]):
                if not scanner.joined:
                    scanner.add(*pos)
                if x < box[0]:
                    box[0] = x
                if x > box[1]:
                    box[1] = x
                if y < box[2]:
                    box[2] = y
                if y > box[3]:
                    box[3] = y
                if z < box[4]:
                    box[4] = z
                if z > box[5]:
                    box[5] = z
                scanner.pos = [x, y, z]
                scanner.joined = True
                continue
        scanner.pos = [x, y, z]
        scanner.joined = False
    scanner.lines = lines
    return scanner.facts()


def scan_file(path: Path) -> GcodeFacts:
    with path.open("rb", buffering=1024 * 1024) as stream:
        return scan_stream(stream)


def facts_from_json(data: dict[str, object]) -> GcodeFacts:
    """The inverse of :meth:`GcodeFacts.to_json` (as the scan worker prints it)."""
    box = data.get("box")
    material, nozzle, seconds = (
        data.get("material"),
        data.get("nozzle"),
        data.get("estimated_seconds"),
    )
    return GcodeFacts(
        box=Box(**box) if isinstance(box, dict) else None,
        material=material if isinstance(material, str) else None,
        nozzle=float(nozzle) if isinstance(nozzle, int | float) else None,
        estimated_seconds=float(seconds) if isinstance(seconds, int | float) else None,
        lines=lines if isinstance(lines := data.get("lines"), int) else 0,
        filament_mm=float(f) if isinstance(f := data.get("filament_mm"), int | float) else None,
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m hub.queue.gcode_scan FILE``: the facts as one JSON line (the hub runs the
    scan in its own process so a 2 GB file never slows the hub's event loop)."""
    import json
    import sys

    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        sys.exit("usage: python -m hub.queue.gcode_scan FILE")
    facts = scan_file(Path(arguments[0]))
    print(json.dumps({**facts.to_json(), "lines": facts.lines}))


if __name__ == "__main__":
    main()
