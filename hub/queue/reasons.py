"""Why a queued job waits, and why a printer takes no work: the queue's answers for people.

Pure: built from the fleet, each printer's live state, the entries on printers
and the dispatcher's counts. Each reason is ``{"code", "text", "printer"}``
(``printer`` is None for a reason about no one printer), so a listing can drop
the reasons about printers its user may not watch.

A job's codes: ``no_printer_fits`` (then one ``misfit`` per printer of its
target, with what does not fit), ``all_busy`` (every fitting printer prints) or
``none_free``, then one reason per fitting printer (``busy``, ``bed_not_clear``,
``offline``, ``unreachable``, ``not_ready``, ``refused``, and the dispatch check's
``power``, ``spool``, ``maintenance`` — hub/dispatch/check.py); ``heating_budget``;
``next_round`` (a fitting printer is
free: the next dispatch round sends it, or an earlier entry goes first).

A printer's codes: ``unreachable``, ``offline``, ``busy``, ``bed_not_clear``,
``not_ready``, ``power``, ``maintenance``, ``heating_budget``, ``no_job_fits``,
``idle`` (nothing waits) and ``ready`` (it takes the next job that fits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.dispatch.check import JobSide, check, printer_items
from hub.dispatch.sources import Sources
from hub.fleet.live import BUSY, READY, PrinterLive
from hub.fleet.roster import Fleet, FleetPrinter
from hub.queue.match import Needs, misfits

Reason = dict[str, Any]


def reason(code: str, text: str, printer: str | None = None) -> Reason:
    return {"code": code, "text": text, "printer": printer}


@dataclass(frozen=True, slots=True)
class Floor:
    """What the dispatcher knows when it is asked: who prints an entry, who is heating."""

    live: Mapping[str, PrinterLive]
    # Printer → the file of the entry it has (sent or printing).
    occupied: Mapping[str, str] = field(default_factory=dict)
    heating: int = 0
    max_heating: int = 0
    # (entry id, printer) pairs the dispatcher does not ask again for a while.
    refused: frozenset[tuple[int, str]] = frozenset()
    # The power, spool and maintenance services (their items of the dispatch check).
    sources: Sources = field(default_factory=Sources)
    # Printers being switched on for an entry.
    powering: frozenset[str] = frozenset()
    # Printer items the dispatch check adds to the queue's own (per printer, not per job).
    fleet: Fleet | None = None

    @property
    def budget_full(self) -> bool:
        return self.max_heating > 0 and self.heating >= self.max_heating


def _current_file(live: PrinterLive) -> str | None:
    job = live.status.get("job")
    file = job.get("file") if isinstance(job, dict) else None
    return file if isinstance(file, str) else None


def switched_off(name: str, floor: Floor) -> bool:
    """Its power device is known to be off: the queue switches it on for a job."""
    power = floor.sources.power_of(name)
    return floor.sources.power is not None and power is not None and power.known and not power.on


def blocker(printer: FleetPrinter, floor: Floor) -> Reason | None:
    """Why ``printer`` cannot take a job now, whatever the job; None when it can."""
    name = printer.name
    live = floor.live.get(name) or PrinterLive(name)
    if not live.online:
        return reason("unreachable", f"{name} is unreachable: its print server does not answer",
                      name)  # fmt: skip
    if live.state == "offline" and not switched_off(name, floor):
        return reason("offline", f"{name} is offline: the printer is not connected", name)
    if live.state in BUSY or name in floor.occupied:
        file = floor.occupied.get(name) or _current_file(live)
        doing = f"busy printing {file}" if file else f"busy ({live.state})"
        return reason("busy", f"{name} is {doing}", name)
    if not live.status.get("bed_clear", True):
        return reason("bed_not_clear", f"{name}'s bed is not confirmed clear", name)
    if live.state != READY:
        return reason("not_ready", f"{name} is not ready ({live.state})", name)
    return None


CHECKED = ("power", "spool", "maintenance")


def checked_hold(printer: FleetPrinter, floor: Floor, job: JobSide | None) -> Reason | None:
    """The first of the dispatch check's power, spool and maintenance items that holds
    (the spool only for a job); None when none does."""
    name = printer.name
    if name in floor.powering:
        return reason("power", f"{name} is being switched on", name)
    live = floor.live.get(name) or PrinterLive(name)
    fleet = floor.fleet or Fleet(printers=(printer,), max_heating=floor.max_heating)
    rules = floor.sources.rules(fleet)
    side = floor.sources.side(printer, live, powers_on=switched_off(name, floor))
    if job is None:
        found = printer_items(side, rules)
        items = [found["power"], found["maintenance"]]
    else:
        items = list(check(job, side, rules).items)
    for item in items:
        if item.code in CHECKED and item.verdict == "hold":
            return reason(item.code, item.text, name)
    return None


def job_reasons(job_id: int, needs: Needs, printers: Iterable[FleetPrinter], floor: Floor,
                job: JobSide | None = None) -> list[Reason]:  # fmt: skip
    """Why a queued job waits: every printer of its target, each with its own reason."""
    target = list(printers)
    fitting = [p for p in target if not misfits(needs, p)]
    if not fitting:
        found = [reason("no_printer_fits", f"No printer of {needs.target} fits this file")]
        for printer in target:
            text = "; ".join(misfits(needs, printer))
            found.append(reason("misfit", text, printer.name))
        return found
    free: list[FleetPrinter] = []
    held: list[Reason] = []
    for printer in fitting:
        stop = blocker(printer, floor)
        if stop is None and (job_id, printer.name) in floor.refused:
            stop = reason("refused", f"{printer.name} refused it a moment ago; asked again soon",
                          printer.name)  # fmt: skip
        if stop is None:
            stop = checked_hold(printer, floor, job or JobSide(needs))
        if stop is None:
            free.append(printer)
        else:
            held.append(stop)
    if not free:
        names = ", ".join(str(r["printer"]) for r in held)
        if all(r["code"] == "busy" for r in held):
            return [reason("all_busy", f"Every printer that fits is busy: {names}"), *held]
        return [reason("none_free", f"No printer that fits is free: {names}"), *held]
    if floor.budget_full:
        return [
            reason(
                "heating_budget",
                f"Heat-up budget full: {floor.heating} of {floor.max_heating} printers heating",
            ),
            *held,
        ]
    names = ", ".join(p.name for p in free)
    return [reason("next_round", f"{names} can take it: it goes next, after earlier entries")]


def printer_reasons(fleet: Fleet, floor: Floor, waiting: Iterable[Needs]) -> list[dict[str, Any]]:
    """Each printer of the fleet: whether it takes work, and why not."""
    needs = list(waiting)
    rows = []
    for printer in fleet.printers:
        live = floor.live.get(printer.name) or PrinterLive(printer.name)
        found = blocker(printer, floor) or checked_hold(printer, floor, None)
        if found is None:
            if not needs:
                found = reason("idle", f"{printer.name} is ready; no job waits", printer.name)
            elif not any(not misfits(n, printer) for n in needs):
                found = reason("no_job_fits", f"{printer.name} does not match any waiting job",
                               printer.name)  # fmt: skip
            elif floor.budget_full:
                found = reason("heating_budget", "Heat-up budget full: it waits its turn",
                               printer.name)  # fmt: skip
            else:
                found = reason("ready", f"{printer.name} takes the next job that fits",
                               printer.name)  # fmt: skip
        rows.append(
            {
                "name": printer.name,
                "state": live.state if live.online else "unreachable",
                "taking_work": found["code"] in ("idle", "ready"),
                "code": found["code"],
                "reason": found["text"],
            }
        )
    return rows
