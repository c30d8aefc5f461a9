"""`fabfleet up`: model the stack, render it, install the udev rules, check images, and let
compose converge; which services start is decided from the model, never from rendered text."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from orchestrator.devices.udev_install import install_rules, reload_udev
from orchestrator.fleet.model import Fleet
from orchestrator.model.build import stack_of
from orchestrator.model.paths import PROXY_CONF
from orchestrator.model.stack import Stack
from orchestrator.rendering import render
from orchestrator.rendering.compose import render_compose
from orchestrator.rendering.files import write_changed
from orchestrator.stack.compose_runner import Compose, compose_up
from orchestrator.stack.control import STOP_TIMEOUT, project_containers, service_of, unplugged
from orchestrator.stack.images import ImageProvider, ensure_images
from orchestrator.stack.rollout import hold_printing, replace_when_idle
from orchestrator.stack.secrets import (
    TLS_DIR,
    Owner,
    ensure_hub_data,
    ensure_power_secrets,
    ensure_secrets,
    identity_headers,
)
from orchestrator.stack.tls import CERTIFICATE as TLS_CERTIFICATE
from orchestrator.stack.tls import ensure_tls

RULES_FILE = render.RULES_FILE
COMPOSE_FILE = render.COMPOSE_FILE
NGINX_FILE = render.NGINX_FILE
# The compose file of the stack without the devices of unplugged cameras, for starting
# those alone.
UNPLUGGED_FILE = "compose.unplugged.yaml"


@dataclass(frozen=True, slots=True)
class UpSettings:
    """Where `up` writes and what it runs, apart from the fleet itself."""

    version: str
    project: str
    rules_path: Path
    images: ImageProvider
    # How long `up` waits for printing printers to end their job before it replaces their
    # containers (orchestrator/stack/rollout.py); 0: it does not wait.
    wait_for_prints: float = 0.0


@dataclass(slots=True)
class UpReport:
    """What `up` did, for the summary line and for tests."""

    started: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    # Cameras started without their unplugged device (also in ``started``).
    offline: list[str] = field(default_factory=list)
    proxy_reloaded: bool = False
    # Printers left on their container because they were printing (rollout.py).
    printing: list[str] = field(default_factory=list)


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


def _reload_proxy(client: docker.DockerClient, container_id: str, what: str, out: Output) -> bool:
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
            out.info(f"reloaded proxy ({what} changed)")
            return True
        output = result.output if isinstance(result.output, bytes) else b""
        lines = output.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {result.exit_code}"
    try:
        container.restart(timeout=STOP_TIMEOUT)
    except NotFound:
        return False
    out.info(f"restarted proxy ({what} changed; reload failed: {why})")
    return True


def camera_offline(service: str, device: str) -> str:
    """What to say about a camera started without its device."""
    return (
        f'{service}: {device} is not plugged in; it shows "offline" until it is '
        "plugged in and `fabfleet up` runs"
    )


def unplugged_compose(stack: Stack, services: list[str]) -> bytes:
    """The compose file of ``stack`` with ``services`` given no device: Docker refuses to
    create a container whose device is missing, while ustreamer (``--persistent``) serves its
    "offline" picture without one. A later `up` with the device plugged in changes the
    service's configuration back, so compose recreates it with the device."""
    header = (
        f"# Written by `fabfleet up`: compose.yaml without the devices of {', '.join(services)}\n"
    )
    return header.encode("utf-8") + render_compose(stack.without_devices(services))


