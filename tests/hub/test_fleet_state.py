"""The hub's live view of the fleet (hub/fleet/watch.py) against real print servers.

The hub runs in this process (``hub.server.open_hub``: its real aiohttp app and
tasks) so the test reads ``ctx.live`` as the dashboard and the queue do; the
print servers are real ``fabfleet-instance`` processes on simulated Marlins.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.config import from_environment
from hub.fleet import watch as fleet_state
from hub.fleet.live import UNREACHABLE, PrinterLive
from hub.server import RunningHub, open_hub
from tests.hub.conftest import SimulatedFleet, printer_entry

pytestmark = pytest.mark.timeout(180)


def write_fleet(path: Path, fleet: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(fleet))
    temporary.replace(path)


def gate_key_file(printers: SimulatedFleet) -> Path:
    """The master key the demo's print servers derive their keys from."""
    assert printers.demo is not None
    return printers.demo.workdir / "secrets" / "gate.key"


async def hub_for(tmp_path: Path, printers: SimulatedFleet, fleet: dict[str, Any]) -> RunningHub:
    data = tmp_path / "hub"
    data.mkdir()
    write_fleet(data / "fleet.json", fleet)
    config = from_environment(
        data_dir=str(data), listen="127.0.0.1:0", gate_key_file=str(gate_key_file(printers))
    )
    return await open_hub(config)


async def until(
    hub: RunningHub, name: str, test: Callable[[PrinterLive], bool], within: float = 60.0
) -> None:
    """Wait until ``test(live)`` holds for printer ``name``; fails after ``within`` seconds (a
    deadline for a busy machine, not a measure of speed)."""
    deadline = time.monotonic() + within
    while True:
        live = hub.ctx.live.printers.get(name)
        if live is not None and test(live):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{name} after {within} s: {live}")
        await asyncio.sleep(0.02)


def retry_waits(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[float]]:
    """The seconds each watcher task sleeps between connection attempts, by task name: the
    watchers' ``asyncio.sleep`` is recorded, then done."""
    waits: dict[str, list[float]] = {}
    real_sleep = asyncio.sleep

    async def sleep(delay: float) -> None:
        task = asyncio.current_task()
        if task is not None:
            waits.setdefault(task.get_name(), []).append(delay)
        await real_sleep(delay)

    shim = types.ModuleType("asyncio")
    shim.__dict__.update(vars(asyncio))
    shim.sleep = sleep  # type: ignore[attr-defined]
    monkeypatch.setattr(fleet_state, "asyncio", shim)
    return waits


def server_process(fleet: SimulatedFleet, name: str) -> subprocess.Popen[str]:
    assert fleet.demo is not None
    for process in fleet.demo.processes:
        command = [str(a) for a in process.args]  # type: ignore[union-attr]
        if "fabfleet-instance" in command[0] and name in command and process.poll() is None:
            return process
    raise AssertionError(f"no print server process for {name}")


def restart_server(fleet: SimulatedFleet, dead: subprocess.Popen[str], url: str) -> None:
    """Start the print server again: same command, same simulator, on its old port."""
    assert fleet.demo is not None
    command = [str(a) for a in dead.args]  # type: ignore[union-attr]
    command[command.index("--listen") + 1] = url.removeprefix("http://").rstrip("/")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    fleet.demo.processes.append(process)
    assert process.stdout is not None
    assert " on http://" in process.stdout.readline()


def signed(printers: SimulatedFleet, url: str) -> dict[str, str]:
    """The gate's identity for the print server at ``url`` (they refuse requests without)."""
    name = next(p.name for p in printers.printers if url.startswith(p.url.rstrip("/")))
    key = read_master_key(gate_key_file(printers))
    return {HEADER: identity_for(key, name, "test", True)}


async def post(
    printers: SimulatedFleet, url: str, body: dict[str, Any] | None = None
) -> requests.Response:
    headers = signed(printers, url)
    return await asyncio.to_thread(requests.post, url, json=body, headers=headers, timeout=60)


