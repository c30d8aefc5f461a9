"""What slicers write about a file in its comments: estimates, filament, layers, config.

Only comment lines are read, and only from the head and the tail of a file
(``analyse_file`` decides which); every slicer puts its summary there.

- PrusaSlicer, SuperSlicer, Slic3r PE (tail): ``; estimated printing time
  (normal mode) = 1h 2m 3s``, ``; filament used [mm] = …`` / ``[cm3]`` /
  ``[g]``, and the ``; key = value`` config (filament diameter and density,
  layer heights, ``machine_max_*`` firmware limits).
- OrcaSlicer, BambuStudio (head and tail): ``; total layer number: N``,
  ``; model printing time: …; total estimated time: …``, then as PrusaSlicer.
- Cura (head): ``;TIME:1494``, ``;Filament used: 1.82848m``,
  ``;Layer height: 0.2``, ``;LAYER_COUNT:100``.
- Simplify3D (head and tail): ``;   layerHeight,0.2``,
  ``;   filamentDiameters,1.75|…``, ``;   Build time: 1 hours 2 minutes``,
  ``;   Filament length: … mm``, ``;   Plastic volume: … mm^3``,
  ``;   Plastic weight: … g``.
- Slic3r (tail): ``; filament used = 732.2mm (5.2cm3)`` and the config.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from instance.analysis.limits import MachineLimits
from instance.analysis.thumbnails import Thumbnail, ThumbnailCollector

_GENERATED = re.compile(
    r"generated (?:by|with)\s+(PrusaSlicer|SuperSlicer|OrcaSlicer|BambuStudio|Slic3r Prusa Edition"
    r"|Slic3r|Simplify3D\(R\)|Cura_SteamEngine|Cura)(?:\s+Version)?\s*([0-9][^\s,]*)?",
    re.I,
)
_SLICER_NAMES = {
    "prusaslicer": "PrusaSlicer",
    "superslicer": "SuperSlicer",
    "orcaslicer": "OrcaSlicer",
    "bambustudio": "BambuStudio",
    "slic3r prusa edition": "Slic3r Prusa Edition",
    "slic3r": "Slic3r",
    "simplify3d(r)": "Simplify3D",
    "cura_steamengine": "Cura",
    "cura": "Cura",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)\b", re.I)
_S3D_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(day|hour|minute|second)s?\b", re.I)
_SUMMARY = re.compile(
    r"^(?:total )?(estimated printing time|filament used)\s*(?:\((\w+) mode\))?\s*"
    r"(?:\[(mm|cm3|g)\])?\s*=\s*(.*)$",
    re.I,
)
_SLIC3R_FILAMENT = re.compile(r"([\d.]+)\s*mm\s*\(([\d.]+)\s*cm3\)", re.I)
_CONFIG = re.compile(r"^([a-z_][a-z0-9_]*)\s*=\s*(.*)$")
_CURA_KEY = re.compile(r"^([A-Za-z_.][A-Za-z_. ]*):\s*(.*)$")
_S3D_SETTING = re.compile(r"^\s+([a-zA-Z]+),(.*)$")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
# The config keys kept (the rest of a PrusaSlicer config is of no use here).
_CONFIG_KEYS = frozenset(
    {
        "filament_diameter",
        "filament_density",
        "layer_height",
        "first_layer_height",
        "gcode_flavor",
    }
)


@dataclass(slots=True)
class SlicerMetadata:
    """Figures a slicer reported; None (or empty) for those it did not."""

    slicer: str | None = None
    slicer_version: str | None = None
    time_s: float | None = None
    filament_mm: list[float] = field(default_factory=list)  # per tool
    filament_cm3: list[float] = field(default_factory=list)
    filament_g: float | None = None
    layer_count: int | None = None
    layer_height: float | None = None
    first_layer_height: float | None = None
    filament_diameter: float | None = None
    filament_density: float | None = None
    limits: MachineLimits | None = None
    thumbnails: list[Thumbnail] = field(default_factory=list)


def parse_duration(text: str) -> float | None:
    """``1d 2h 3m 4s`` (PrusaSlicer) or ``1 hours 2 minutes`` (Simplify3D) in seconds."""
    total = 0.0
    found = False
    for value, unit in _S3D_DURATION.findall(text):
        total += float(value) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit[0].lower()]
        found = True
    if not found:
        for value, unit in _DURATION.findall(text):
            total += float(value) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[unit.lower()]
            found = True
    return total if found and math.isfinite(total) else None


def _numbers(text: str) -> list[float]:
    values = [float(v) for v in _NUMBER.findall(text)]
    return [v for v in values if math.isfinite(v) and abs(v) < 1e12]


def _first(text: str) -> float | None:
    values = _numbers(text)
    return values[0] if values else None


class MetadataParser:
    """Feed it every comment line of the windows read; ``result()`` at the end."""

    def __init__(self) -> None:
        self.meta = SlicerMetadata()
        self.thumbs = ThumbnailCollector()
        self.config: dict[str, str] = {}
        self._s3d: dict[str, str] = {}
        self._generated = False

    @property
    def in_thumbnail(self) -> bool:
        return self.thumbs.collecting

    def feed(self, raw: bytes) -> None:
        """One line of the file (with or without its newline); non-comments are ignored."""
        stripped = raw.strip()
        if not stripped.startswith(b";"):
            return
        body = stripped[1:]
        if self.thumbs.feed(body.strip()):
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
        self._comment(text)

    def _comment(self, text: str) -> None:
        meta = self.meta
        s3d = _S3D_SETTING.match(text)
        if s3d is not None:
            self._s3d[s3d.group(1)] = s3d.group(2).strip()
        line = text.strip()
        if not line:
            return
        lower = line.lower()
        generated = _GENERATED.search(line) if "generated" in lower else None
        if generated is not None and not self._generated:
            self._generated = True
            meta.slicer = _SLICER_NAMES[generated.group(1).lower()]
            meta.slicer_version = generated.group(2)
            return
        summary = _SUMMARY.match(line)
        if summary is not None:
            self._summary(
                lower,
                summary.group(1).lower(),
                summary.group(2),
                summary.group(3),
                summary.group(4),
            )
            return
        config = _CONFIG.match(line)
        if config is not None:
            self._config(config.group(1), config.group(2).strip())
            return
        if lower.startswith("flavor:") and meta.slicer is None:
            meta.slicer = "Cura"
        if lower.startswith("model printing time:") or "total estimated time:" in lower:
            # OrcaSlicer/BambuStudio: "model printing time: 32m 27s; total estimated time: 38m 55s"
            _, _, total = lower.partition("total estimated time:")
            value = parse_duration(total)
            if value is not None:
                meta.time_s = value
            return
        if lower.startswith("total layer number:"):
            count = _first(line.split(":", 1)[1])
            if count is not None and count >= 0:
                meta.layer_count = int(count)
            return
        cura = _CURA_KEY.match(line)
        if cura is not None and self._cura(cura.group(1), cura.group(2)):
            return
        if lower.startswith("build time:"):
            meta.time_s = parse_duration(line.split(":", 1)[1])
        elif lower.startswith("filament length:"):
            value = _first(line.split(":", 1)[1])
            if value is not None:
                meta.filament_mm = [value]
        elif lower.startswith("plastic volume:"):
            value = _first(line.split(":", 1)[1])  # mm^3
            if value is not None:
                meta.filament_cm3 = [value / 1000.0]
        elif lower.startswith("plastic weight:"):
            meta.filament_g = _first(line.split(":", 1)[1])

    def _summary(
        self, lower: str, what: str, mode: str | None, unit: str | None, value: str
    ) -> None:
        """PrusaSlicer/Orca/Slic3r summary lines: ``; filament used [mm] = 1682.58`` etc."""
        meta = self.meta
        if what == "estimated printing time":
            if mode is None or mode.lower() == "normal":
                duration = parse_duration(value)
                if duration is not None:
                    meta.time_s = duration
            return
        unit = (unit or "").lower()
        if unit == "mm":
            meta.filament_mm = _numbers(value)
        elif unit == "cm3":
            meta.filament_cm3 = _numbers(value)
        elif unit == "g":
            # "total filament used [g]" is the sum; "filament used [g]" per tool.
            weights = _numbers(value)
            if weights and (lower.startswith("total") or meta.filament_g is None):
                meta.filament_g = sum(weights) if not lower.startswith("total") else weights[0]
        else:
            # Slic3r: "; filament used = 732.2mm (5.2cm3)", one such line per tool.
            match = _SLIC3R_FILAMENT.search(value)
            if match is not None:
                meta.filament_mm.append(float(match.group(1)))
                meta.filament_cm3.append(float(match.group(2)))

    def _config(self, key: str, value: str) -> None:
        if key.startswith("machine_") or key in _CONFIG_KEYS:
            self.config[key] = value

    def _cura(self, key: str, value: str) -> bool:
        """Cura's ``;KEY:value`` header lines; False if the key is not one of them."""
        meta = self.meta
        upper = key.upper()
        if upper in ("TIME", "PRINT.TIME"):
            number = _first(value)
            if number is not None and number >= 0:
                meta.time_s = number
        elif upper == "FILAMENT USED":
            # ";Filament used: 1.82848m, 0.2m" (metres, one per extruder)
            meta.filament_mm = [v * 1000.0 for v in _numbers(value)]
        elif upper == "LAYER_COUNT":
            number = _first(value)
            if number is not None and number >= 0:
                meta.layer_count = int(number)
        elif upper == "LAYER HEIGHT":
            meta.layer_height = _first(value)
        else:
            return False
        return True

    def result(self) -> SlicerMetadata:
        meta = self.meta
        config = self.config
        meta.thumbnails = list(self.thumbs.thumbnails)
        diameter = _first(config.get("filament_diameter", ""))
        if diameter is None and "filamentDiameters" in self._s3d:
            diameter = _first(self._s3d["filamentDiameters"])
        if diameter is not None and diameter > 0:
            meta.filament_diameter = diameter
        density = _first(config.get("filament_density", ""))
        if density is None and "filamentDensities" in self._s3d:
            density = _first(self._s3d["filamentDensities"])
        if density is not None and density > 0:
            meta.filament_density = density
        layer_height = _first(config.get("layer_height", ""))
        if layer_height is None and "layerHeight" in self._s3d:
            layer_height = _first(self._s3d["layerHeight"])
        if layer_height is not None and layer_height > 0:
            meta.layer_height = layer_height
        first = config.get("first_layer_height", "")
        first_value = _first(first)
        if first_value is not None and first.strip().endswith("%") and meta.layer_height:
            first_value = meta.layer_height * first_value / 100.0
        if first_value is None and "firstLayerHeightPercentage" in self._s3d and meta.layer_height:
            pct = _first(self._s3d["firstLayerHeightPercentage"])
            if pct is not None:
                first_value = meta.layer_height * pct / 100.0
        if first_value is not None and first_value > 0:
            meta.first_layer_height = first_value
        if meta.filament_g is not None and not meta.filament_g > 0:
            meta.filament_g = None  # PrusaSlicer writes 0.00 when no density is set
        meta.limits = MachineLimits.from_slicer_config(config)
        return meta
