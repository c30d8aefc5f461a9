"""What the Docker health checks of the print servers and simulators cost the host.

Every print server and simulator container runs its health check, a `python3 -c …`
(the print server's reads ``/api/health``, the simulator's reads ``/proc/net/tcp``),
every 30 s: at 100 printers that is 200 checks per 30 s. This runs K simulator and
print-server pairs from the real images, with the checks ``fabfleet render`` writes,
and measures the whole host's CPU (``/proc/stat``: the checks' processes and Docker's
own work for them) with those checks every ``--interval`` seconds against the same
containers without checks, alternating, ``--rounds`` times each. Per check is the
extra CPU time over the checks Docker ran (counted from each container's health log).

    python -m bench.healthcheck_cost [--pairs 10] [--interval 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from bench.soak.host import cpu_times, docker_time
from bench.stack_images import bench_images, fabfleet

SIM_PORT = 5000
API_PORT = 8080
TICKS = 100.0  # jiffies per second (USER_HZ)
HARDENED: dict[str, Any] = {
    "user": "10001:10001",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}


@dataclass(frozen=True)
class Checks:
    """The health check commands `fabfleet render` gives a simulator and a print server."""

    sim: list[str]
    printer: list[str]


def rendered_checks(work: Path) -> Checks:
    """The checks of ``sim-a`` and ``printer-a`` in a rendered one-printer fleet."""
    state = work / "state"
    config = work / "fleet.yaml"
    fleet = {"site": {"state_dir": str(state)}, "printers": [{"name": "a", "simulated": True}]}
    config.write_text(yaml.safe_dump(fleet))
    done = fabfleet({"FABFLEET_CONFIG": str(config)}, "render")
    if done.returncode != 0:
        raise SystemExit(f"fabfleet render failed:\n{done.stdout}{done.stderr}")
    services = yaml.safe_load((state / "compose.yaml").read_text())["services"]
    # Compose reads "$$" as "$"; these go to Docker as they are.
    sim, printer = (
        [part.replace("$$", "$") for part in services[name]["healthcheck"]["test"]]
        for name in ("sim-a", "printer-a")
    )
    return Checks(sim, printer)


def _health(test: list[str] | None, interval: float) -> dict[str, Any]:
    if test is None:
        return {"test": ["NONE"]}
    seconds = 1_000_000_000
    return {
        "test": test,
        "interval": int(interval * seconds),
        "timeout": 5 * seconds,
        "retries": 3,
        "start_period": 0,
    }


@dataclass
class Pairs:
    """K simulators and their print servers on a network of their own."""

    containers: list[Container]

    def remove(self) -> None:
        for container in self.containers:
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)


def start_pairs(
    client: docker.DockerClient,
    image: str,
    network: str,
    pairs: int,
    checks: Checks | None,
    interval: float,
) -> Pairs:
    started = Pairs([])
    try:
        for i in range(pairs):
            sim = f"{network}-sim-{i}"
            started.containers.append(
                client.containers.run(
                    image,
                    ["fabfleet-sim", "--tcp", f"0.0.0.0:{SIM_PORT}", "--identity", "marlin2"],
                    name=sim,
                    network=network,
                    detach=True,
                    tmpfs={"/tmp": ""},
                    healthcheck=_health(checks.sim if checks else None, interval),
                    **HARDENED,
                )
            )
            started.containers.append(
                client.containers.run(
                    image,
                    ["fabfleet-instance", "serve"],
                    name=f"{network}-printer-{i}",
                    network=network,
                    detach=True,
                    environment={
                        "FABFLEET_PRINTER": f"p{i}",
                        "FABFLEET_PORT": f"socket://{sim}:{SIM_PORT}",
                        "FABFLEET_DATA_DIR": "/data",
                        "FABFLEET_LISTEN": f"0.0.0.0:{API_PORT}",
                    },
                    tmpfs={"/tmp": "", "/data": "uid=10001,gid=10001"},
                    healthcheck=_health(checks.printer if checks else None, interval),
                    **HARDENED,
                )
            )
    except BaseException:
        started.remove()
        raise
    return started


def checks_run(pairs: Pairs, since: float, until: float) -> int:
    """Health checks that started in [since, until), from each container's health log
    (Docker keeps its last 5: the window must hold fewer per container)."""
    count = 0
    for container in pairs.containers:
        container.reload()
        log = (container.attrs["State"].get("Health") or {}).get("Log") or []
        count += sum(1 for entry in log if since <= docker_time(entry["Start"]) < until)
    return count


def _status(container: Container) -> str:
    container.reload()
    return str((container.attrs["State"].get("Health") or {}).get("Status", "none"))


@dataclass(frozen=True)
class Window:
    checks: bool
    cpu_seconds: float
    wall_seconds: float
    checks_run: int
    healthy: int
    containers: int


def measure(
    client: docker.DockerClient,
    image: str,
    pairs: int,
    checks: Checks | None,
    interval: float,
    seconds: float,
    settle: float,
) -> Window:
    network = client.networks.create(f"ffhc-{uuid.uuid4().hex[:8]}", internal=True)
    started = start_pairs(client, image, str(network.name), pairs, checks, interval)
    try:
        time.sleep(settle)
        busy0, _ = cpu_times()
        wall0 = time.time()
        checked = 0
        # Windows shorter than 5 intervals, so the health log holds every check of each.
        piece = interval * 4
        while time.time() - wall0 < seconds:
            begin = time.time()
            time.sleep(min(piece, seconds - (begin - wall0)))
            if checks is not None:
                checked += checks_run(started, begin, time.time())
        busy1, _ = cpu_times()
        wall = time.time() - wall0
        healthy = sum(1 for c in started.containers if _status(c) == "healthy")
        total = len(started.containers)
        return Window(checks is not None, (busy1 - busy0) / TICKS, wall, checked, healthy, total)
    finally:
        started.remove()
        with contextlib.suppress(NotFound, APIError):
            network.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between checks")
    parser.add_argument("--seconds", type=float, default=60.0, help="each window")
    parser.add_argument("--settle", type=float, default=20.0, help="after starting, unmeasured")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repository", help="use these images, build none")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="checks that run `true` instead: what Docker's own work per check costs",
    )
    arguments = parser.parse_args(argv)
    client = docker.from_env(timeout=300)
    with bench_images(client, arguments.repository) as (repository, work):
        checks = (
            Checks(["CMD", "true"], ["CMD", "true"]) if arguments.floor else rendered_checks(work)
        )
        image = f"{repository}/instance:{version('fabfleet')}"
        windows: list[Window] = []
        for _ in range(arguments.rounds):
            for kind in (None, checks):
                window = measure(
                    client,
                    image,
                    arguments.pairs,
                    kind,
                    arguments.interval,
                    arguments.seconds,
                    arguments.settle,
                )
                windows.append(window)
                print(
                    f"checks {'on ' if window.checks else 'off'}: "
                    f"{window.cpu_seconds / window.wall_seconds:.3f} cores, "
                    f"{window.checks_run} checks in {window.wall_seconds:.0f} s, "
                    f"{window.healthy} of {window.containers} containers healthy",
                    flush=True,
                )
    off = [w.cpu_seconds / w.wall_seconds for w in windows if not w.checks]
    per_check = []
    for w in (w for w in windows if w.checks):
        extra = w.cpu_seconds - statistics.median(off) * w.wall_seconds
        per_check.append(extra / max(w.checks_run, 1))
    low, high = min(per_check), max(per_check)
    rate = 200 / 30  # 100 printers and their simulators, every 30 s
    print(f"per check: {low * 1000:.0f}-{high * 1000:.0f} ms of CPU")
    print(
        f"at 100 printers (200 containers every 30 s): {low * rate:.2f}-{high * rate:.2f} of a core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
