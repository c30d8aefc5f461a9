"""The real stack with simulated printers: how long `fabfleet up` takes, and memory per container.

For each fleet size (3 and 20 simulated printers by default) on a real Docker
engine, with the real images:

- **up → healthy**: from starting `fabfleet up` until Docker reports every
  `printer-*` container healthy (Docker runs the first health check one
  interval, 30 s, after the start, so this cannot be under 30 s);
- **up → ready**: until every print server answers `GET /api/v1/printer` with
  `ready`, i.e. is connected to its simulator (what a user would notice);
- **memory**: `docker stats` of each `printer-*` and `sim-*` container, usage
  minus the page cache (as `docker stats` shows it), 10 s after all are ready.

The images are built first (`fabfleet images`) under a repository of the run's
own and removed afterwards, unless ``--repository`` names images to reuse. Each
fleet runs as its own compose project, removed afterwards with its networks and
volumes.

    python -m bench.stack_up [--sizes 3 20] [--repository REPO]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import requests
import yaml
from docker.models.containers import Container

from bench.stack_images import bench_images, containers, fabfleet
from orchestrator.stack.control import SERVICE_LABEL
from orchestrator.stack.secrets import identity_headers
from tests.orchestrator.stack_helpers import remove_project

TIMEOUT = 300.0
SETTLE = 10.0


@dataclass(frozen=True)
class Figures:
    printers: int
    up_seconds: float
    ready_seconds: float
    healthy_seconds: float
    instance_mib: list[float]
    sim_mib: list[float]


def _ready(container: Container, project: str, state_dir: Path) -> bool:
    """The print server answers with its printer ready, asked as the hub asks it (signed)."""
    name = container.labels[SERVICE_LABEL].removeprefix("printer-")
    networks = container.attrs["NetworkSettings"]["Networks"]
    address = (networks.get(f"{project}_internal") or {}).get("IPAddress")
    if not address:
        return False
    try:
        answer = requests.get(
            f"http://{address}:8080/api/v1/printer",
            headers=identity_headers(state_dir, name),
            timeout=2,
        )
        return answer.ok and answer.json().get("state") == "ready"
    except (requests.RequestException, ValueError):
        return False


def _memory_mib(container: Container) -> float:
    sample = container.stats(stream=False)
    assert isinstance(sample, dict)
    stats = sample["memory_stats"]
    inner = stats.get("stats", {})
    cache = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    return float(stats["usage"] - cache) / 2**20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def measure(client: docker.DockerClient, repository: str, printers: int, work: Path) -> Figures:
    """Bring up ``printers`` simulated printers, time it, read memory, remove it all."""
    project = f"ffbench-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    config = work / "fleet.yaml"
    site = {
        "state_dir": str(work / "state"),
        "image_repository": repository,
        "http_port": _free_port(),  # the proxy's, the only published port
    }
    names = [f"p{i:02d}" for i in range(1, printers + 1)]
    fleet = {"site": site, "printers": [{"name": n, "simulated": True} for n in names]}
    config.write_text(yaml.safe_dump(fleet, sort_keys=False))
    env = {
        "FABFLEET_CONFIG": str(config),
        "FABFLEET_PROJECT": project,
        "FABFLEET_UDEV_RULES": str(work / "99-fabfleet.rules"),
    }
    try:
        start = time.monotonic()
        up = fabfleet(env, "up", "--no-build")  # the images given or built before, as they are
        up_seconds = time.monotonic() - start
        if up.returncode != 0:
            raise SystemExit(f"fabfleet up failed:\n{up.stdout}{up.stderr}")
        services = [f"printer-{n}" for n in names]
        ready_at: float | None = None
        healthy_at: float | None = None
        while time.monotonic() - start < TIMEOUT and (ready_at is None or healthy_at is None):
            found = containers(client, project)
            printers_found = [found[s] for s in services if s in found]
            if healthy_at is None and len(printers_found) == len(services):
                health = [
                    (c.attrs["State"].get("Health") or {}).get("Status") for c in printers_found
                ]
                if all(h == "healthy" for h in health):
                    healthy_at = time.monotonic() - start
            if (
                ready_at is None
                and len(printers_found) == len(services)
                and all(_ready(c, project, work / "state") for c in printers_found)
            ):
                ready_at = time.monotonic() - start
            time.sleep(0.25)
        if ready_at is None or healthy_at is None:
            raise SystemExit(f"{printers} printers: not ready and healthy within {TIMEOUT:.0f} s")
        time.sleep(SETTLE)
        found = containers(client, project)
        instance = [_memory_mib(found[s]) for s in services]
        sims = [_memory_mib(found[f"sim-{n}"]) for n in names]
        return Figures(printers, up_seconds, ready_at, healthy_at, instance, sims)
    finally:
        remove_project(client, project)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} MiB median ({min(values):.1f} to {max(values):.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 20])
    parser.add_argument(
        "--repository", help="use these images (<repository>/<role>:<version>), build none"
    )
    arguments = parser.parse_args(argv)
    client = docker.from_env(timeout=300)
    with bench_images(client, arguments.repository) as (repository, work):
        results = [measure(client, repository, n, work / f"fleet-{n}") for n in arguments.sizes]
    print("| printers | `up` returns | all ready | all healthy | print server | simulator |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.printers} | {r.up_seconds:.1f} s | {r.ready_seconds:.1f} s | "
            f"{r.healthy_seconds:.1f} s | {_spread(r.instance_mib)} | {_spread(r.sim_mib)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
