"""The dispatch check's decision time: one dispatch round over 100 printers and 1,000 queued
entries (hub/queue/dispatcher.py ``Dispatcher.choose`` for every printer, the real code on a
real SQLite database), p50/p95 over many rounds.

The hub's own objects, in one process, nothing sent: the fleet file, the database with the
queued entries (each with its file's material, nozzle, box and filament), the live state of
every printer, and in-memory power, spool and maintenance sources that answer as the
services do from their caches (no I/O: the check reads caches only, as in the hub).

Scenarios, each measured on its own:

- ``busy``: 90 printers printing, 10 ready with full spools: the round finds a job for
  each free printer near the top of the queue (the everyday case);
- ``all_held``: every printer ready and idle, every entry held by its spool (each printer
  has 2 g left): the round checks every entry on every printer — 100,000 checks, the worst
  case;
- ``mixed``: 100 printers in every state (printing, bed not clear, offline, power off,
  overdue, unknown power, short spools), entries of three materials and two nozzles.

The round is timed without sending: the chosen entries are not taken off the queue, so every
round decides the same thing (what a dispatcher round costs, not the uploads).

    python -m bench.dispatch_check [--printers 100] [--jobs 1000] [--copies 10] [--rounds 30]
                                   [--json out.json]

Entries that ask the same (copies of a file) are checked once per printer, so ``--copies 1``
(1,000 different files) is the dispatcher's slowest queue.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.config import HubConfig
from hub.dispatch.sources import Sources
from hub.fleet.live import PrinterLive
from hub.queue import store as queue_store
from hub.queue.dispatcher import Dispatcher, group_entries
from hub.queue.gcode_scan import Box, GcodeFacts
from hub.server import make_context

MATERIALS = ("PLA", "PETG", "ASA")


@dataclass(frozen=True, slots=True)
class Power:
    known: bool
    on: bool | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Spool:
    name: str
    remaining_g: float | None
    material: str | None
    error: str | None = None

    def grams(self, filament_mm: float) -> float:
        return filament_mm * 0.002982  # 1.75 mm PLA at 1.24 g/cm³


class PowerCache:
    def __init__(self, states: dict[str, Power]) -> None:
        self.states = states

    def state(self, printer: str) -> Power | None:
        return self.states.get(printer)

    async def ensure_on(self, printer: str) -> None:
        return None


class SpoolCache:
    def __init__(self, spools: dict[str, Spool]) -> None:
        self.spools = spools

    @property
    def enabled(self) -> bool:
        return True

    def loaded(self, printer: str, tool: int = 0) -> Spool | None:
        return self.spools.get(printer)

    async def refresh(self, printer: str) -> None:
        return None


class Overdue:
    def __init__(self, tasks: dict[str, list[str]]) -> None:
        self.tasks = tasks

    def overdue(self, printer: str) -> list[str]:
        return self.tasks.get(printer, [])


def printer_json(n: int) -> dict[str, Any]:
    name = f"p{n:03d}"
    profile = {
        "materials": list(MATERIALS[: 1 + n % 3]),
        "nozzle": 0.6 if n % 10 == 9 else 0.4,
        "bed": {"x": 250, "y": 210, "z": 210},
    }
    return {
        "name": name, "path": f"/printers/{name}/", "upstream": f"http://printer-{name}:8080",
        "camera": None, "groups": [f"g{n % 5}"], "tags": ["enclosure"] if n % 4 == 0 else [],
        "profile": profile,
    }  # fmt: skip


def live(name: str, state: str, bed_clear: bool = True) -> PrinterLive:
    return PrinterLive(name, state, True, {"state": state, "bed_clear": bed_clear, "heaters": {}})


def scenario(kind: str, names: list[str]) -> tuple[dict[str, PrinterLive], Sources]:
    states: dict[str, PrinterLive] = {}
    power: dict[str, Power] = {}
    spools: dict[str, Spool] = {}
    overdue: dict[str, list[str]] = {}
    for n, name in enumerate(names):
        full = Spool(f"PLA #{n}", 800.0, "PLA")
        if kind == "busy":
            states[name] = live(name, "printing" if n % 10 else "ready")
            spools[name] = full
        elif kind == "all_held":
            states[name] = live(name, "ready")
            spools[name] = Spool(f"PLA #{n}", 2.0, "PLA")
        else:
            pick = n % 8
            states[name] = live(
                name,
                ("printing", "ready", "bed not cleared", "offline", "ready", "ready", "ready",
                 "ready")[pick],
                bed_clear=pick != 2,
            )  # fmt: skip
            power[name] = Power(True, pick != 3)
            if pick == 5:
                power[name] = Power(False, None, "plug does not answer")
            spools[name] = full if pick != 6 else Spool(f"PLA #{n}", 3.0, "PLA")
            if pick == 7:
                overdue[name] = ["Replace nozzle: 312 of 300 print hours"]
    return states, Sources(PowerCache(power), SpoolCache(spools), Overdue(overdue))


def fill_queue(ctx: Any, jobs: int, per_file: int) -> None:
    shapes = [(material, nozzle) for material in MATERIALS for nozzle in (0.4, 0.6)]
    for start in range(0, jobs, per_file):
        incoming = queue_store.incoming_path(ctx.config.data_dir)
        incoming.write_text("G1 X1 E1\n")
        material, nozzle = shapes[start % len(shapes)]
        # Every file its own amount of filament: no two files ask quite the same.
        facts = GcodeFacts(Box(20, 120, 20, 120, 0.2, 30), material, nozzle, 3600.0, 1000,
                           4000.0 + start)  # fmt: skip
        file = queue_store.add_file(
            ctx.db, ctx.config.data_dir, f"part{start}.gcode", incoming, facts
        )
        target = "fleet" if start % 3 else f"group:g{start % 5}"
        tags = ("enclosure",) if start % 7 == 0 else ()
        queue_store.add_jobs(ctx.db, file, per_file, target, tags, 0, "ada")


def measure(kind: str, printers: int, jobs: int, rounds: int, copies: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-dispatch-") as folder:
        root = Path(folder)
        fleet = root / "fleet.json"
        fleet.write_text(json.dumps({"site": {"max_heating": 0},
                                     "printers": [printer_json(n) for n in range(printers)],
                                     "cameras": []}))  # fmt: skip
        config = HubConfig(data_dir=root / "data", fleet_file=fleet, gate_key_file=root / "key")
        ctx = make_context(config)
        fill_queue(ctx, jobs, copies)
        names = [p.name for p in ctx.fleet.printers]
        states, sources = scenario(kind, names)
        for state in states.values():
            ctx.live.update(state)
        dispatcher = Dispatcher(ctx, sources)
        timings: list[float] = []
        chosen = 0
        for _ in range(rounds):
            began = time.perf_counter()
            queued = queue_store.jobs(ctx.db, ("queued",))
            occupied: dict[str, str] = {}
            heating = dispatcher.heating(time.time())
            chosen = 0
            groups = group_entries(queued)
            for printer in ctx.fleet.printers:
                if dispatcher.choose(printer, queued, occupied, heating, groups) is not None:
                    chosen += 1
            timings.append(time.perf_counter() - began)
        ctx.db.close()
    timings.sort()
    return {
        "scenario": kind,
        "printers": printers,
        "queued": jobs,
        "copies_per_file": copies,
        "rounds": rounds,
        "printers_given_a_job": chosen,
        "p50_ms": round(statistics.median(timings) * 1000, 2),
        "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)] * 1000, 2),
        "min_ms": round(timings[0] * 1000, 2),
        "max_ms": round(timings[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--copies", type=int, default=10, help="queue entries per file")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [
        measure(k, args.printers, args.jobs, args.rounds, args.copies)
        for k in ("busy", "mixed", "all_held")
    ]
    for r in results:
        print(
            f"{r['scenario']:>9}: {r['printers']} printers, {r['queued']} queued "
            f"({r['copies_per_file']} per file), "
            f"{r['printers_given_a_job']} given a job; round p50 {r['p50_ms']} ms, "
            f"p95 {r['p95_ms']} ms (min {r['min_ms']}, max {r['max_ms']})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
