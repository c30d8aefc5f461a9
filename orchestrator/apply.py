"""`fabfleet up`: render, install the udev rules, check images, and let compose converge."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from orchestrator.compose_file import parse_services
from orchestrator.compose_runner import Compose, compose_up
from orchestrator.fleet import Fleet
from orchestrator.render import render_stack
from orchestrator.render_context import PROXY_CONF
from orchestrator.rendered_files import write_changed
from orchestrator.stack_control import STOP_TIMEOUT, project_containers, service_of, unplugged
from orchestrator.stack_images import ImageProvider, ensure_images
from orchestrator.udev_install import install_rules, reload_udev

RULES_FILE = "99-fabfleet.rules"
COMPOSE_FILE = "compose.yaml"
NGINX_FILE = "proxy/nginx.conf"
PROXY = "proxy"


@dataclass(frozen=True, slots=True)
class UpSettings:
    """Where `up` writes and what it runs, apart from the fleet itself."""

    version: str
    project: str
    rules_path: Path
    images: ImageProvider


@dataclass(slots=True)
class UpReport:
    """What `up` did, for the summary line and for tests."""

    started: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    proxy_reloaded: bool = False


@dataclass(frozen=True, slots=True)
class Output:
    """Where `up` reports progress (``info``) and things the user should notice (``note``)."""

    info: Callable[[str], None]
    note: Callable[[str], None]


def _started_at(client: docker.DockerClient, project: str, service: str) -> dict[str, str]:
    return {
        str(c.id): str(c.attrs.get("State", {}).get("StartedAt"))
        for c in project_containers(client, project)
        if service_of(c) == service
    }


def _reload_proxy(client: docker.DockerClient, container_id: str, out: Output) -> bool:
    """``nginx -s reload`` in the proxy; restart it if nginx refuses. False if it is gone."""
    try:
        container = client.containers.get(container_id)
    except NotFound:
        return False
    try:
        result = container.exec_run(["nginx", "-c", PROXY_CONF, "-s", "reload"])
    except APIError as error:
        why = str(error.explanation or error)
    else:
        if result.exit_code == 0:
            out.info(f"reloaded proxy ({NGINX_FILE} changed)")
            return True
        output = result.output if isinstance(result.output, bytes) else b""
        lines = output.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {result.exit_code}"
    try:
        container.restart(timeout=STOP_TIMEOUT)
    except NotFound:
        return False
    out.info(f"restarted proxy ({NGINX_FILE} changed; reload failed: {why})")
    return True


def up(
    fleet: Fleet,
    settings: UpSettings,
    client: docker.DockerClient,
    compose: Compose,
    out: Output,
) -> UpReport:
    """Bring the stack in line with ``fleet``; raises the errors of each step."""
    state_dir = Path(fleet.site.state_dir)
    files = render_stack(fleet, settings.version)
    changed = write_changed(state_dir, files)
    for name, was_changed in changed.items():
        out.info(f"{'changed' if was_changed else 'unchanged':<9}  {state_dir / name}")

    rules_changed = install_rules(settings.rules_path, files[RULES_FILE])
    out.info(f"{'changed' if rules_changed else 'unchanged':<9}  {settings.rules_path}")
    if rules_changed:
        note = reload_udev()
        if note is not None:
            out.note(note)

    report = UpReport()
    services = parse_services(files[COMPOSE_FILE])
    for service in services:
        absent = [d for d in service.devices if not os.path.exists(d)]
        if absent:
            out.note(unplugged(service.name, absent[0]))
            report.waiting.append(service.name)
        else:
            report.started.append(service.name)
    images = {s.name: s.image for s in services if s.name in report.started}
    ensure_images(client, images, settings.images)

    proxy_before = _started_at(client, settings.project, PROXY)
    compose_up(compose, settings.project, state_dir / COMPOSE_FILE, report.started, out.note)
    # Compose does not see a changed nginx.conf (it is not in compose.yaml); a proxy it
    # did not just recreate reloads it: the workers finish their requests and streams.
    if (
        changed[NGINX_FILE]
        and proxy_before
        and _started_at(client, settings.project, PROXY) == proxy_before
    ):
        for container_id in proxy_before:
            report.proxy_reloaded = _reload_proxy(client, container_id, out) or (
                report.proxy_reloaded
            )
    return report
