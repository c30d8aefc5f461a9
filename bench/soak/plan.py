"""The soak's plan, drawn from one seed and nothing else: each printer's simulator (firmware,
line faults, resends without ok) and the timeline of faults the host plays. No I/O."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

# What each host fault does; the reasons a job it hits may end with (docs/soak.md).
UNPLUG = "unplug"  # the printer's simulator stopped, started again seconds later
KILL_PRINT_SERVER = "kill print server"  # SIGKILL to the print server; Docker restarts it
RESTART_HUB = "restart hub"  # `docker restart` of the hub
RELOAD_NGINX = "reload nginx"  # `nginx -s reload` in the proxy
RESTART_ENGINE = "restart engine"  # dockerd stopped (SIGTERM) and started again
REBOOT = "reboot"  # every container SIGKILLed at once, then `fabfleet up`
CANCEL = "cancel"  # the operator cancels a printing entry (DELETE /api/queue/{id})
HOST_FAULTS = (UNPLUG, KILL_PRINT_SERVER, RESTART_HUB, RELOAD_NGINX, RESTART_ENGINE, REBOOT)
# Faults of one printer; the others touch the whole fleet.
PER_PRINTER = (UNPLUG, KILL_PRINT_SERVER, CANCEL)
# Per printer-hour (per-printer kinds) or per hour (the fleet's); at least one of each kind
# switched on is drawn, whatever the length.
RATES = {
    UNPLUG: 1.0,
    KILL_PRINT_SERVER: 1.0,
    CANCEL: 0.5,
    RESTART_HUB: 6.0,
    RELOAD_NGINX: 12.0,
    RESTART_ENGINE: 1.0,
    REBOOT: 1.0,
}
# No two faults closer than this (seconds): each one's effect can be told apart.
SPACING = 8.0
# Line faults a simulator may play all run long (fabfleet-sim --fault), one drawn per printer
# that gets any; the share of printers with line faults, and of those without ok after a resend.
LINE_FAULTS = (
    "corrupt_line:probability=0.003",
    "drop_line:every=400",
    "double_resend:every=500",
    "random_resend:probability=0.002",
    "resend_without_ok:every=350",
)
LINE_FAULT_SHARE = 0.5
NO_OK_AFTER_RESEND_SHARE = 0.25
FIRMWARES = ("marlin2", "marlin2", "marlin2", "marlin1", "prusa")


@dataclass(frozen=True)
class PrinterPlan:
    """One simulated printer: its name and what its simulator is told."""

    name: str
    firmware: str
    faults: tuple[str, ...]
    ok_after_resend: bool | None
    seed: int

    def simulated(self, time_factor: float, heat_rate: float) -> dict[str, Any]:
        """Its fleet file ``simulated:`` mapping."""
        entry: dict[str, Any] = {
            "time_factor": time_factor,
            "firmware": self.firmware,
            "record": True,
            "seed": self.seed,
            "hotend_rate": 3.0 * heat_rate,
            "bed_rate": 0.8 * heat_rate,
        }
        if self.faults:
            entry["faults"] = list(self.faults)
        if self.ok_after_resend is not None:
            entry["ok_after_resend"] = self.ok_after_resend
        return entry


@dataclass(frozen=True)
class Fault:
    """A fault the host plays ``at`` seconds into the run, on ``printer`` or the whole fleet;
    ``seconds``: how long an unplugged cable stays out."""

    at: float
    kind: str
    printer: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Plan:
    seed: int
    printers: tuple[PrinterPlan, ...]
    faults: tuple[Fault, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def printer_names(count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"p{i:0{width}d}" for i in range(1, count + 1)]


def draw_printers(rng: random.Random, count: int, seed: int) -> tuple[PrinterPlan, ...]:
    made = []
    for index, name in enumerate(printer_names(count)):
        faults: tuple[str, ...] = ()
        if rng.random() < LINE_FAULT_SHARE:
            faults = (rng.choice(LINE_FAULTS),)
        ok_after_resend = False if rng.random() < NO_OK_AFTER_RESEND_SHARE else None
        made.append(PrinterPlan(name, rng.choice(FIRMWARES), faults, ok_after_resend, seed + index))
    return tuple(made)


def _times(
    rng: random.Random, count: int, start: float, end: float, taken: list[float]
) -> list[float]:
    """``count`` moments in [start, end] at least SPACING from each other and from ``taken``."""
    found: list[float] = []
    for _ in range(count):
        for _attempt in range(200):
            at = round(rng.uniform(start, end), 1)
            if all(abs(at - t) >= SPACING for t in taken + found):
                found.append(at)
                break
    return found


def draw_plan(
    seed: int, printers: int, seconds: float, kinds: tuple[str, ...], settle: float = 30.0
) -> Plan:
    """The whole plan for ``printers`` printers fed for ``seconds``: faults from ``settle`` s in
    until ``settle`` s before the end, of the ``kinds`` switched on. A reboot or an engine
    restart, which touch everything, fall in the middle third so the fleet is seen before and
    after them."""
    rng = random.Random(seed)
    fleet = draw_printers(rng, printers, seed)
    names = [p.name for p in fleet]
    hours = seconds / 3600
    faults: list[Fault] = []
    taken: list[float] = []
    for kind in (REBOOT, RESTART_ENGINE):
        if kind in kinds:
            count = max(1, round(RATES[kind] * hours))
            third = (seconds - 2 * settle) / 3
            for at in _times(rng, count, settle + third, settle + 2 * third, taken):
                taken.append(at)
                faults.append(Fault(at, kind))
    for kind in (UNPLUG, KILL_PRINT_SERVER, CANCEL, RESTART_HUB, RELOAD_NGINX):
        if kind not in kinds:
            continue
        scale = hours * (printers if kind in PER_PRINTER else 1)
        count = max(1, round(RATES[kind] * scale))
        for at in _times(rng, count, settle, seconds - settle, taken):
            taken.append(at)
            printer = rng.choice(names) if kind in PER_PRINTER else None
            out = round(rng.uniform(3, 20), 1) if kind == UNPLUG else 0.0
            faults.append(Fault(at, kind, printer, out))
    return Plan(seed, fleet, tuple(sorted(faults, key=lambda f: f.at)))
