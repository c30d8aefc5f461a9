"""The power-off guard's reaction time: from a printer's job end (or its cool-down below the
limit) being reported to the switch-off request reaching its power device.

A real hub process (``fabfleet-hub serve``), one real print server on a simulated Marlin
(the demo's processes) and a Tasmota plug stand-in (tests/hub/power_stand_ins.py) as its
power device, with ``site.power`` ``idle_minutes: 0`` and ``hotend_off_below: 100``. Each run
switches the plug on through the hub's API, then:

- **job end**: prints a short file with no heating; the latency runs from the job's
  ``ended_at`` (the print server's clock) to the plug's ``Power1 Off`` request (the same
  host's clock);
- **cool-down**: heats the hotend to 140 °C (and waits for the reading), prints the same
  file; after the job the print server switches the heaters off and the hotend cools; the
  latency runs from the print server's first event with the hotend below 100 °C (the bench
  follows its events stream, as the hub does) to ``Power1 Off``.

The hub's path: a live state change wakes the auto-off loop, the guard allows, the hub asks
the plug and the print server once more (fresh readings), then switches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import requests

from bench.hub_dispatch import percentile, wait
from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from orchestrator.demo.runtime import Demo
from tests.hub.conftest import SimulatedFleet, free_ports, login, start_hub_process
from tests.hub.power_stand_ins import TasmotaPlug, serving

PASSWORD = "bench-power-password"
MOVES = "".join(f"G1 X{10 + i} Y10 E{0.1 * (i + 1):.1f} F3000\n" for i in range(10))
COLD = "; nozzle_diameter = 0.4\nG90\nM82\nG92 E0\n" + MOVES


BUSY = ("printing", "pausing", "paused", "cancelling")


class Events(threading.Thread):
    """The print server's events stream, as the hub receives it: (wall time, state, hotend
    reading) of every ``state`` event."""

    def __init__(self, url: str, identity: str) -> None:
        super().__init__(daemon=True)
        self.url = url.replace("http://", "ws://")
        self.identity = identity
        self.seen: list[tuple[float, str, float | None]] = []

    def run(self) -> None:
        asyncio.run(self.follow())

    async def follow(self) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(self.url, headers={HEADER: self.identity}) as socket,
        ):
            async for message in socket:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(message.data)
                if event.get("type") == "state":
                    hotend = (event.get("heaters") or {}).get("T0") or {}
                    self.seen.append((time.time(), event["state"], hotend.get("actual")))


def summary(values: list[float]) -> dict[str, float]:
    return {
        "runs": len(values),
        "p50_ms": round(percentile(values, 0.5) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
    }


def run(workdir: Path, runs: int, time_factor: float) -> dict[str, Any]:
    demo = Demo(workdir / "printers", 1, free_ports(1), time_factor)
    demo.start_printers(lambda _line: None)
    try:
        with serving(TasmotaPlug(power=[True])) as stand_in:
            assert isinstance(stand_in, TasmotaPlug)
            return measure(workdir, demo, stand_in, runs)
    finally:
        demo.stop()


def measure(workdir: Path, demo: Demo, plug: TasmotaPlug, runs: int) -> dict[str, Any]:
    printers = SimulatedFleet(list(demo.printers), demo)
    name = printers.printers[0].name
    host = plug.url.removeprefix("http://")
    fleet = printers.fleet(**{name: {"power": {"type": "tasmota", "host": host}}})
    fleet["site"]["power"] = {"idle_minutes": 0, "hotend_off_below": 100}
    key_file = demo.workdir / "secrets" / "gate.key"
    key = read_master_key(key_file)
    # The code under test when it is not the installed one (a worktree).
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    hub = start_hub_process(workdir / "hub", fleet, path, gate_key_file=key_file)
    try:
        db = open_database(hub.data_dir / "hub.sqlite", schemas())
        try:
            create_user(db, "bench", PASSWORD, "admin")
        finally:
            db.close()
        session = login(hub.url, "bench", PASSWORD)
        server = printers.printers[0].url
        headers = {HEADER: identity_for(key, name, "bench", True)}

        def printer() -> dict[str, Any]:
            found: dict[str, Any] = requests.get(
                server + "api/v1/printer", headers=headers, timeout=10
            ).json()
            return found

        answer = requests.post(
            server + "api/v1/files",
            headers=headers,
            files={"file": ("cold.gcode", COLD)},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text

        def hotend() -> float:
            return float(printer()["heaters"]["T0"]["actual"] or 0)

        def one(hot: bool) -> float:
            wait("the printer ready", lambda: printer()["state"] in ("ready", "finished"))
            if not printer()["bed_clear"]:
                requests.post(server + "api/v1/bed/clear", headers=headers, timeout=10)
            if hot:
                heat = {"hotend": 140}
                requests.post(server + "api/v1/control/temperature", headers=headers, json=heat)
                wait("the hotend at 140 °C", lambda: hotend() >= 138)
            switched = session.post(hub.url + f"api/printers/{name}/power", json={"on": True})
            assert switched.status_code == 200, switched.text
            seen = len(plug.requests)
            answer = requests.post(
                server + "api/v1/job", headers=headers, json={"file": "cold.gcode"}, timeout=10
            )
            assert answer.status_code == 201, answer.text
            wait("the switch-off", lambda: plug.switched_off_at(after=seen), within=120)
            off = plug.switched_off_at(wall=True, after=seen)
            assert off is not None
            ended = float(printer()["last_job"]["ended_at"])
            if not hot:
                return float(off - ended)
            # When the print server first reported the hotend below 100 °C after the job.
            after = [
                (at, c) for at, state, c in list(events.seen) if at >= ended and state not in BUSY
            ]
            assert any(c is not None and c >= 100 for _, c in after), "it never reported hot"
            reported = next(at for at, c in after if c is not None and c < 100)
            assert reported <= off, "switched off before the hotend had cooled"
            return float(off - reported)

        events = Events(server + "api/v1/events?log=0", identity_for(key, name, "bench", False))
        events.start()
        job_end = [one(hot=False) for _ in range(runs)]
        cool_down = [one(hot=True) for _ in range(runs)]
    finally:
        hub.stop()
    return {"job_end": summary(job_end), "cool_down": summary(cool_down)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--time-factor", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-power-") as workdir:
        found = run(Path(workdir), args.runs, args.time_factor)
    for what, figures in found.items():
        print(
            f"{what:<10} runs {figures['runs']}: p50 {figures['p50_ms']} ms, "
            f"p95 {figures['p95_ms']} ms, range {figures['min_ms']} to {figures['max_ms']} ms"
        )
    if args.json:
        args.json.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
