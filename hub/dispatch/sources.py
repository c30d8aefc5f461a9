"""Where the dispatch check's facts come from: the live fleet, and the power, spool and
maintenance services when the hub runs them. Each service is optional: without it its
item passes (no power device, no spool tracking, no service task)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from hub.dispatch.check import PowerFacts, PrinterSide, SiteRules, SpoolFacts
from hub.fleet.live import PrinterLive
from hub.fleet.roster import Fleet, FleetPrinter


class PowerView(Protocol):
    @property
    def known(self) -> bool: ...
    @property
    def on(self) -> bool | None: ...
    @property
    def reason(self) -> str: ...


class PowerSource(Protocol):
    def state(self, printer: str) -> PowerView | None: ...
    async def ensure_on(self, printer: str) -> None: ...


class LoadedSpool(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def remaining_g(self) -> float | None: ...
    @property
    def material(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    def grams(self, filament_mm: float) -> float: ...


class SpoolSource(Protocol):
    @property
    def enabled(self) -> bool: ...
    def loaded(self, printer: str, tool: int = 0) -> LoadedSpool | None: ...
    async def refresh(self, printer: str) -> None: ...


class MaintenanceSource(Protocol):
    def overdue(self, printer: str) -> list[str]: ...


@dataclass(slots=True)
class Sources:
    power: PowerSource | None = None
    spools: SpoolSource | None = None
    maintenance: MaintenanceSource | None = None

    def rules(self, fleet: Fleet) -> SiteRules:
        rules = fleet.dispatch
        return SiteRules(
            spool_tracking=self.spools is not None and self.spools.enabled,
            spool_margin_percent=rules.spool_margin_percent,
            spool_margin_g=rules.spool_margin_g,
            overdue="warn" if rules.overdue_maintenance == "warn" else "hold",
            max_heating=fleet.max_heating,
        )

    def power_of(self, printer: str) -> PowerFacts | None:
        view = None if self.power is None else self.power.state(printer)
        if view is None:
            return None
        return PowerFacts(known=view.known, on=view.on, reason=view.reason)

    def spool_of(self, printer: str) -> SpoolFacts | None:
        if self.spools is None or not self.spools.enabled:
            return None
        spool = self.spools.loaded(printer)
        if spool is None:
            return None
        try:
            per_mm: float | None = spool.grams(1000.0) / 1000.0
        except (ArithmeticError, TypeError, ValueError):
            per_mm = None
        return SpoolFacts(
            label=spool.name,
            remaining_g=spool.remaining_g,
            grams_per_mm=per_mm if per_mm and per_mm > 0 else None,
            material=spool.material,
            error=spool.error,
        )

    def overdue_of(self, printer: str) -> tuple[str, ...]:
        return () if self.maintenance is None else tuple(self.maintenance.overdue(printer))

    def side(
        self,
        printer: FleetPrinter,
        live: PrinterLive,
        *,
        heating: int = 0,
        occupied_by: str | None = None,
        powers_on: bool = False,
    ) -> PrinterSide:
        return PrinterSide(
            printer=printer,
            live=live,
            power=self.power_of(printer.name),
            spool=self.spool_of(printer.name),
            overdue=self.overdue_of(printer.name),
            heating=heating,
            occupied_by=occupied_by,
            powers_on=powers_on,
        )


SOURCES = web.AppKey("dispatch check sources", Sources)


def sources(app: web.Application) -> Sources:
    """The app's sources (none yet: every optional item passes)."""
    found = app.get(SOURCES)
    if found is None:
        found = app[SOURCES] = Sources()
    return found