def test_the_hub_follows_every_print_server_and_survives_one_dying(
    tmp_path: Path,
    simulated_printers: Callable[..., SimulatedFleet],
    monkeypatch: pytest.MonkeyPatch,
):
    fleet = simulated_printers(3, time_factor=20)
    url = {p.name: p.url for p in fleet.printers}
    # No heartbeat in time to find a dead server: only its connection dropping can tell.
    monkeypatch.setattr(fleet_state, "HEARTBEAT", 3600.0)
    waits = retry_waits(monkeypatch)

    async def scenario() -> None:
        hub = await hub_for(tmp_path, fleet, fleet.fleet())
        try:
            for name in url:
                await until(hub, name, lambda p: p.online and p.state == "ready")
            ready = hub.ctx.live.printers["demo-1"]
            assert ready.status["connected"] is True
            assert ready.status["bed_clear"] is True

            answer = await post(fleet, url["demo-1"] + "api/v1/job", {"file": "cube_slic3r.gcode"})
            assert answer.status_code == 201, answer.text
            await until(hub, "demo-1", lambda p: p.state == "printing")
            await until(hub, "demo-1", lambda p: (p.status["job"]["progress"] or 0) > 0.01)
            job = hub.ctx.live.printers["demo-1"].status["job"]
            assert job["file"] == "cube_slic3r.gcode"

            # demo-2's print server dies: marked unreachable as its connection drops (the
            # heartbeat is off); demo-1 keeps reporting.
            dead = server_process(fleet, "demo-2")
            waits.pop("watch demo-2", None)
            dead.send_signal(signal.SIGKILL)
            dead.wait()
            await until(hub, "demo-2", lambda p: p.state == UNREACHABLE)
            gone = hub.ctx.live.printers["demo-2"]
            assert gone.online is False and gone.status == {}
            before = hub.ctx.live.printers["demo-1"].status["job"]["progress"]
            await until(hub, "demo-1", lambda p: p.status["job"]["progress"] > before)
            assert hub.ctx.live.printers["demo-3"].state == "ready"

            # While it stays down the hub keeps trying, backing off: twice as long each time,
            # up to RETRY_MAX; once the server is back, so is the printer.
            deadline = time.monotonic() + 60
            while fleet_state.RETRY_MAX not in waits.get("watch demo-2", []):
                assert time.monotonic() < deadline, waits.get("watch demo-2")
                await asyncio.sleep(0.1)
            restart_server(fleet, dead, url["demo-2"])
            await until(hub, "demo-2", lambda p: p.online and p.state == "ready")
            backoff = waits["watch demo-2"][:6]
            assert backoff == [0.25, 0.5, 1.0, 2.0, 4.0, fleet_state.RETRY_MAX], backoff
        finally:
            await hub.close()

    asyncio.run(scenario())


def test_a_hung_print_server_delays_no_one_and_is_found_out(
    tmp_path: Path, simulated_printers: Callable[..., SimulatedFleet]
):
    fleet = simulated_printers(2, time_factor=20)
    url = {p.name: p.url for p in fleet.printers}
    # A host that accepts the TCP connection but never says anything.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    fleet_file = fleet.fleet()
    fleet_file["printers"].append(
        printer_entry("mute", f"http://127.0.0.1:{silent.getsockname()[1]}")
    )

    async def scenario() -> None:
        hub = await hub_for(tmp_path, fleet, fleet_file)
        try:
            for name in url:
                # Not held up by the mute one.
                await until(hub, name, lambda p: p.online and p.state == "ready")
            await asyncio.sleep(4)
            assert hub.ctx.live.printers["mute"].state == UNREACHABLE

            # demo-1's server stops (SIGSTOP): its open connection goes silent.
            hung = server_process(fleet, "demo-1")
            hung.send_signal(signal.SIGSTOP)
            try:
                answer = await post(
                    fleet, url["demo-2"] + "api/v1/control/temperature", {"hotend": 90}
                )
                assert answer.status_code == 202
                await until(hub, "demo-2", lambda p: p.status["heaters"]["T0"]["target"] == 90)
                # The heartbeat finds the silent connection out.
                await until(hub, "demo-1", lambda p: p.state == UNREACHABLE)
                answer = await post(
                    fleet, url["demo-2"] + "api/v1/control/temperature", {"hotend": 80}
                )
                await until(hub, "demo-2", lambda p: p.status["heaters"]["T0"]["target"] == 80)
            finally:
                hung.send_signal(signal.SIGCONT)
            await until(hub, "demo-1", lambda p: p.online and p.state == "ready")
        finally:
            await hub.close()
            silent.close()

    asyncio.run(scenario())


def test_printers_added_to_and_removed_from_fleet_json_are_followed(
    tmp_path: Path, simulated_printers: Callable[..., SimulatedFleet]
):
    fleet = simulated_printers(3, time_factor=20)
    everything = fleet.fleet()
    first_two = {**everything, "printers": everything["printers"][:2]}
    changes: list[tuple[str, str]] = []

    async def scenario() -> None:
        hub = await hub_for(tmp_path, fleet, first_two)
        hub.ctx.live.subscribe(lambda live: changes.append((live.name, live.state)))
        fleet_file = hub.ctx.config.fleet_file
        try:
            await until(hub, "demo-2", lambda p: p.state == "ready")
            assert "demo-3" not in hub.ctx.live.printers

            write_fleet(fleet_file, everything)
            await until(hub, "demo-3", lambda p: p.online and p.state == "ready")
            assert ("demo-3", "ready") in changes

            write_fleet(fleet_file, {**everything, "printers": everything["printers"][1:]})
            deadline = time.monotonic() + 60
            while "demo-1" in hub.ctx.live.printers:
                assert time.monotonic() < deadline, "demo-1 is still followed"
                await asyncio.sleep(0.05)
            # Its watcher is gone too: a change on demo-1 reaches no one.
            changes.clear()
            demo_1 = everything["printers"][0]["upstream"]
            answer = await post(fleet, demo_1 + "/api/v1/control/temperature", {"hotend": 70})
            assert answer.status_code == 202
            await asyncio.sleep(1.5)
            assert [c for c in changes if c[0] == "demo-1"] == []
            assert "demo-1" not in hub.ctx.live.printers
            assert hub.ctx.live.printers["demo-2"].state == "ready"
        finally:
            await hub.close()

    asyncio.run(scenario())
