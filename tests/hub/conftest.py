"""A real hub process and real simulated printers (fabfleet-sim + fabfleet-instance) for the
hub's tests; nothing is mocked."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from orchestrator.demo.runtime import Demo, DemoPrinter

if TYPE_CHECKING:
    from tests.hub.mosquitto import Broker

BIN = Path(sys.executable).parent


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free TCP ports on 127.0.0.1."""
    for first in range(20000 + (time.monotonic_ns() // 1000) % 20000, 60000, count + 7):
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def unused_port() -> int:
    """A port nothing listens on (a print server that is not running)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def printer_entry(name: str, url: str, **extra: Any) -> dict[str, Any]:
    """One printer of fleet.json (docs/hub.md) reached at ``url``."""
    entry: dict[str, Any] = {
        "name": name,
        "path": f"/printers/{name}/",
        "upstream": url.rstrip("/"),
        "camera": None,
        "groups": [],
        "tags": [],
        "profile": {"materials": [], "nozzle": 0.4, "bed": None},
    }
    entry.update(extra)
    return entry


@dataclass
class HubProcess:
    url: str
    data_dir: Path
    fleet_file: Path
    process: subprocess.Popen[str]
    log: Path
    gate_key_file: Path
    # The gate-only listener's check address, when FABFLEET_GATE_LISTEN asked for one.
    gate_url: str | None = None

    def write_fleet(self, fleet: dict[str, Any]) -> None:
        """Replace fleet.json by rename, as `fabfleet render` does."""
        temporary = self.fleet_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(fleet))
        temporary.replace(self.fleet_file)

    def gate_key(self) -> str:
        """The master key's text (hex), as the hub read it."""
        return self.gate_key_file.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_hub_process(
    data_dir: Path,
    fleet: dict[str, Any],
    extra_env: dict[str, str] | None = None,
    gate_key_file: Path | None = None,
) -> HubProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    fleet_file = data_dir / "fleet.json"
    fleet_file.write_text(json.dumps(fleet))
    log = data_dir / "hub.log"
    env = {"PATH": str(BIN) + ":/usr/bin:/bin", **(extra_env or {})}
    # A checkout run with PYTHONPATH (a worktree beside the installed one) runs its own hub.
    if "PYTHONPATH" in os.environ:
        env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(BIN / "fabfleet-hub"), "serve", "--data-dir", str(data_dir),
             "--fleet-file", str(fleet_file), "--listen", "127.0.0.1:0",
             "--gate-key-file", str(gate_key_file or data_dir / "gate.key")],
            stdout=subprocess.PIPE, stderr=errors, text=True, env=env,
        )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if "fabfleet hub on " not in line:
        process.kill()
        process.wait()
        process.stdout.close()
        raise RuntimeError(f"the hub did not start: {line!r}; log:\n{log.read_text()}")
    url = line.split("fabfleet hub on ", 1)[1].strip()
    gate_url = None
    if env.get("FABFLEET_GATE_LISTEN"):
        gate_line = process.stdout.readline()
        assert "fabfleet hub's gate alone on " in gate_line, gate_line
        gate_url = gate_line.split(" alone on ", 1)[1].strip()
    return HubProcess(
        url, data_dir, fleet_file, process, log, gate_key_file or data_dir / "gate.key", gate_url
    )


def gate_key_path(tmp_path: Path) -> Path:
    """The one gate master key of a test: the hub signs with it, and the simulated printers'
    print servers verify with keys derived from it (they run in gate mode, as in the stack)."""
    return tmp_path / "secrets" / "gate.key"


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[Callable[..., HubProcess]]:
    """``start_hub(fleet)`` → a running ``fabfleet-hub serve`` on a free port."""
    started: list[HubProcess] = []

    def start(fleet: dict[str, Any] | None = None, **kwargs: Any) -> HubProcess:
        kwargs.setdefault("gate_key_file", gate_key_path(tmp_path))
        hub = start_hub_process(
            tmp_path / f"hub{len(started)}", fleet or {"printers": [], "cameras": []}, **kwargs
        )
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@dataclass
class SimulatedFleet:
    printers: list[DemoPrinter] = field(default_factory=list)
    demo: Demo | None = None

    def fleet(self, **per_printer: dict[str, Any]) -> dict[str, Any]:
        """fleet.json for these printers; ``per_printer[name]`` adds fields to one of them."""
        return {
            "site": {"max_heating": 0},
            "printers": [
                printer_entry(p.name, p.url, **per_printer.get(p.name, {})) for p in self.printers
            ],
            "cameras": [],
        }


@pytest.fixture
def simulated_printers(tmp_path: Path) -> Iterator[Callable[..., SimulatedFleet]]:
    """``simulated_printers(n, time_factor=…)`` → n real print servers on simulated Marlins,
    named demo-1 … demo-n (the demo's processes), verifying the gate's identity."""
    demos: list[Demo] = []

    def start(count: int, time_factor: float = 50.0, hub_url: str | None = None) -> SimulatedFleet:
        # The demo's directory is the test's: its secrets/gate.key is the hub's key.
        demo = Demo(tmp_path, count, free_ports(1), time_factor)
        # With a hub URL, every start asks that hub's dispatch check first.
        demo.hub_url = hub_url
        demos.append(demo)
        demo.start_printers(lambda _line: None)
        return SimulatedFleet(list(demo.printers), demo)

    yield start
    for demo in demos:
        demo.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on a free loopback port (tests/hub/mosquitto.py)."""
    from tests.hub.mosquitto import start_broker

    found = start_broker(tmp_path, unused_port())
    yield found
    found.stop()


def printer_acts(hub: HubProcess) -> list[tuple[str, str, str, str, str | None]]:
    """The audit log's acts on printers (fleet actions, MQTT commands) in order: (user,
    action, printer, detail, outcome)."""
    from hub.db import open_database

    db = open_database(hub.data_dir / "hub.sqlite", [])
    try:
        rows = db.execute(
            "SELECT a.user, a.action, a.printer, a.detail, x.outcome FROM audit a"
            " LEFT JOIN audit_acts x ON x.entry = a.id"
            " WHERE a.action LIKE 'printer.%' ORDER BY a.id"
        )
        return [(r["user"], r["action"], r["printer"], r["detail"], r["outcome"]) for r in rows]
    finally:
        db.close()


def login(hub_url: str, username: str, password: str) -> requests.Session:
    """A requests session logged in to the hub; it sends the CSRF token on changes."""
    session = requests.Session()
    answer = session.post(
        hub_url + "api/login", json={"username": username, "password": password}, timeout=60
    )
    answer.raise_for_status()
    session.headers["X-CSRF-Token"] = answer.json()["csrf"]
    return session


def add_admin(hub: HubProcess, name: str, password: str) -> None:
    """An admin account in a running hub's database (as ``fabfleet user add`` makes one)."""
    from hub.app import schemas
    from hub.auth.accounts import create_user
    from hub.db import open_database

    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, name, password, "admin")
    finally:
        db.close()
