"""The dispatch check itself: may this job start on this printer now? Pure, no I/O.

Every start goes through it — the fleet queue before it sends an entry, and the print
server before it starts a file from its Print button or a slicer's upload-and-print
(it asks the hub, ``hub/dispatch/api.py``). The answer is a list of items, always in
this order, each ``pass``, ``warn`` (shown, does not stop the job) or ``hold`` (the
job waits; it is never failed by the check):

``printer``      reachable, connected and idle (the queue's view; the print server
                 checks this itself for its own starts)
``bed``          the bed is confirmed clear
``profile``      the printer is in the job's target and fits its material, nozzle,
                 bed and tags
``power``        the printer's power device (if it has one) is known to be on
``spool``        the loaded spool holds the job's filament plus a margin (only when a
                 Spoolman server is configured); a check that cannot be made holds
``maintenance``  no service task overdue (site setting: hold or warn)
``heat``         the heat-up budget has room

An admin may override one item for one job (:data:`OVERRIDABLE`); an overridden
item passes and says by whom. ``printer`` and ``bed`` cannot be overridden: the
printer must answer, and a person confirms the bed on the printer's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hub.fleet.live import BED_NOT_CLEARED, BUSY, READY, PrinterLive
from hub.fleet.roster import FleetPrinter
from hub.queue.match import Needs, misfits

Verdict = Literal["pass", "warn", "hold"]
ITEMS: tuple[str, ...] = ("printer", "bed", "profile", "power", "spool", "maintenance", "heat")
OVERRIDABLE = frozenset({"profile", "power", "spool", "maintenance", "heat"})
# Per-printer items: the same for every job on that printer.
PRINTER_ITEMS = ("printer", "bed", "power", "maintenance", "heat")


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    verdict: Verdict
    text: str
    overridden_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.code,
            "verdict": self.verdict,
            "text": self.text,
            "overridable": self.code in OVERRIDABLE,
            "overridden_by": self.overridden_by,
        }


@dataclass(frozen=True, slots=True)
class Check:
    printer: str
    items: tuple[Item, ...]

    @property
    def ready(self) -> bool:
        return all(item.verdict != "hold" for item in self.items)

    @property
    def holds(self) -> list[Item]:
        return [item for item in self.items if item.verdict == "hold"]

    @property
    def warnings(self) -> list[Item]:
        return [item for item in self.items if item.verdict == "warn"]

    def summary(self) -> str:
        """One sentence: what holds the job back, or that it may start."""
        held = self.holds
        if held:
            return "; ".join(item.text for item in held)
        return f"{self.printer} may start it"

    def to_json(self) -> dict[str, Any]:
        return {
            "printer": self.printer,
            "ready": self.ready,
            "summary": self.summary(),
            "items": [item.to_json() for item in self.items],
        }


@dataclass(frozen=True, slots=True)
class PowerFacts:
    """The printer's power device as the power service last saw it."""

    known: bool
    on: bool | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SpoolFacts:
    """The spool loaded in tool 0 as Spoolman last described it, for this job."""

    label: str
    # Grams left; None when Spoolman does not know.
    remaining_g: float | None
    # Grams of this spool's filament per millimetre; None when unknown.
    grams_per_mm: float | None
    material: str | None = None
    # Set when Spoolman could not be asked or answered nonsense.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SiteRules:
    spool_tracking: bool = False
    spool_margin_percent: float = 10.0
    spool_margin_g: float = 5.0
    overdue: Literal["hold", "warn"] = "hold"
    max_heating: int = 0


@dataclass(frozen=True, slots=True)
class PrinterSide:
    """What the hub knows about one printer when it is asked."""

    printer: FleetPrinter
    live: PrinterLive
    power: PowerFacts | None = None
    # None: no spool assigned (or spool tracking off).
    spool: SpoolFacts | None = None
    overdue: tuple[str, ...] = ()
    # Printers heating now, other than this one (for the heat-up budget).
    heating: int = 0
    # An entry of the fleet queue already holds this printer (sent or printing).
    occupied_by: str | None = None
    # The queue may switch this printer on itself (auto power-on before a queued job).
    powers_on: bool = False


