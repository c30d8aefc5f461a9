"""The hub's view: what the hub is told about the fleet (hub/fleet.json, format in docs/hub.md)."""

from __future__ import annotations

import json
from collections.abc import Callable

from orchestrator.fleet.model import Fleet
from orchestrator.model import paths
from orchestrator.model.build import cameras_of, hub_of, printers_of
from orchestrator.model.stack import CameraEntry, Hub, PrinterEntry, Stack

# A service's URL, by service name (``printer-mk3``, ``camera-c920``).
Upstream = Callable[[str], str]


def service_upstream(service: str) -> str:
    """A service's URL on the stack's internal network."""
    return f"http://{paths.service_address(service)}"


def _printer(p: PrinterEntry, upstream: Upstream) -> dict[str, object]:
    bed = None if p.bed is None else {"x": p.bed.x, "y": p.bed.y, "z": p.bed.z}
    return {
        "name": p.name,
        "path": p.route.path,
        "upstream": upstream(p.service),
        "camera": p.camera,
        "groups": list(p.groups),
        "tags": list(p.tags),
        "profile": {"materials": list(p.materials), "nozzle": p.nozzle, "bed": bed},
        # Only when there are any (docs/maintenance.md): a fleet without keeps its old file.
        **({"maintenance": list(p.maintenance)} if p.maintenance else {}),
        **({"power": dict(p.power)} if p.power else {}),
    }


def _camera(c: CameraEntry, upstream: Upstream) -> dict[str, object]:
    found: dict[str, object] = {
        "name": c.name,
        "path": c.route.path,
        "upstream": upstream(c.service),
    }
    if c.power:
        found["power"] = dict(c.power)
    return found


def _json(
    printers: tuple[PrinterEntry, ...],
    cameras: tuple[CameraEntry, ...],
    hub: Hub,
    upstream: Upstream,
) -> bytes:
    document = {
        "site": {"max_heating": hub.max_heating, **dict(hub.settings)},
        "printers": [_printer(p, upstream) for p in printers],
        "cameras": [_camera(c, upstream) for c in cameras],
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def render_hub_fleet(stack: Stack, upstream: Upstream = service_upstream) -> bytes:
    """Each printer and camera of ``stack``: where the proxy serves it, where the hub itself
    reaches it (``upstream(service)``), and what a printer can print."""
    return _json(stack.printers, stack.cameras, stack.hub, upstream)


def hub_fleet(fleet: Fleet, upstream: Upstream = service_upstream) -> bytes:
    """:func:`render_hub_fleet` for a fleet run some other way (``fabfleet demo``)."""
    return _json(printers_of(fleet), cameras_of(fleet), hub_of(fleet), upstream)
