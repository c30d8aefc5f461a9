"""What the stack templates are given: names, images and checked udev values for a fleet."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.fleet.model import Camera, Fleet, Printer, after_job, presets_json
from orchestrator.stack.secrets import GATE_KEY, HUB_DATA, PROXY_KEY_CONF, printer_key_file

# What udev's usb_id/path_id ever put in ID_SERIAL_SHORT and ID_PATH: they replace
# every other byte with '_'. Anything else could break the rule's quoting or act as
# a glob ('*', '?', '[', '|') and match another device, so it is refused, not escaped.
_UDEV_VALUE = re.compile(r"^[A-Za-z0-9#+\-.:=@_]+$")
_UDEV_KEYS = {"serial": "ID_SERIAL_SHORT", "port_path": "ID_PATH"}
# Every service listens on this port inside the internal network.
SERVICE_PORT = 8080
# Where a simulated printer's simulator (service sim-<name>) listens for its print server.
SIMULATOR_PORT = 5000
# Fixed paths inside the containers, so no host path leaks into a service's config.
PRINTER_DEVICE = "/dev/printer"
CAMERA_DEVICE = "/dev/video-camera"
DATA_DIR = "/data"
# Where the hub and the proxy find their rendered files (read-only directory mounts).
HUB_DIR = "/etc/fabfleet/hub"
PROXY_DIR = "/etc/fabfleet/proxy"
PROXY_CONF = f"{PROXY_DIR}/nginx.conf"
# Where the hub and each print server find their key (a read-only file mount).
SECRETS_DIR = "/etc/fabfleet/secrets"
HUB_KEY = f"{SECRETS_DIR}/gate.key"
PRINTER_KEY = f"{SECRETS_DIR}/printer.key"
# The proxy's key for asking the gate: an nginx include (a read-only file mount).
PROXY_KEY = f"{SECRETS_DIR}/proxy-gate.conf"
# Docker's embedded DNS, for nginx's per-request upstreams.
DOCKER_RESOLVER = "127.0.0.11 valid=10s ipv6=off"


class RenderError(Exception):
    """The fleet cannot be rendered as it is; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class UdevMatch:
    """The udev property that finds a device and its (checked) value."""

    key: str
    value: str


ROLES = ("instance", "camera", "hub", "proxy")


def image(repository: str, role: str, version: str) -> str:
    """The image a service of ``role`` (one of :data:`ROLES`) runs.

    ``<repository>/<role>:<version>``, the repository from ``site.image_repository``.
    """
    return f"{repository}/{role}:{version}"


def udev_match(kind: str, device: Printer | Camera) -> UdevMatch | None:
    """How udev finds ``device``; None for a printer reached over the network or simulated."""
    identity = device.identity()
    if identity is None:
        raise RenderError(f"{kind} '{device.name}' needs exactly one identity to be rendered")
    field, value = identity
    if field not in _UDEV_KEYS:
        return None
    if not _UDEV_VALUE.match(value):
        raise RenderError(
            f"{kind} '{device.name}': {field} {value!r} cannot be matched by udev; "
            f"copy {_UDEV_KEYS[field]} exactly as `udevadm info -q property` shows it"
        )
    return UdevMatch(_UDEV_KEYS[field], value)


def service_address(service: str) -> str:
    """Where nginx reaches a service on the stack's internal network (host:port)."""
    return f"{service}:{SERVICE_PORT}"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """What the nginx template needs beyond the fleet: where the hub is (host:port), how
    nginx resolves names, where it listens and keeps its scratch files. The stack and
    `fabfleet demo` render the same template with their own settings."""

    hub: str
    resolver: str | None = DOCKER_RESOLVER
    resolver_why: str = "Docker's embedded DNS, for the per-request upstreams."
    # "127.0.0.1:" to listen on loopback only; "" for every address.
    listen_host: str = ""
    scratch: str = "/tmp"
    access_log: str = "/dev/stdout"
    # The include that sets X-Fabfleet-Proxy-Key (orchestrator/stack/secrets.py writes it).
    gate_key_conf: str = PROXY_KEY


STACK_PROXY = ProxySettings(hub=service_address("hub"))


def stack_context(fleet: Fleet, version: str) -> dict[str, object]:
    """Everything the udev, compose and nginx templates refer to."""
    printers = [
        {
            "name": p.name,
            "match": udev_match("printer", p),
            "printer": p,
            # The simulator's options, None for a real printer.
            "sim": p.simulated,
            # What its print server opens: its device, its URL, or its simulator.
            "serial_port": (
                PRINTER_DEVICE
                if p.url is None and p.simulated is None
                else p.url or f"socket://sim-{p.name}:{SIMULATOR_PORT}"
            ),
            # Where nginx reaches its print server, and its key file in the state directory.
            "upstream": service_address(f"printer-{p.name}"),
            "key_file": f"./{printer_key_file(p.name)}",
            # After a job (heaters, fans) and the page's temperature presets (JSON).
            "after_job": after_job(fleet, p),
            "presets": presets_json(fleet, p),
        }
        for p in fleet.printers
    ]
    cameras = []
    for camera in fleet.cameras:
        width, height = camera.resolution.split("x")
        cameras.append(
            {
                "name": camera.name,
                "match": udev_match("camera", camera),
                "width": width,
                "height": height,
                "camera": camera,
                "upstream": service_address(f"camera-{camera.name}"),
            }
        )
    return {
        "site": fleet.site,
        "printers": printers,
        "cameras": cameras,
        "images": {role: image(fleet.site.image_repository, role, version) for role in ROLES},
        "port": SERVICE_PORT,
        "sim_port": SIMULATOR_PORT,
        # Printers reached by URL need the one network with a route out.
        "url_printers": any(p.url is not None for p in fleet.printers),
        "printer_device": PRINTER_DEVICE,
        "camera_device": CAMERA_DEVICE,
        "data_dir": DATA_DIR,
        "hub_dir": HUB_DIR,
        "proxy_dir": PROXY_DIR,
        "proxy_conf": PROXY_CONF,
        "proxy": STACK_PROXY,
        "hub_key": HUB_KEY,
        "hub_key_file": f"./{GATE_KEY}",
        "proxy_key_file": f"./{PROXY_KEY_CONF}",
        "proxy_key": PROXY_KEY,
        "hub_data": f"./{HUB_DATA}",
        "printer_key": PRINTER_KEY,
    }
