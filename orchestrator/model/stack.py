"""The stack as data: services, the printers and cameras they serve, the hub, the proxy, udev links.

Frozen dataclasses only, with no syntax of any target: a view renders them as it needs.
A ``why`` is the reason a setting is there, for the views that write comments.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any, Literal

from orchestrator.model.images import ImageRole

# Flat settings (name, value) in the order written, hashable like the rest of the model.
Fields = tuple[tuple[str, object], ...]

# What a service is in the fleet: a printer's print server, a simulated printer's board,
# a camera's stream, the hub, or the proxy in front of all of them.
Role = Literal["printer", "simulator", "camera", "hub", "proxy"]
# How a printer is reached: over USB (a udev link), a network URL, or its own simulator.
Reach = Literal["usb", "network", "simulated"]


@dataclass(frozen=True, slots=True)
class Device:
    """A host device a service needs: its stable link on the host, and the fixed path inside."""

    host: str
    inside: str


@dataclass(frozen=True, slots=True)
class Mount:
    """Something of the host a service sees at ``target``.

    ``kind``: ``volume``, a named data volume the runtime keeps (``source`` is its name);
    ``rendered``, a directory of files fabfleet renders; ``secret``, a key file; ``data``, a
    data directory of the state directory (those three: ``source`` relative to it);
    ``host``, a file of the host at the absolute path ``source``; ``secrets``, a directory of
    secret files (the power devices' passwords, relative to the state directory).
    """

    kind: Literal["volume", "rendered", "secret", "data", "host", "secrets"]
    source: str
    target: str
    read_only: bool = False
    why: str = ""


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting a service's program gets (an environment variable)."""

    name: str
    value: str
    why: str = ""


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument of the program a service runs."""

    value: str
    why: str = ""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """How to tell a service is well: an HTTP GET of ``path`` on ``port`` answers, or, with
    ``path`` None, something listens on ``port`` (found without connecting to it)."""

    port: int
    path: str | None
    # Seconds a starting service gets before a failed check counts.
    grace: int = 0
    interval: int = 30
    timeout: int = 5
    retries: int = 3


@dataclass(frozen=True, slots=True)
class Route:
    """A path the proxy serves from a service: the hub's ``/``, or a printer's or camera's
    ``/printers/<name>/``, ``/cameras/<name>/``, passed on only after the hub's gate said yes."""

    kind: Literal["hub", "printer", "camera"]
    name: str
    path: str
    # Where its requests go: a service on the stack's network and its port, or (port None)
    # an address as a whole, e.g. a Unix socket's for `fabfleet demo`.
    host: str
    port: int | None

    @property
    def gated(self) -> bool:
        """Whether the hub's gate is asked first (the hub checks its own pages itself)."""
        return self.kind != "hub"

    @property
    def upstream(self) -> str:
        """``host:port``, or the address given as ``host``."""
        return self.host if self.port is None else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Published:
    """A port the host gives the proxy, on ``address`` (``0.0.0.0`` or ``::``)."""

    address: str
    port: int


@dataclass(frozen=True, slots=True)
class Network:
    """A network of the stack; only one with ``route_out`` reaches beyond the stack."""

    name: str
    route_out: bool
    why: str = ""


@dataclass(frozen=True, slots=True)
class Service:
    """One container of the stack and everything it is given."""

    name: str
    role: Role
    # The printer's or camera's name in the fleet file; "" for the hub and the proxy.
    fleet_name: str
    image: str
    image_role: ImageRole
    device: Device | None = None
    command: tuple[Argument, ...] = ()
    environment: tuple[Setting, ...] = ()
    mounts: tuple[Mount, ...] = ()
    scratch: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    health: HealthCheck | None = None
    # The path the proxy gives it (printers, cameras), else None.
    route: Route | None = None
    published: tuple[Published, ...] = ()
    # Binds ports below 1024 in its own network namespace without any capability.
    low_ports: bool = False

    def setting(self, name: str) -> str | None:
        """The value of setting ``name``, None when it has none."""
        return next((s.value for s in self.environment if s.name == name), None)


@dataclass(frozen=True, slots=True)
class UdevLink:
    """A stable link udev makes for one enrolled USB device, owned by the containers' user.

    ``match`` is the device property that finds it (``serial`` or ``port_path``) and
    ``value`` its checked value; a printer's FTDI adapter gets ``ftdi_latency_ms``.
    """

    kind: Literal["printer", "camera"]
    name: str
    match: Literal["serial", "port_path"]
    value: str
    link: str
    owner: tuple[int, int]
    ftdi_latency_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Bed:
    """A printer's build volume in mm."""

    x: float
    y: float
    z: float


@dataclass(frozen=True, slots=True)
class PrinterEntry:
    """A printer of the fleet: how it is reached, its services, and what the hub knows of it."""

    name: str
    reach: Reach
    service: str
    # Its simulator's service when simulated, else "".
    simulator: str
    link: UdevLink | None
    route: Route
    camera: str | None
    groups: tuple[str, ...]
    tags: tuple[str, ...]
    materials: tuple[str, ...]
    nozzle: float
    bed: Bed | None
    # Service tasks of this printer alone, as hub/fleet.json carries them.
    maintenance: tuple[dict[str, Any], ...] = ()
    # Its power device's fields as hub/fleet.json carries them (docs/power.md); (): none.
    power: Fields = ()


@dataclass(frozen=True, slots=True)
class CameraEntry:
    """A webcam of the fleet: its stream's service, link and route."""

    name: str
    service: str
    link: UdevLink
    route: Route
    width: int
    height: int
    fps: int
    format: Literal["mjpeg", "yuyv"]
    power: Fields = ()


@dataclass(frozen=True, slots=True)
class Hub:
    """The hub: its service and the site settings it is told."""

    service: str
    address: str
    max_heating: int
    # Site settings the hub is told as they are (fleet.json "site"), by key.
    settings: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class Proxy:
    """The one way into the stack: where it listens and the routes behind the hub's gate."""

    service: str
    http_port: int
    ipv6: bool
    # With TLS: HTTPS on https_port, HTTP only redirects; the certificate's paths inside.
    https_port: int | None
    tls_certificate: str
    tls_key: str
    routes: tuple[Route, ...]

    @property
    def printer_routes(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.kind == "printer")

    @property
    def camera_routes(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.kind == "camera")


@dataclass(frozen=True, slots=True)
class Stack:
    """Everything that runs for one fleet, in the order services are listed."""

    name: str
    # The one unprivileged user (uid, gid) every service runs as and every link belongs to.
    user: tuple[int, int]
    services: tuple[Service, ...]
    printers: tuple[PrinterEntry, ...]
    cameras: tuple[CameraEntry, ...]
    hub: Hub
    proxy: Proxy
    networks: tuple[Network, ...]
    # Named data volumes the runtime keeps (a printer's files and database).
    volumes: tuple[str, ...]

    @property
    def links(self) -> tuple[UdevLink, ...]:
        """Every udev link: the USB printers', then the cameras'."""
        printers = tuple(p.link for p in self.printers if p.link is not None)
        return printers + tuple(c.link for c in self.cameras)

    def service(self, name: str) -> Service:
        """The service called ``name``; KeyError if there is none."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def without_devices(self, names: Collection[str]) -> Stack:
        """This stack with the services ``names`` given no device (their device is unplugged)."""
        services = tuple(replace(s, device=None) if s.name in names else s for s in self.services)
        return replace(self, services=services)
