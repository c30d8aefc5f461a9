"""The stack's containers through the Docker SDK: finding them by name, stopping, restarting."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
STOP_TIMEOUT = 10


class StackError(Exception):
    """A stack operation was refused or failed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class DownResult:
    """What `down` removed."""

    containers: list[str]
    networks: list[str]


def project_filter(project: str) -> dict[str, str | list[str] | bool]:
    """The Docker API filter for what compose made for ``project``."""
    return {"label": f"{PROJECT_LABEL}={project}"}


def project_containers(client: docker.DockerClient, project: str) -> list[Container]:
    """Every container of ``project``, running or not, by service then name."""
    found = client.containers.list(all=True, filters=project_filter(project))
    return sorted(found, key=lambda c: (service_of(c), c.name or ""))


def service_of(container: Container) -> str:
    """The compose service ``container`` belongs to."""
    return str(container.labels.get(SERVICE_LABEL, container.name))


def resolve_service(name: str, services: Iterable[str]) -> str:
    """The service ``name`` means: a service name, or a bare printer/camera name."""
    known = sorted(set(services))
    if name in known:
        return name
    matches = [s for s in (f"printer-{name}", f"camera-{name}") if s in known]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise StackError(f"'{name}' is ambiguous: it could be {' or '.join(matches)}; give one")
    listed = ", ".join(known) if known else "none; run fabfleet up"
    raise StackError(f"no service '{name}' in the stack (services: {listed})")


def containers_of(
    client: docker.DockerClient, project: str, name: str
) -> tuple[str, list[Container]]:
    """The service ``name`` resolves to and its containers."""
    containers = project_containers(client, project)
    service = resolve_service(name, (service_of(c) for c in containers))
    return service, [c for c in containers if service_of(c) == service]


def unplugged(service: str, device: str) -> str:
    """What to say about a service whose device is not there."""
    return f"{service}: {device} is not plugged in; it starts when it is (fabfleet watch)"


def absent_devices(container: Container) -> list[str]:
    """Host devices ``container`` is given that do not exist now (an unplugged printer)."""
    devices = container.attrs.get("HostConfig", {}).get("Devices") or []
    return [d["PathOnHost"] for d in devices if not os.path.exists(d["PathOnHost"])]


def restart(client: docker.DockerClient, project: str, name: str) -> str:
    """Restart the containers of service ``name``; the service's name."""
    service, containers = containers_of(client, project, name)
    for container in containers:
        for path in absent_devices(container):
            raise StackError(unplugged(service, path))
        try:
            container.restart(timeout=STOP_TIMEOUT)
        except APIError as error:
            raise StackError(f"cannot restart {service}: {error.explanation or error}") from None
    return service


def _stop_and_remove(container: Container) -> None:
    try:
        container.stop(timeout=STOP_TIMEOUT)
        container.remove()
    except NotFound:
        pass


def down(client: docker.DockerClient, project: str) -> DownResult:
    """Stop and remove the stack's containers and networks; volumes (the data) stay."""
    containers = project_containers(client, project)
    if containers:
        with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
            list(pool.map(_stop_and_remove, containers))
    networks = client.networks.list(filters=project_filter(project))
    removed = []
    for network in sorted(networks, key=lambda n: n.name or ""):
        try:
            network.remove()
        except NotFound:
            continue
        removed.append(str(network.name))
    return DownResult([str(c.name) for c in containers], removed)
