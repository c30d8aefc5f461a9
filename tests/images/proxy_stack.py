"""The real stack seen from outside: the `fabfleet` CLI, the one published port, the containers.

Helpers for tests/images/test_stack_proxy.py: a fleet under a compose project of
its own on the session's images, its containers, and an HTTP client that logs in
through the proxy like a browser (session cookie, `X-CSRF-Token` on changes).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import pytest
import requests
from docker.models.containers import Container
from typer.testing import CliRunner, Result

from orchestrator.cli.main import app as fabfleet_app
from orchestrator.stack.control import PROJECT_LABEL, SERVICE_LABEL
from tests.orchestrator.stack_helpers import Stack

ADMIN = "admin"
ADMIN_PASSWORD = "a long enough test password 42"
HEALTHY_WITHIN = 120.0
T = TypeVar("T")


def fabfleet(stack: Stack, *args: str, stdin: str | None = None) -> Result:
    """`fabfleet ARGS…` in-process, on the stack's fleet file, compose project and rules path."""
    env = {
        "FABFLEET_CONFIG": str(stack.config),
        "FABFLEET_PROJECT": stack.project,
        "FABFLEET_UDEV_RULES": str(stack.rules),
    }
    return CliRunner().invoke(fabfleet_app, list(args), env=env, input=stdin)


def containers(client: docker.DockerClient, project: str) -> dict[str, Container]:
    """Service → container of every container of ``project``."""
    found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    return {c.labels[SERVICE_LABEL]: c for c in found}


def health_of(container: Container) -> str:
    return str((container.attrs["State"].get("Health") or {}).get("Status", "none"))


def wait_healthy(client: docker.DockerClient, project: str, services: list[str]) -> float:
    """Seconds until every one of ``services`` is healthy; fails with states and logs."""
    start = time.monotonic()
    health: dict[str, str] = {}
    while time.monotonic() - start < HEALTHY_WITHIN:
        found = containers(client, project)
        health = {s: health_of(found[s]) if s in found else "absent" for s in services}
        if all(h == "healthy" for h in health.values()):
            return time.monotonic() - start
        time.sleep(1)
    logs = {
        s: c.logs(tail=15).decode(errors="replace") for s, c in containers(client, project).items()
    }
    pytest.fail(
        f"not healthy within {HEALTHY_WITHIN:.0f} s: {health}\n{json.dumps(logs, indent=1)}"
    )


def eventually(probe: Callable[[], T], done: Callable[[T], bool], within: float, what: str) -> T:
    """Call ``probe`` until ``done`` says yes; fail with the last answer after ``within`` s."""
    deadline = time.monotonic() + within
    last = probe()
    while not done(last):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within:.0f} s; last: {last!r}")
        time.sleep(0.5)
        last = probe()
    return last


def internal_address(container: Container, project: str) -> str:
    """The container's address on the stack's internal network (the host reaches it)."""
    ip: str = container.attrs["NetworkSettings"]["Networks"][f"{project}_internal"]["IPAddress"]
    assert ip, container.name
    return ip


@dataclass
class Visitor:
    """Someone at the proxy's address: anonymous until :meth:`login`."""

    base: str
    session: requests.Session = field(default_factory=requests.Session)
    csrf: str | None = None

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.url(path), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """A change: carries the session's CSRF token once logged in."""
        kwargs.setdefault("timeout", 30)
        headers = dict(kwargs.pop("headers", {}))
        if self.csrf is not None:
            headers["X-CSRF-Token"] = self.csrf
        return self.session.post(self.url(path), headers=headers, **kwargs)

    def delete(self, path: str) -> requests.Response:
        headers = {} if self.csrf is None else {"X-CSRF-Token": self.csrf}
        return self.session.delete(self.url(path), headers=headers, timeout=10)

    def answer(self, path: str) -> Any:
        """The JSON of ``GET path``, or None unless it answers 200 (a restarting container)."""
        answer = self.get(path, headers={"Accept": "application/json"})
        return answer.json() if answer.status_code == 200 else None

    def json(self, path: str) -> Any:
        answer = self.get(path, headers={"Accept": "application/json"})
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    def login(self, user: str, password: str) -> dict[str, Any]:
        answer = self.post("/api/login", json={"username": user, "password": password})
        assert answer.status_code == 200, f"login: {answer.status_code} {answer.text[:300]}"
        body: dict[str, Any] = answer.json()
        self.csrf = str(body["csrf"])
        return body

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)


def printer_states(fleet: Mapping[str, Any]) -> dict[str, str]:
    """Name → live state of each printer in the hub's ``GET /api/fleet`` answer."""
    return {str(p["name"]): str(p["state"]) for p in fleet["printers"]}


def exec_python(container: Container, script: str, *args: str) -> tuple[int, str]:
    """Run ``python3 -c script ARGS…`` in ``container`` as its user; exit code and output."""
    result = container.exec_run(["python3", "-c", script, *args])
    output = result.output if isinstance(result.output, bytes) else b""
    return int(result.exit_code or 0), output.decode(errors="replace")


def proc_status(container: Container) -> dict[str, str]:
    """The fields of ``/proc/1/status`` inside ``container``."""
    result = container.exec_run(["cat", "/proc/1/status"])
    assert result.exit_code == 0, (container.name, result.output)
    assert isinstance(result.output, bytes)
    lines = result.output.decode().splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def long_gcode(moves: int) -> bytes:
    """A job of ``moves`` long moves: minutes at the simulators' speed-up, time enough to kill."""
    lines = ["; a long test part", "G28", "G90", "G1 Z0.3 F3000"]
    for i in range(moves):
        x = 190 if i % 2 == 0 else 10
        lines.append(f"G1 X{x} Y{10 + (i % 180)} E{i * 0.5:.1f} F600")
    return ("\n".join(lines) + "\nM400\n").encode()


def mjpeg_frames(visitor: Visitor, path: str, frames: int, within: float = 60) -> bytes:
    """The bytes of ``visitor``'s MJPEG stream at ``path`` until ``frames`` JPEG frames have
    begun (or ``within`` s passed); fails unless it answers 200 as a multipart stream."""
    with visitor.session.get(visitor.url(path), stream=True, timeout=within) as stream:
        assert stream.status_code == 200, (path, stream.status_code)
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        received = b""
        deadline = time.monotonic() + within
        for chunk in stream.iter_content(chunk_size=4096):
            received += chunk
            if received.count(b"\xff\xd8") >= frames or time.monotonic() > deadline:
                break
    return received
