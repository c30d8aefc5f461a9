"""A new release under a live fleet: a printing printer keeps its container until its job ends.

`fabfleet up` asks Compose which running containers it would replace (their config
hash differs from the one the compose file now gives, or their image tag now names
another image: a new release). A printer among them whose print server says it is
printing, pausing, paused or cancelling is held back, with its simulator: everything
else is brought up at once; the held printers are asked again every
``CHECK_EVERY`` seconds and each is replaced as soon as its job has ended, for as long
as ``--wait-for-prints`` allows. Those still printing then run the release before
until the next `fabfleet up` (docs/upgrades.md).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from orchestrator.stack.compose_runner import Compose, ComposeError
from orchestrator.stack.control import project_containers, service_of
from orchestrator.stack.status import internal_address, printer_state

# What a print server says while a job runs (its own words and OctoPrint's, lower case).
BUSY = frozenset({"printing", "pausing", "paused", "cancelling"})
CONFIG_HASH = "com.docker.compose.config-hash"
CHECK_EVERY = 5.0
PRINTER_PREFIX = "printer-"

Signer = Callable[[str], Mapping[str, str]]


def config_hashes(compose: Compose, project: str, file: Path) -> dict[str, str]:
    """Service → the config hash Compose gives it in ``file`` (what it labels containers)."""
    command = [*compose.command, "-p", project, "-f", str(file), "config", "--hash", "*"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ComposeError(f"docker compose config --hash failed: {done.stderr.strip()}")
    hashes: dict[str, str] = {}
    for line in done.stdout.splitlines():
        service, _, value = line.strip().partition(" ")
        if value:
            hashes[service] = value
    return hashes


def outdated(client: docker.DockerClient, project: str, hashes: Mapping[str, str]) -> set[str]:
    """The running services whose container `compose up` would replace."""
    found: set[str] = set()
    for container in project_containers(client, project):
        service = service_of(container)
        if container.status != "running" or service not in hashes:
            continue
        if container.labels.get(CONFIG_HASH) != hashes[service]:
            found.add(service)
            continue
        try:
            image = client.images.get(container.attrs["Config"]["Image"])
        except ImageNotFound:
            found.add(service)
            continue
        if image.id != container.attrs.get("Image"):
            found.add(service)
    return found


def printing(
    client: docker.DockerClient, project: str, services: Iterable[str], sign: Signer
) -> dict[str, str]:
    """Printer service → what its print server says, for those running a job now."""
    wanted = set(services)
    busy: dict[str, str] = {}
    for container in project_containers(client, project):
        service = service_of(container)
        if service not in wanted or container.status != "running":
            continue
        name = service.removeprefix(PRINTER_PREFIX)
        state = printer_state(internal_address(container, project), headers=sign(name))
        if state.lower() in BUSY:
            busy[service] = state.lower()
    return busy


@dataclass(frozen=True, slots=True)
class Held:
    """Printers kept on their container while printing, with the services they need."""

    printers: dict[str, str]
    # Each held printer's own dependencies (its simulator): replaced with it.
    needs: dict[str, tuple[str, ...]]

    def services(self) -> set[str]:
        return set(self.printers) | {d for deps in self.needs.values() for d in deps}


def hold_printing(
    client: docker.DockerClient,
    compose: Compose,
    project: str,
    file: Path,
    depends_on: Mapping[str, Sequence[str]],
    sign: Signer,
) -> Held:
    """The printers `compose up` would replace that are printing now."""
    if not any(c.status == "running" for c in project_containers(client, project)):
        return Held({}, {})
    stale = outdated(client, project, config_hashes(compose, project, file))
    candidates = [s for s in stale if s.startswith(PRINTER_PREFIX)]
    busy = printing(client, project, candidates, sign)
    return Held(busy, {s: tuple(depends_on.get(s, ())) for s in busy})


def replace_when_idle(
    client: docker.DockerClient,
    project: str,
    held: Held,
    replace: Callable[[list[str]], None],
    sign: Signer,
    say: Callable[[str], None],
    wait: float,
    every: float = CHECK_EVERY,
) -> list[str]:
    """Ask the held printers again every ``every`` seconds for up to ``wait`` seconds and
    replace each once its job has ended; the printers still printing at the end."""
    left = dict(held.printers)
    deadline = time.monotonic() + wait
    while left and time.monotonic() < deadline:
        time.sleep(min(every, max(0.0, deadline - time.monotonic())))
        still = printing(client, project, left, sign)
        for service in sorted(set(left) - set(still)):
            replace([*held.needs.get(service, ()), service])
            say(f"replaced  {service}: its job ended")
            del left[service]
    return sorted(left)
