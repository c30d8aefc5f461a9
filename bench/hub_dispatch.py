"""Fleet queue dispatch latency: from a person confirming a freed printer's bed clear to
that printer starting the next queued job.

A real hub process (``fabfleet-hub serve``) with a fleet file of ``--printers``
printers (default 50): ``--live`` of them are real print servers on simulated
Marlins (the demo's processes), the rest point at a closed port (offline: their
watchers retry, their queued jobs wait). The queue holds ``--runs`` copies of a
short G-code file for the measured printer and as many entries for the offline
printers, at a higher priority, so every dispatch round walks past them.

Each run: wait until the measured printer has finished its job and waits for
its bed, take the time, ``POST /api/v1/bed/clear`` on its print server, and
read the next job's ``started_at`` from the print server's history: the
latency is the difference (one host, one clock).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from orchestrator.demo.runtime import Demo
from tests.hub.conftest import (
    SimulatedFleet,
    free_ports,
    login,
    printer_entry,
    start_hub_process,
)

PASSWORD = "bench-dispatch-password"
# A few moves, no heating: the print itself takes well under a second.
SHORT = (
    "; filament_type = PLA\n; nozzle_diameter = 0.4\nG28\nG90\nM82\nG92 E0\nG1 Z0.2 F3000\n"
    + "".join(f"G1 X{10 + i} Y10 E{0.1 * (i + 1):.1f} F3000\n" for i in range(10))
)


def wait(what: str, test: Any, within: float = 60.0, on_fail: Any = None) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = test()
        if found:
            return found
        if time.monotonic() > deadline:
            if on_fail:
                on_fail()
            raise SystemExit(f"not within {within} s: {what}")
        time.sleep(0.01)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(workdir: Path, printers: int, live: int, runs: int) -> dict[str, Any]:
    demo = Demo(workdir / "printers", live, free_ports(1), 200.0)
    demo.start_printers(lambda _line: None)
    simulated = SimulatedFleet(list(demo.printers), demo)
    layout = simulated.fleet()
    for index in range(live, printers):
        layout["printers"].append(
            printer_entry(f"offline-{index}", "http://127.0.0.1:9", groups=["attic"])
        )
    key_file = demo.workdir / "secrets" / "gate.key"
    key = read_master_key(key_file)
    hub = start_hub_process(workdir / "hub", layout, gate_key_file=key_file)
    try:
        db = open_database(hub.data_dir / "hub.sqlite", schemas())
        create_user(db, "bench", PASSWORD, "admin")
        db.close()
        session = login(hub.url, "bench", PASSWORD)

        def submit(target: str, copies: int, priority: int) -> None:
            answer = session.post(
                hub.url + "api/queue",
                files={"file": ("short.gcode", SHORT.encode())},
                data={"target": target, "copies": str(copies), "priority": str(priority)},
                timeout=30,
            )
            answer.raise_for_status()

        waiting = 100 if printers > live else 0
        if waiting:
            submit("group:attic", waiting, 5)
        measured = simulated.printers[0]
        submit(f"printer:{measured.name}", runs + 1, 0)

        def headers() -> dict[str, str]:
            # Signed identities live a minute: a fresh one per request.
            return {HEADER: identity_for(key, measured.name, "bench", True)}

        def status() -> dict[str, Any]:
            answer = requests.get(measured.url + "api/v1/printer", headers=headers(), timeout=5)
            result: dict[str, Any] = answer.json()
            return result

        def newest_job() -> dict[str, Any]:
            answer = requests.get(
                measured.url + "api/v1/history?limit=1", headers=headers(), timeout=5
            )
            jobs: list[dict[str, Any]] = answer.json()["jobs"]
            return jobs[0] if jobs else {}

        def next_job(before: dict[str, Any]) -> dict[str, Any] | None:
            """The newest job of the history when it is not the one ``before`` ended with."""
            job = newest_job()
            return job if job.get("id") != (before.get("last_job") or {}).get("id") else None

        def explain() -> None:
            entries = session.get(hub.url + "api/queue", timeout=10).json()["entries"]
            mine = [e for e in entries if e["target"] != "group:attic"]
            print(json.dumps([(e["id"], e["state"], e["printer"], e["reason"]) for e in mine]))
            print(json.dumps(status()))

        latencies: list[float] = []
        for _ in range(runs):
            before = wait(
                "the printer finished and waits for its bed",
                lambda: (s := status())["bed_clear"] is False and s["state"] != "printing" and s,
            )
            cleared = time.time()
            requests.post(measured.url + "api/v1/bed/clear", headers=headers(), timeout=5)
            job = wait("the next job starts", lambda b=before: next_job(b), on_fail=explain)
            latencies.append(job["started_at"] - cleared)
        samples = [1000 * x for x in latencies]
        return {
            "printers_in_fleet": printers,
            "live_printers": live,
            "queued_entries": waiting + runs + 1,
            "runs": len(samples),
            "median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(percentile(samples, 0.95), 1),
            "max_ms": round(max(samples), 1),
            "min_ms": round(min(samples), 1),
        }
    finally:
        hub.stop()
        demo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=50)
    parser.add_argument("--live", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        result = run(Path(workdir), arguments.printers, arguments.live, arguments.runs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