def write_secrets(fleet: Fleet, out: Output) -> bool:
    """The gate's keys, the hub's data directory and the proxy's certificate in the state
    directory (stack/secrets.py, stack/tls.py), owned by the containers' user; one line per
    file written or removed. True if the certificate or its key changed."""
    state_dir = Path(fleet.site.state_dir)
    owner = Owner(fleet.site.container_uid, fleet.site.container_gid)
    report = ensure_secrets(state_dir, [p.name for p in fleet.printers], owner)
    for name in report.written:
        out.info(f"{'changed':<9}  {state_dir / name}")
    for name in report.removed:
        out.info(f"{'removed':<9}  {state_dir / name}")
    ensure_hub_data(state_dir, owner)
    ensure_power_secrets(state_dir, owner)
    if fleet.site.tls is None:
        return False
    tls = ensure_tls(state_dir, fleet.site.tls, owner)
    for name in tls.written:
        out.info(f"{'changed':<9}  {state_dir / name}")
    if tls.made_for:
        out.note(
            f"made a self-signed certificate for {', '.join(tls.made_for)}: browsers warn "
            f"until they trust {state_dir / TLS_CERTIFICATE} (docs/stack.md, HTTPS)"
        )
    return tls.changed


def up(
    fleet: Fleet,
    settings: UpSettings,
    client: docker.DockerClient,
    compose: Compose,
    out: Output,
) -> UpReport:
    """Bring the stack in line with ``fleet``; raises the errors of each step."""
    state_dir = Path(fleet.site.state_dir)
    stack = stack_of(fleet, settings.version)
    files = render.render_files(stack)
    changed = write_changed(state_dir, files)
    for name, was_changed in changed.items():
        out.info(f"{'changed' if was_changed else 'unchanged':<9}  {state_dir / name}")
    tls_changed = write_secrets(fleet, out)

    rules_changed = install_rules(settings.rules_path, files[RULES_FILE])
    out.info(f"{'changed' if rules_changed else 'unchanged':<9}  {settings.rules_path}")
    if rules_changed:
        note = reload_udev()
        if note is not None:
            out.note(note)

    report = UpReport()
    for service in stack.services:
        device = service.device
        if device is None or os.path.exists(device.host):
            report.started.append(service.name)
        elif service.role == "camera":
            out.note(camera_offline(service.name, device.host))
            report.offline.append(service.name)
            report.started.append(service.name)
        else:
            out.note(unplugged(service.name, device.host))
            report.waiting.append(service.name)
    images = {s.name: s.image for s in stack.services if s.name in report.started}
    ensure_images(client, images, settings.images)

    proxy = stack.proxy.service
    proxy_before = _started_at(client, settings.project, proxy)
    plugged = [s for s in report.started if s not in report.offline]
    compose_file = state_dir / COMPOSE_FILE
    sign = partial(identity_headers, state_dir)
    depends_on = {s.name: s.depends_on for s in stack.services}
    held = hold_printing(client, compose, settings.project, compose_file, depends_on, sign)
    for name, state in sorted(held.printers.items()):
        out.note(f"{name} is {state}: it keeps the container it has until its job ends")
    kept = held.services()
    compose_up(
        compose, settings.project, compose_file, [s for s in plugged if s not in kept], out.note
    )
    unplugged_file = state_dir / UNPLUGGED_FILE
    if report.offline:
        unplugged_file.write_bytes(unplugged_compose(stack, report.offline))
        compose_up(compose, settings.project, unplugged_file, report.offline, out.note)
    else:
        unplugged_file.unlink(missing_ok=True)
    # Compose does not see a changed nginx.conf or certificate (they are not in
    # compose.yaml); a proxy it did not just recreate reloads them: the workers finish
    # their requests and streams.
    if (
        (changed[NGINX_FILE] or tls_changed)
        and proxy_before
        and _started_at(client, settings.project, proxy) == proxy_before
    ):
        what = " and ".join(
            name for name, did in ((NGINX_FILE, changed[NGINX_FILE]), (TLS_DIR, tls_changed)) if did
        )
        for container_id in proxy_before:
            report.proxy_reloaded = _reload_proxy(client, container_id, what, out) or (
                report.proxy_reloaded
            )
    if held.printers:
        report.printing = replace_when_idle(
            client,
            settings.project,
            held,
            lambda services: compose_up(
                compose, settings.project, compose_file, services, out.note
            ),
            sign,
            out.info,
            settings.wait_for_prints,
        )
    return report
