"""Does a queued job fit a printer? Pure rules, and the reasons shown when it does not.

A job names a target (``fleet``, ``group:<name>``, ``printer:<name>``), may
require tags, and brings what its file says (material, nozzle, extruded box).
A printer fits when it is in the target, when its profile's materials include
the file's material (a printer that lists none takes any; a file that names
none goes anywhere), when its nozzle is the file's within 0.01 mm, when the
box lies on its bed (with ``BED_MARGIN`` mm of slack for purge lines just
off the edge) and when it carries every required tag. Busy or offline does not
matter here: that is the dispatcher's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.fleet.roster import Fleet, FleetPrinter
from hub.queue.gcode_scan import Box

NOZZLE_TOLERANCE = 0.01
# Start G-code often purges a few millimetres off the bed (Prusa: Y -3).
BED_MARGIN = 5.0
FLEET = "fleet"


class TargetError(ValueError):
    """A target that is not ``fleet``, ``group:NAME`` or ``printer:NAME``."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "fleet" | "group" | "printer"
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> Target:
        text = text.strip()
        if text == FLEET:
            return cls(FLEET)
        kind, _, name = text.partition(":")
        name = name.strip()
        if kind not in ("group", "printer") or not name:
            raise TargetError(f"target '{text}' is not fleet, group:NAME or printer:NAME")
        return cls(kind, name)

    def __str__(self) -> str:
        return FLEET if self.kind == FLEET else f"{self.kind}:{self.name}"

    def covers(self, printer: FleetPrinter) -> bool:
        if self.kind == FLEET:
            return True
        if self.kind == "group":
            return self.name in printer.groups
        return printer.name == self.name

    def printers(self, fleet: Fleet) -> list[FleetPrinter]:
        return [p for p in fleet.printers if self.covers(p)]

    def exists(self, fleet: Fleet) -> bool:
        """A group or printer the fleet file names (the fleet always exists)."""
        return self.kind == FLEET or bool(self.printers(fleet))


@dataclass(frozen=True, slots=True)
class Needs:
    """What a job asks of a printer."""

    target: Target
    tags: tuple[str, ...] = ()
    material: str | None = None
    nozzle: float | None = None
    box: Box | None = None


def _mm(value: float) -> str:
    return f"{value:g}"


def _material_fits(needs: Needs, printer: FleetPrinter) -> bool:
    materials = printer.profile.materials
    if not needs.material or not materials:
        return True
    wanted = needs.material.upper()
    return any(m.upper() == wanted for m in materials)


def _nozzle_fits(needs: Needs, printer: FleetPrinter) -> bool:
    return needs.nozzle is None or abs(needs.nozzle - printer.profile.nozzle) <= NOZZLE_TOLERANCE


def _bed_fits(needs: Needs, printer: FleetPrinter) -> bool:
    bed, box, m = printer.profile.bed, needs.box, BED_MARGIN
    if bed is None or box is None:
        return True
    return not (
        box.min_x < -m
        or box.min_y < -m
        or box.max_x > bed.x + m
        or box.max_y > bed.y + m
        or box.max_z > bed.z + 0.01
    )


def _tags_fit(needs: Needs, printer: FleetPrinter) -> bool:
    return all(tag in printer.tags for tag in needs.tags)


def fits(needs: Needs, printer: FleetPrinter) -> bool:
    """Whether ``printer`` can take the job (no texts built: the dispatcher asks this for
    every entry on every printer)."""
    return (
        needs.target.covers(printer)
        and _material_fits(needs, printer)
        and _nozzle_fits(needs, printer)
        and _bed_fits(needs, printer)
        and _tags_fit(needs, printer)
    )


def misfits(needs: Needs, printer: FleetPrinter) -> list[str]:
    """Why ``printer`` cannot take the job, for people to read; [] when it can."""
    if fits(needs, printer):
        return []
    reasons: list[str] = []
    name, profile = printer.name, printer.profile
    if not needs.target.covers(printer):
        reasons.append(f"{name} is not in {needs.target}")
    if not _material_fits(needs, printer):
        reasons.append(f"needs {needs.material}; {name} has {', '.join(profile.materials)}")
    if not _nozzle_fits(needs, printer) and needs.nozzle is not None:
        reasons.append(
            f"needs a {_mm(needs.nozzle)} mm nozzle; {name} has {_mm(profile.nozzle)} mm"
        )
    bed, box = profile.bed, needs.box
    if not _bed_fits(needs, printer) and bed is not None and box is not None:
        reasons.append(
            f"needs X {_mm(round(box.min_x, 1))}-{_mm(round(box.max_x, 1))}, "
            f"Y {_mm(round(box.min_y, 1))}-{_mm(round(box.max_y, 1))}, "
            f"Z up to {_mm(round(box.max_z, 1))} mm; {name}'s bed is "
            f"{_mm(bed.x)} x {_mm(bed.y)} x {_mm(bed.z)} mm"
        )
    if not _tags_fit(needs, printer):
        missing = [tag for tag in needs.tags if tag not in printer.tags]
        reasons.append(
            f"needs tag {', '.join(missing)}; {name} has {', '.join(printer.tags) or 'none'}"
        )
    return reasons


def why_nowhere(needs: Needs, printers: Iterable[FleetPrinter]) -> list[str]:
    """Every reason of every printer of the target; [] when at least one fits."""
    reasons: list[str] = []
    for printer in printers:
        found = misfits(needs, printer)
        if not found:
            return []
        reasons.extend(found)
    return reasons


def parse_tags(text: str) -> tuple[str, ...]:
    """``"enclosure, pla"`` → ("enclosure", "pla"), without blanks or repeats."""
    tags: list[str] = []
    for tag in text.split(","):
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)
