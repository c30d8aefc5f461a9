"""The hub's CPU and memory publishing 100 printers to MQTT, against the same hub not publishing.

Each run starts a Mosquitto (Debian's, as the tests do: tests/hub/mosquitto.py), the stand-in
fleet (bench/fake_fleet.py: N printing print servers in one process, each sending its whole
state once a second over the events WebSocket the hub's watchers follow, so the hub's live
state is fed through its own code path: hub/fleet/watch.py → hub/fleet/live.py →
hub/mqtt/publisher.py) and one ``fabfleet-hub serve`` with ``site.mqtt`` set, publishing on or
off (``site.mqtt.publish`` present or absent). After a warm-up, for ``--window`` seconds: the
hub's CPU seconds (psutil, user + system) scaled to a minute, its RSS at the end, and (with
publishing on) the messages a subscriber to ``fabfleet/#`` received per second.

    python -m bench.mqtt_publish [--printers 100] [--runs 3] [--window 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from bench import fake_fleet
from bench.hub_dashboard import Fleet
from orchestrator.stack.secrets import Owner, ensure_secrets
from tests.hub.conftest import printer_entry, unused_port
from tests.hub.mosquitto import start_broker

WARM_UP = 10.0


class Counter:
    """A subscriber to the hub's topics, counting what arrives."""

    def __init__(self, port: int) -> None:
        self.count = 0
        self.printers: set[str] = set()
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe("fabfleet/#")
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, _client: paho.Client, _data: Any, message: Any) -> None:
        with self.lock:
            self.count += 1
            if message.topic.endswith("/state"):
                self.printers.add(message.topic.split("/")[2])

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def one_run(count: int, publishing: bool, window: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-mqtt-") as temporary:
        workdir = Path(temporary)
        broker = start_broker(workdir, unused_port())
        processes = Fleet(workdir)
        counter = Counter(broker.port)
        try:
            base = fake_fleet.start(processes.spawn, count, workdir / "fleet.log")
            ensure_secrets(workdir, [], Owner(os.getuid(), os.getgid()))
            names = [f"bench-{i}" for i in range(1, count + 1)]
            mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": broker.port}
            if publishing:
                mqtt["publish"] = {}
            fleet = {
                "site": {"mqtt": mqtt},
                "printers": [printer_entry(n, f"{base}/p/{n}") for n in names],
                "cameras": [],
            }
            _url, hub_process = processes.start_hub(fleet)
            hub = psutil.Process(hub_process.pid)
            deadline = time.monotonic() + 60
            while publishing and len(counter.printers) < count:
                assert time.monotonic() < deadline, f"{len(counter.printers)} printers published"
                time.sleep(0.2)
            time.sleep(WARM_UP)
            before, received = hub.cpu_times(), counter.count
            started = time.monotonic()
            time.sleep(window)
            after, elapsed = hub.cpu_times(), time.monotonic() - started
            rss = hub.memory_info().rss
            cpu = (after.user + after.system) - (before.user + before.system)
            return {
                "cpu_s_per_min": round(cpu * 60 / elapsed, 2),
                "rss_mb": round(rss / 2**20, 1),
                "messages_per_s": round((counter.count - received) / elapsed, 1),
            }
        finally:
            counter.stop()
            processes.stop()
            broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args(argv)
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for run in range(arguments.runs):
        # Alternating, so a noisy minute of the machine falls on both sides.
        for mode in ("off", "on") if run % 2 == 0 else ("on", "off"):
            found = one_run(arguments.printers, mode == "on", arguments.window)
            results[mode].append(found)
            print(f"run {run + 1}, publishing {mode}: {found}", flush=True)
    for mode, runs in results.items():
        for key in ("cpu_s_per_min", "rss_mb", "messages_per_s"):
            values = [r[key] for r in runs]
            print(f"publishing {mode}: {key} {min(values)} to {max(values)} ({values})")
    if arguments.json is not None:
        arguments.json.write_text(json.dumps({"printers": arguments.printers, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
