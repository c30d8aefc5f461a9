"""The state of every service of the stack, and of each printer its instance reports."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import docker
from docker.models.containers import Container

from orchestrator.model.paths import SERVICE_PORT
from orchestrator.model.stack import Service
from orchestrator.stack.control import project_containers, service_of

UNKNOWN = "unknown"
# How long an instance gets to answer GET /api/printer before its state is "unknown".
PRINTER_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One row of `fabfleet status`; ``printer`` is None for services that are not printers."""

    service: str
    container: str | None
    state: str
    health: str
    started_at: str | None
    printer: str | None
    # "plugged in" or "unplugged" for a service given a USB device; None otherwise.
    device: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _started_at(container: Container) -> str | None:
    # Docker gives nanoseconds ("2026-11-22T04:35:12.123456789Z"); "0001-…" is never.
    value = str(container.attrs.get("State", {}).get("StartedAt") or "")
    if not value or value.startswith("0001-"):
        return None
    return value.split(".", 1)[0].removesuffix("Z") + "Z"


def internal_address(container: Container, project: str) -> str | None:
    networks: dict[str, Any] = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    preferred = networks.get(f"{project}_internal") or {}
    addresses = [preferred.get("IPAddress")] + [n.get("IPAddress") for n in networks.values()]
    return next((a for a in addresses if a), None)


def printer_state(
    address: str | None,
    timeout: float = PRINTER_TIMEOUT,
    headers: Mapping[str, str] | None = None,
) -> str:
    """What the instance at ``address`` says about its printer, else "unknown".

    Accepts ``{"state": "printing"}`` and ``{"state": {"text": "Printing"}}``.
    """
    if address is None:
        return UNKNOWN
    url = f"http://{address}:{SERVICE_PORT}/api/printer"
    try:
        request = urllib.request.Request(url, headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read(65536))
    except (OSError, ValueError):
        return UNKNOWN
    state = body.get("state") if isinstance(body, dict) else None
    if isinstance(state, dict):
        state = state.get("text")
    return state if isinstance(state, str) and state else UNKNOWN


# The headers that let `status` ask a printer's print server (its gate identity).
Signer = Callable[[str], Mapping[str, str]]


def _unsigned(_printer: str) -> Mapping[str, str]:
    return {}


def _row(container: Container, project: str, sign: Signer = _unsigned) -> ServiceStatus:
    state = container.attrs.get("State", {})
    service = service_of(container)
    running = state.get("Status") == "running"
    printer = None
    if service.startswith("printer-"):
        name = service.removeprefix("printer-")
        address = internal_address(container, project)
        printer = printer_state(address, headers=sign(name)) if running else UNKNOWN
    return ServiceStatus(
        service=service,
        container=container.name,
        state=str(state.get("Status", UNKNOWN)),
        health=str((state.get("Health") or {}).get("Status", "-")),
        started_at=_started_at(container),
        printer=printer,
    )


def device_state(device: str | None) -> str | None:
    """Whether a service's host device (its /dev/fabfleet link) is there now."""
    if device is None:
        return None
    return "plugged in" if os.path.exists(device) else "unplugged"


def stack_status(
    client: docker.DockerClient,
    project: str,
    services: Sequence[Service] = (),
    sign: Signer = _unsigned,
) -> list[ServiceStatus]:
    """A row per container of ``project``, plus "not created" for each of ``services`` (the
    model's) without one, in the model's order; a service given a device says whether it is
    plugged in."""
    containers = project_containers(client, project)
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda c: _row(c, project, sign), containers))
    seen = {row.service for row in rows}
    for service in services:
        if service.name not in seen:
            printer = UNKNOWN if service.role == "printer" else None
            rows.append(ServiceStatus(service.name, None, "not created", "-", None, printer))
    devices = {s.name: s.device.host for s in services if s.device is not None}
    rows = [replace(r, device=device_state(devices.get(r.service))) for r in rows]
    order = {s.name: index for index, s in enumerate(services)}
    return sorted(rows, key=lambda r: (order.get(r.service, len(order)), r.service))
