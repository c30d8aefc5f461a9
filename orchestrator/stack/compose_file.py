"""What `up` and `status` need from a rendered compose file: services, images and devices."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True, slots=True)
class Service:
    """One service of the rendered stack: its image and the host devices it needs."""

    name: str
    image: str
    devices: tuple[str, ...]


def parse_services(text: bytes | str) -> list[Service]:
    """The services of a compose file rendered by fabfleet, in file order."""
    data = yaml.safe_load(text) or {}
    services = []
    for name, spec in (data.get("services") or {}).items():
        # "HOST:CONTAINER[:PERMISSIONS]"; the host side is what must exist.
        devices = tuple(str(d).split(":", 1)[0] for d in spec.get("devices") or ())
        services.append(Service(str(name), str(spec["image"]), devices))
    return services


def read_services(path: Path) -> list[Service] | None:
    """The services of the compose file at ``path``, or None when there is none yet."""
    try:
        return parse_services(path.read_bytes())
    except FileNotFoundError:
        return None