@dataclass(frozen=True, slots=True)
class JobSide:
    needs: Needs
    filament_mm: float | None = None
    # Item code → the admin who overrode it for this job.
    overrides: Mapping[str, str] = field(default_factory=dict)


def _g(value: float) -> str:
    if value >= 10:
        return f"{value:.0f} g"
    return f"{value:.1f} g" if value >= 1 else f"{value:.2f} g"


def printer_item(side: PrinterSide) -> Item:
    name, live = side.printer.name, side.live
    if side.occupied_by is not None:
        return Item("printer", "hold", f"{name} is busy printing {side.occupied_by}")
    if not live.online:
        return Item("printer", "hold", f"{name} is unreachable: its print server does not answer")
    if live.state == "offline":
        if side.powers_on:
            return Item("printer", "pass", f"{name} is off; the queue switches it on first")
        return Item("printer", "hold", f"{name} is offline: the printer is not connected")
    if live.state in BUSY:
        job = live.status.get("job")
        file = job.get("file") if isinstance(job, dict) else None
        doing = f"busy printing {file}" if isinstance(file, str) else f"busy ({live.state})"
        return Item("printer", "hold", f"{name} is {doing}")
    after_job = live.state in (BED_NOT_CLEARED, "finished", "failed")
    if live.state != READY and not (after_job and not live.status.get("bed_clear", True)):
        # After a job the bed item says what waits; any other state is not ready.
        return Item("printer", "hold", f"{name} is not ready ({live.state})")
    return Item("printer", "pass", f"{name} is connected and idle")


def bed_item(side: PrinterSide) -> Item:
    name = side.printer.name
    if side.live.online and not side.live.status.get("bed_clear", True):
        return Item("bed", "hold", f"{name}'s bed is not confirmed clear")
    return Item("bed", "pass", f"{name}'s bed is clear")


def profile_item(job: JobSide, printer: FleetPrinter) -> Item:
    found = misfits(job.needs, printer)
    if found:
        return Item("profile", "hold", "; ".join(found))
    return Item("profile", "pass", f"{printer.name} fits the file")


def power_item(side: PrinterSide) -> Item:
    name, power = side.printer.name, side.power
    if power is None:
        return Item("power", "pass", f"{name} has no power device")
    if power.known and power.on:
        return Item("power", "pass", f"{name}'s power is on")
    if power.known and side.powers_on:
        return Item("power", "pass", f"{name}'s power is off; the queue switches it on first")
    if power.known:
        return Item("power", "hold", f"{name}'s power is off")
    why = f": {power.reason}" if power.reason else ""
    return Item("power", "hold", f"{name}'s power state is unknown{why}")


def spool_margin(needed_g: float, rules: SiteRules) -> float:
    return needed_g * rules.spool_margin_percent / 100 + rules.spool_margin_g


def spool_holds(job: JobSide, side: PrinterSide, rules: SiteRules) -> bool:
    """Whether the spool item holds ``job`` (no text built: the queue asks this for every
    entry on every printer; :func:`spool_item` says why)."""
    if not rules.spool_tracking:
        return False
    spool = side.spool
    if spool is None or spool.error:
        return True
    material = job.needs.material
    if material and spool.material and material.upper() != spool.material.upper():
        return True
    if job.filament_mm is None or spool.grams_per_mm is None or spool.remaining_g is None:
        return True
    needed = job.filament_mm * spool.grams_per_mm
    return spool.remaining_g < needed + spool_margin(needed, rules)


