"""The hub's dashboard under a fleet: update latency to a real browser, hub CPU and memory.

Starts N simulated printers (``fabfleet-sim`` + ``fabfleet-instance serve`` in
gate mode, no nginx, no second hub), one ``fabfleet-hub serve`` following them,
and a headless Chromium on the dashboard (logged in as an admin). Then:

1. load: every printer's bed target changes once a second (each print server
   sends a ``state`` event a second or more), for ``--load-seconds``: the
   hub's CPU (% of one core) and RSS over that window;
2. latency, with the load still on: ``--samples`` times, one printer's hotend
   target is set through its print server's API and the time is taken until
   the dashboard's DOM shows it (a MutationObserver in the page notes the
   moment); p50/p95/max.

    python -m bench.hub_dashboard [--printers 50] [--samples 150] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests
from playwright.sync_api import sync_playwright

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from orchestrator.stack.secrets import Owner, ensure_secrets, printer_key_file
from tests.browser.conftest import FLAGS, chromium
from tests.hub.conftest import printer_entry

BIN = Path(sys.executable).parent
PASSWORD = "benchmark password"

# The page's side of a sample: resolves with the epoch time (ms) at which the
# card of `name` first shows a hotend target of `target`.
WATCH = """([name, target]) => { window.__shown = new Promise((resolve) => {
  const node = document.querySelector(`[data-printer="${name}"] .hotend`);
  const wanted = `/ ${target} °C`;
  const done = () => performance.timeOrigin + performance.now();
  if (node.textContent.includes(wanted)) { resolve(done()); return; }
  const observer = new MutationObserver(() => {
    if (node.textContent.includes(wanted)) { observer.disconnect(); resolve(done()); }
  });
  observer.observe(node, { childList: true, characterData: true, subtree: true });
  setTimeout(() => { observer.disconnect(); resolve(null); }, 5000);
}); }"""


@dataclass
class Fleet:
    workdir: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    key: bytes = b""
    # The hotend target each printer should keep (the load sends it with each bed change).
    hotend: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spawn(self, command: list[str], log: Path) -> subprocess.Popen[str]:
        with log.open("w") as errors:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True
            )
        self.processes.append(process)
        return process

    def start_printers(self, count: int) -> None:
        names = [f"bench-{i}" for i in range(1, count + 1)]
        ensure_secrets(self.workdir, names, Owner(os.getuid(), os.getgid()))
        self.key = read_master_key(self.workdir / "secrets" / "gate.key")
        sims = {}
        for name in names:
            home = self.workdir / name
            (home / "data").mkdir(parents=True)
            sims[name] = self.spawn(
                [str(BIN / "fabfleet-sim"), "--tcp", "127.0.0.1:0",
                 "--move-timing", "accelerated", "--time-factor", "1"],
                home / "simulator.log",
            )  # fmt: skip
        servers = {}
        for name, sim in sims.items():
            assert sim.stdout is not None
            address = sim.stdout.readline().rsplit("listening on", 1)[1].strip()
            home = self.workdir / name
            servers[name] = self.spawn(
                [str(BIN / "fabfleet-instance"), "serve", "--port", f"socket://{address}",
                 "--data-dir", str(home / "data"), "--listen", "127.0.0.1:0", "--printer", name,
                 "--gate-key-file", str(self.workdir / printer_key_file(name))],
                home / "server.log",
            )  # fmt: skip
        for name, server in servers.items():
            assert server.stdout is not None
            line = server.stdout.readline()
            assert " on http://" in line, f"{name}: {line!r}"
            self.urls[name] = line.rsplit(" on ", 1)[1].strip()

    def start_hub(self, fleet: dict[str, Any] | None = None) -> tuple[str, subprocess.Popen[str]]:
        """The hub on ``fleet`` (fleet.json's content), by default the started printers."""
        data = self.workdir / "hub"
        data.mkdir()
        fleet = fleet or {
            "printers": [printer_entry(n, u, groups=[f"row-{i % 5}"])
                         for i, (n, u) in enumerate(self.urls.items())],
            "cameras": [],
        }  # fmt: skip
        (data / "fleet.json").write_text(json.dumps(fleet))
        hub = self.spawn(
            [str(BIN / "fabfleet-hub"), "serve", "--data-dir", str(data),
             "--gate-key-file", str(self.workdir / "secrets" / "gate.key"),
             "--listen", "127.0.0.1:0"],
            self.workdir / "hub.log",
        )  # fmt: skip
        assert hub.stdout is not None
        url = hub.stdout.readline().split(" on ", 1)[1].strip()
        db = open_database(data / "hub.sqlite", schemas())
        create_user(db, "bench", PASSWORD, "admin")
        db.close()
        return url, hub

    def post(self, session: requests.Session, name: str, path: str, body: Any) -> None:
        headers = {HEADER: identity_for(self.key, name, "bench", True)}
        answer = session.post(self.urls[name] + path, json=body, headers=headers, timeout=10)
        answer.raise_for_status()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def load(fleet: Fleet, stop: threading.Event) -> None:
    """Each printer's bed target changes once a second, spread over the second."""
    session = requests.Session()
    names = list(fleet.urls)
    tick = 0
    while not stop.is_set():
        start = time.monotonic()
        for index, name in enumerate(names):
            if stop.is_set():
                return
            with fleet.lock:
                body = {"hotend": fleet.hotend.get(name, 0), "bed": 40 + (tick + index) % 20}
                fleet.post(session, name, "api/v1/control/temperature", body)
            pause = start + (index + 1) / len(names) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        tick += 1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(printers: int, samples: int, load_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-hub-") as temporary:
        fleet = Fleet(Path(temporary))
        try:
            started = time.monotonic()
            fleet.start_printers(printers)
            url, hub = fleet.start_hub()
            print(f"{printers} printers and the hub up in {time.monotonic() - started:.0f} s",
                  flush=True)  # fmt: skip
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium(), headless=True, args=FLAGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                answer = page.request.post(
                    url + "api/login", data={"username": "bench", "password": PASSWORD}
                )
                assert answer.status == 200, answer.text()
                page.goto(url)
                page.wait_for_function(
                    f"document.querySelectorAll('.printer-card[data-state=\"ready\"]').length"
                    f" === {printers}",
                    timeout=120000,
                )
                stop = threading.Event()
                loader = threading.Thread(target=load, args=(fleet, stop), daemon=True)
                loader.start()
                time.sleep(3)  # the load settles
                process = psutil.Process(hub.pid)
                process.cpu_percent()
                time.sleep(load_seconds)
                cpu = process.cpu_percent()
                rss = process.memory_info().rss
                session = requests.Session()
                names = list(fleet.urls)
                delays: list[float] = []
                missed = 0
                for sample in range(samples):
                    name = names[sample * 7 % len(names)]
                    target = 150 + sample % 100
                    page.evaluate(WATCH, [name, target])
                    with fleet.lock:
                        fleet.hotend[name] = target
                        sent = time.time()
                        fleet.post(session, name, "api/v1/control/temperature",
                                   {"hotend": target})  # fmt: skip
                    shown = page.evaluate("window.__shown")
                    if shown is None:
                        missed += 1
                        continue
                    delays.append((shown / 1000 - sent) * 1000)
                    time.sleep(0.05)
                stop.set()
                loader.join()
                browser.close()
        finally:
            fleet.stop()
    return {
        "printers": printers,
        "samples": len(delays),
        "missed": missed,
        "latency_ms": {
            "p50": round(statistics.median(delays), 1),
            "p95": round(percentile(delays, 0.95), 1),
            "max": round(max(delays), 1),
        },
        "hub_cpu_percent_of_one_core": round(cpu, 1),
        "hub_rss_mb": round(rss / 2**20, 1),
        "load_seconds": load_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, nargs="+", default=[50])
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    results = []
    for count in arguments.printers:
        result = run(count, arguments.samples, arguments.load_seconds)
        latency = result["latency_ms"]
        print(
            f"{count} printers: printer event -> dashboard DOM p50 {latency['p50']} ms, "
            f"p95 {latency['p95']} ms, max {latency['max']} ms ({result['samples']} samples, "
            f"{result['missed']} not shown within 5 s); "
            f"hub {result['hub_cpu_percent_of_one_core']} % of one core, "
            f"RSS {result['hub_rss_mb']} MB (every printer reporting once a second)",
            flush=True,
        )
        results.append(result)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
