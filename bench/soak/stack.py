"""The soak's fleet in the real Docker stack: the fleet file, `fabfleet up`, its containers,
and the admin who logs in through the one published port."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
import yaml
from docker.models.containers import Container

from bench.soak.plan import Plan
from bench.stack_images import containers, fabfleet
from orchestrator.model.build import SIM_RECORD, sim_record_volume
from tests.orchestrator.stack_helpers import free_port, remove_project

ADMIN = "soak-admin"
PASSWORD = "a long enough soak password 18"
READY_WITHIN = 300.0


class StackError(Exception):
    """The stack could not be brought up or brought back; the message says what it said."""


@dataclass
class SoakStack:
    """One fleet under a compose project of its own, in ``work``."""

    client: docker.DockerClient
    repository: str
    work: Path
    project: str
    http_port: int

    @classmethod
    def make(cls, client: docker.DockerClient, repository: str, work: Path) -> SoakStack:
        work.mkdir(parents=True, exist_ok=True)
        return cls(client, repository, work, f"ffsoak-{uuid.uuid4().hex[:8]}", free_port())

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "FABFLEET_CONFIG": str(self.work / "fleet.yaml"),
            "FABFLEET_PROJECT": self.project,
            "FABFLEET_UDEV_RULES": str(self.work / "99-fabfleet.rules"),
        }

    @property
    def state_dir(self) -> Path:
        return self.work / "state"

    def write(self, plan: Plan, time_factor: float, heat_rate: float) -> None:
        site = {
            "http_port": self.http_port,
            "state_dir": str(self.state_dir),
            "image_repository": self.repository,
        }
        printers = [
            {"name": p.name, "simulated": p.simulated(time_factor, heat_rate)}
            for p in plan.printers
        ]
        fleet = {"site": site, "printers": printers}
        (self.work / "fleet.yaml").write_text(yaml.safe_dump(fleet, sort_keys=False))

    def fabfleet(self, *args: str, stdin: str | None = None) -> str:
        done = fabfleet(self.env, *args, stdin=stdin)
        if done.returncode != 0:
            raise StackError(f"fabfleet {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def up(self) -> str:
        # The images are given (built before the run): a changed source or a newer dependency
        # wheel in the user's cache must not rebuild them mid-soak.
        return self.fabfleet("up", "--no-build")

    def add_admin(self) -> None:
        self.fabfleet("user", "add", ADMIN, "--admin", "--password-stdin", stdin=PASSWORD + "\n")

    def containers(self) -> dict[str, Container]:
        return containers(self.client, self.project)

    def wait_ready(self, printers: list[str], within: float = READY_WITHIN) -> float:
        """Seconds until the hub, through the proxy, shows every printer ready."""
        start = time.monotonic()
        states: dict[str, str] = {}
        while time.monotonic() - start < within:
            with contextlib.suppress(requests.RequestException, ValueError, KeyError):
                session = requests.Session()
                login = session.post(
                    f"{self.base}/api/login",
                    json={"username": ADMIN, "password": PASSWORD},
                    timeout=10,
                )
                if login.status_code == 200:
                    fleet = session.get(f"{self.base}/api/fleet", timeout=10).json()
                    states = {str(p["name"]): str(p["state"]) for p in fleet["printers"]}
                    if all(states.get(n) == "ready" for n in printers):
                        return time.monotonic() - start
            time.sleep(2)
        raise StackError(f"not every printer ready within {within:.0f} s: {states}")

    def record(self, printer: str) -> str:
        """The simulator's record of everything it executed (from its volume)."""
        volume = self.client.volumes.get(f"{self.project}_{sim_record_volume(printer)}")
        path = Path(str(volume.attrs["Mountpoint"])) / SIM_RECORD
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def logs(self, service: str, tail: int = 40) -> str:
        found = self.containers().get(service)
        return "" if found is None else found.logs(tail=tail).decode(errors="replace")

    def remove(self) -> None:
        remove_project(self.client, self.project)


# Docker 20.10 can hold a container's lock for ever (a health check's exec meeting the kill):
# with 202 containers, `docker kill` hung on nginx's and every later call on it hung too.
KILL_WITHIN = 60.0


def docker_kill(ids: list[str]) -> bool:
    """SIGKILL to every container in one `docker kill`: all at once, as a power cut. False
    when the engine did not answer within KILL_WITHIN seconds."""
    if not ids:
        return True
    try:
        subprocess.run(
            ["docker", "kill", "--signal", "KILL", *ids],
            capture_output=True, check=False, timeout=KILL_WITHIN,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False
    return True
