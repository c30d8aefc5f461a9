"""The analysis of one file, and its JSON shapes (native and OctoPrint's ``gcodeAnalysis``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instance.analysis.thumbnails import Thumbnail


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class GcodeAnalysis:
    """What a file will print, from its slicer's comments and from its moves.

    Times are seconds, lengths millimetres, volumes cm³, weights grams.

    - ``estimated_time_s``: the figure to show, the slicer's own estimate when
      the file has one, else ``computed_time_s``.
    - ``computed_time_s``: our estimate from the moves (see ``instance.analysis.pykernel``).
      Not counted: ``G4`` dwells (their total is ``dwell_time_s``), heat-up waits
      (``M109``/``M190``) and homing; the planner does stop at each of them.
    - ``filament_length_mm``: tool 0, the slicer's figure when it gave one,
      else ``computed_filament_length_mm``; ``filament_per_tool_mm`` is ours.
    - ``dimensions`` / ``printing_area``: the extent of extruding moves; the
      height in ``dimensions`` is the top Z (OctoPrint's analyser gives max - min Z).
    - ``limits_source``: where the planner's limits came from: "profile" (passed
      in), "slicer config", "defaults", or "file (over ...)" when the file's own
      M201/M203/M204/M205 lines changed them.
    - ``layer_heights``: thickness of each layer, first layer first.
    """

    estimated_time_s: float | None
    computed_time_s: float
    slicer_time_s: float | None
    slicer: str | None
    slicer_version: str | None
    filament_length_mm: float
    computed_filament_length_mm: float
    slicer_filament_length_mm: float | None
    filament_per_tool_mm: list[float]
    filament_volume_cm3: float
    filament_weight_g: float | None
    filament_diameter_mm: float
    filament_density_g_cm3: float
    layer_count: int
    slicer_layer_count: int | None
    layer_heights: list[float]
    first_layer_height: float | None
    layer_height: float | None
    dimensions: dict[str, float]
    printing_area: dict[str, float]
    thumbnails: list[Thumbnail] = field(repr=False)
    line_count: int
    move_count: int
    dwell_time_s: float
    limits_source: str
    kernel: str

    def to_octoprint(self) -> dict[str, Any]:
        """OctoPrint's ``gcodeAnalysis`` object (as in ``GET /api/files/local/<name>``)."""
        filament: dict[str, dict[str, float]] = {}
        area = 3.141592653589793 * (self.filament_diameter_mm / 2.0) ** 2
        for tool, length in enumerate(self.filament_per_tool_mm):
            if tool == 0:
                filament["tool0"] = {
                    "length": round(self.filament_length_mm, 3),
                    "volume": round(self.filament_volume_cm3, 4),
                }
            elif length > 0:
                filament[f"tool{tool}"] = {
                    "length": round(length, 3),
                    "volume": round(length * area / 1000.0, 4),
                }
        if "tool0" not in filament:
            filament["tool0"] = {
                "length": round(self.filament_length_mm, 3),
                "volume": round(self.filament_volume_cm3, 4),
            }
        area_ = self.printing_area
        return {
            "estimatedPrintTime": _round(self.estimated_time_s),
            "filament": filament,
            "dimensions": {k: round(v, 3) for k, v in self.dimensions.items()},
            "printingArea": {
                "minX": round(area_["min_x"], 3),
                "maxX": round(area_["max_x"], 3),
                "minY": round(area_["min_y"], 3),
                "maxY": round(area_["max_y"], 3),
                "minZ": round(area_["min_z"], 3),
                "maxZ": round(area_["max_z"], 3),
            },
        }

    def to_json(self) -> dict[str, Any]:
        """The native API's shape: every field; thumbnails without their bytes."""
        return {
            "estimated_time_s": _round(self.estimated_time_s),
            "computed_time_s": round(self.computed_time_s, 3),
            "slicer_time_s": _round(self.slicer_time_s),
            "slicer": self.slicer,
            "slicer_version": self.slicer_version,
            "filament": {
                "length_mm": round(self.filament_length_mm, 3),
                "computed_length_mm": round(self.computed_filament_length_mm, 3),
                "slicer_length_mm": _round(self.slicer_filament_length_mm),
                "per_tool_mm": [round(v, 3) for v in self.filament_per_tool_mm],
                "volume_cm3": round(self.filament_volume_cm3, 4),
                "weight_g": _round(self.filament_weight_g),
                "diameter_mm": self.filament_diameter_mm,
                "density_g_cm3": self.filament_density_g_cm3,
            },
            "layers": {
                "count": self.layer_count,
                "slicer_count": self.slicer_layer_count,
                "first_height": _round(self.first_layer_height, 4),
                "height": _round(self.layer_height, 4),
                "heights": [round(v, 4) for v in self.layer_heights],
            },
            "dimensions": {k: round(v, 3) for k, v in self.dimensions.items()},
            "printing_area": {k: round(v, 3) for k, v in self.printing_area.items()},
            "thumbnails": [
                {
                    "index": i,
                    "width": t.width,
                    "height": t.height,
                    "format": t.format,
                    "size": len(t.data),
                }
                for i, t in enumerate(self.thumbnails)
            ],
            "line_count": self.line_count,
            "move_count": self.move_count,
            "dwell_time_s": round(self.dwell_time_s, 3),
            "limits_source": self.limits_source,
            "kernel": self.kernel,
        }
