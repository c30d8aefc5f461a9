"""A fleet of simulated printers on the real images: `fabfleet up`, health, a print, status.

Only the simulators and the print servers are looked at, directly: each runs in
gate mode, so every request carries an identity signed with the stack's master
key (as the hub signs; tests/images/test_stack_proxy.py goes through the proxy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from docker.models.containers import Container

from orchestrator.cli import stack as stack_commands
from orchestrator.stack.images import RequireImages
from orchestrator.stack.secrets import identity_headers
from tests.images.conftest import Built
from tests.orchestrator.stack_helpers import Stack, make_stack, remove_project

NAMES = ("a", "b", "c")
HEALTHY_WITHIN = 90.0
PRINTED_WITHIN = 60.0
# A short job: homing and a few moves, no heating; at 100x it takes a second or two.
GCODE = b"; a small test part\nG28\nG90\nG1 X10 Y10 Z0.3 F3000\nG1 X40 Y10 E1.5 F1200\nG1 X40 Y40 E3\nG1 X10 Y40 E4.5\nM400\n"  # noqa: E501


def simulated_stack(
    tmp_path: Path, built: Built, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]
) -> Stack:
    """Simulated printers ``names`` (at 100x) on the session's images, under a compose
    project of their own."""
    stack = make_stack(tmp_path, built.repository)
    # The session built the images; `up` must only use them.
    monkeypatch.setattr(stack_commands, "image_provider", RequireImages())
    stack.write([{"name": name, "simulated": {"time_factor": 100}} for name in names])
    return stack


@pytest.fixture
def stack(
    tmp_path: Path, client: docker.DockerClient, built: Built, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """Three simulated printers on the session's images, under a compose project of their own."""
    stack = simulated_stack(tmp_path, built, monkeypatch, NAMES)
    yield stack
    remove_project(client, stack.project)


def containers(client: docker.DockerClient, stack: Stack) -> dict[str, Container]:
    return {
        service: client.containers.get(container_id)
        for service, (container_id, _) in stack.containers(client).items()
    }


def wait_healthy(client: docker.DockerClient, stack: Stack, services: list[str]) -> float:
    """Seconds until every one of ``services`` is healthy; fails with their states after 90 s."""
    start = time.monotonic()
    health: dict[str, str] = {}
    while time.monotonic() - start < HEALTHY_WITHIN:
        found = containers(client, stack)
        health = {
            s: str((found[s].attrs["State"].get("Health") or {}).get("Status", "none"))
            if s in found
            else "absent"
            for s in services
        }
        if all(h == "healthy" for h in health.values()):
            return time.monotonic() - start
        time.sleep(1)
    logs = {
        s: c.logs(tail=20).decode(errors="replace") for s, c in containers(client, stack).items()
    }
    pytest.fail(
        f"not healthy within {HEALTHY_WITHIN:.0f} s: {health}\n{json.dumps(logs, indent=1)}"
    )


def address(container: Container, stack: Stack) -> str:
    """The container's address on the stack's internal network, which the host reaches."""
    ip: str = container.attrs["NetworkSettings"]["Networks"][f"{stack.project}_internal"][
        "IPAddress"
    ]
    assert ip
    return ip


def signed(stack: Stack, printer: str) -> dict[str, str]:
    """The identity the hub would send: a test user who may act on ``printer``."""
    headers = identity_headers(stack.state_dir, printer, "tester", may_act=True)
    assert headers, "no gate key in the state directory"
    return headers


def get(base: str, path: str, headers: dict[str, str]) -> Any:
    response = requests.get(f"{base}{path}", headers=headers, timeout=5)
    response.raise_for_status()
    return response.json()


def status_rows(stack: Stack) -> dict[str, dict[str, Any]]:
    result = stack.run("status", "--json")
    assert result.exit_code == 0, result.output
    return {row["service"]: row for row in json.loads(result.stdout)}


def test_simulated_printers_come_up_healthy_and_print(
    stack: Stack, client: docker.DockerClient
) -> None:
    up = stack.run("up")
    assert up.exit_code == 0, up.output
    # hub, proxy, and a simulator and a print server for each printer.
    assert up.stdout.endswith("up: 8 of 8 services running\n")
    services = [f"{role}-{name}" for name in NAMES for role in ("sim", "printer")]
    wait_healthy(client, stack, services)
    found = containers(client, stack)

    # Each print server is connected to its own simulator and ready, over the host's
    # route to the internal network (no port is published for it).
    bases = {name: f"http://{address(found[f'printer-{name}'], stack)}:8080" for name in NAMES}
    for name, base in bases.items():
        # Without the hub's identity a print server does nothing.
        assert requests.get(f"{base}/api/v1/printer", timeout=5).status_code == 401
        printer = get(base, "/api/v1/printer", signed(stack, name))
        assert (printer["name"], printer["state"], printer["connected"]) == (name, "ready", True)
        assert printer["firmware"]["name"].startswith("Marlin")

    # `fabfleet status` asks each instance what its printer is doing.
    rows = status_rows(stack)
    for name in NAMES:
        assert rows[f"printer-{name}"]["printer"] == "Operational"
        assert rows[f"printer-{name}"]["health"] == "healthy"
        assert rows[f"sim-{name}"]["state"] == "running"
        assert rows[f"sim-{name}"]["printer"] is None

    # Upload and print on one printer; it completes and is in the history.
    upload = requests.post(
        f"{bases['a']}/api/v1/files",
        files={"file": ("part.gcode", GCODE, "text/x-gcode")},
        data={"print": "true"},
        headers=signed(stack, "a"),
        timeout=10,
    )
    assert upload.status_code == 201, upload.text
    deadline = time.monotonic() + PRINTED_WITHIN
    history: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        history = get(bases["a"], "/api/v1/history", signed(stack, "a"))["jobs"]
        if history and history[0]["outcome"] is not None:
            break
        time.sleep(0.5)
    assert [(j["file"], j["outcome"], j["started_by"]) for j in history] == [
        ("part.gcode", "completed", "tester")
    ]
    assert get(bases["b"], "/api/v1/history", signed(stack, "b"))["jobs"] == []
    after = status_rows(stack)
    assert after["printer-a"]["printer"] == "Operational (finished: confirm the bed is clear)"
    assert after["printer-b"]["printer"] == "Operational"

    # Every simulator and print server: uid 10001, no capabilities, no privileges,
    # read-only root, no Docker socket.
    for service in services:
        container = found[service]
        config, host = container.attrs["Config"], container.attrs["HostConfig"]
        assert config["User"] == "10001:10001", service
        assert host["Privileged"] is False and not host["CapAdd"], service
        assert host["CapDrop"] == ["ALL"], service
        assert host["SecurityOpt"] == ["no-new-privileges:true"], service
        assert host["ReadonlyRootfs"] is True and not host["Devices"], service
        mounts = [m.get("Source", "") for m in container.attrs["Mounts"]]
        assert not any("docker.sock" in m for m in mounts), service
        output = container.exec_run(["cat", "/proc/1/status"]).output
        assert isinstance(output, bytes), service
        status = output.decode()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert fields["Uid"].split() == ["10001"] * 4, service
        assert fields["CapEff"].strip() == "0" * 16, service
        assert fields["NoNewPrivs"].strip() == "1", service