def spool_item(job: JobSide, side: PrinterSide, rules: SiteRules) -> Item:
    name = side.printer.name
    if not rules.spool_tracking:
        return Item("spool", "pass", "no spool tracking (no Spoolman server configured)")
    spool = side.spool
    if spool is None:
        return Item(
            "spool", "hold", f"no spool is assigned to {name}: the job's use cannot be checked"
        )
    if spool.error:
        return Item("spool", "hold", f"cannot check {spool.label}: {spool.error}")
    needs = job.needs
    if needs.material and spool.material and needs.material.upper() != spool.material.upper():
        return Item(
            "spool",
            "hold",
            f"the file is for {needs.material}; {name} has {spool.label} ({spool.material})",
        )
    if job.filament_mm is None:
        return Item(
            "spool",
            "hold",
            "how much filament the file uses is not known (its analysis may still be running)",
        )
    if spool.grams_per_mm is None:
        return Item("spool", "hold", f"Spoolman does not say the density of {spool.label}")
    needed = job.filament_mm * spool.grams_per_mm
    if spool.remaining_g is None:
        return Item("spool", "hold", f"Spoolman does not know how much is left on {spool.label}")
    margin = spool_margin(needed, rules)
    wanted = needed + margin
    if spool.remaining_g < wanted:
        return Item(
            "spool",
            "hold",
            f"{spool.label} has {_g(spool.remaining_g)} left but the job needs "
            f"{_g(needed)} plus {_g(margin)} to spare",
        )
    return Item(
        "spool",
        "pass",
        f"{spool.label} has {_g(spool.remaining_g)} left for the job's {_g(needed)}",
    )


def maintenance_item(side: PrinterSide, rules: SiteRules) -> Item:
    if not side.overdue:
        return Item("maintenance", "pass", "no service task overdue")
    return Item("maintenance", rules.overdue, "overdue: " + "; ".join(side.overdue))


def heat_item(side: PrinterSide, rules: SiteRules) -> Item:
    if rules.max_heating > 0 and side.heating >= rules.max_heating:
        return Item(
            "heat",
            "hold",
            f"heat-up budget full: {side.heating} of {rules.max_heating} printers heating",
        )
    return Item("heat", "pass", "the heat-up budget has room")


def printer_items(side: PrinterSide, rules: SiteRules) -> dict[str, Item]:
    """The items that do not depend on the job (computed once per printer per round)."""
    return {
        "printer": printer_item(side),
        "bed": bed_item(side),
        "power": power_item(side),
        "maintenance": maintenance_item(side, rules),
        "heat": heat_item(side, rules),
    }


def check(
    job: JobSide,
    side: PrinterSide,
    rules: SiteRules,
    *,
    skip: Iterable[str] = (),
    known: Mapping[str, Item] | None = None,
) -> Check:
    """Every item for ``job`` on ``side``'s printer, with the job's overrides applied.

    ``skip`` leaves items out (the print server checks ``printer`` and ``bed``
    itself); ``known`` passes printer items already computed this round.
    """
    found = dict(known) if known is not None else printer_items(side, rules)
    found["profile"] = profile_item(job, side.printer)
    found["spool"] = spool_item(job, side, rules)
    skipped = set(skip)
    items = []
    for code in ITEMS:
        if code in skipped:
            continue
        item = found[code]
        by = job.overrides.get(code)
        if by is not None and code in OVERRIDABLE and item.verdict != "pass":
            item = Item(code, "pass", f"{item.text} (overridden by {by})", overridden_by=by)
        items.append(item)
    return Check(side.printer.name, tuple(items))


def parse_overrides(text: str) -> dict[str, str]:
    """``"spool=alice,heat=bob"`` (as the queue stores them) → {"spool": "alice", …}."""
    found: dict[str, str] = {}
    for part in text.split(","):
        code, _, by = part.partition("=")
        if code in OVERRIDABLE and by:
            found[code] = by
    return found


def format_overrides(overrides: Mapping[str, str]) -> str:
    return ",".join(f"{code}={by}" for code, by in sorted(overrides.items()))
