"""The fleet: every enrolled printer and camera and the site settings, as a typed model."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from instance.materials import DEFAULT_MATERIALS
from instance.park import line_problem
from instance.sim.faults import parse_fault
from orchestrator.fleet.maintenance import ServiceTask
from orchestrator.fleet.power import MqttBroker, PowerDevice, PowerSite, uses_mqtt
from orchestrator.fleet.problems import FieldPath
from orchestrator.fleet.spoolman import Spoolman

# Rates Marlin, Klipper and RepRapFirmware boards are built for; anything else is
# almost always a typo, and a wrong rate only shows up as garbage on the line.
STANDARD_BAUDRATES = (
    9600,
    19200,
    38400,
    57600,
    115200,
    230400,
    250000,
    460800,
    500000,
    921600,
    1000000,
)
NETWORK_SCHEMES = ("socket", "rfc2217")
CAMERA_FORMATS = ("mjpeg", "yuyv")
IDENTITY_FIELDS = ("serial", "port_path", "url", "simulated")
# The identities of a device plugged into this host's USB (the others need no udev rule).
USB_IDENTITY_FIELDS = ("serial", "port_path")
_IDENTITY_FIELDS = {"printer": IDENTITY_FIELDS, "camera": USB_IDENTITY_FIELDS}

# Names become DNS labels and container names (printer-<name>), so they are short
# lowercase labels; 32 leaves room for the prefix within Docker's limits.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
# udev ID_PATH: bus-address pairs joined by '-', e.g. pci-0000:00:14.0-usb-0:2:1.0.
_PORT_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
_RESOLUTION = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")
# A DNS name a certificate is for: labels of letters, digits and '-', a first '*.' allowed.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLS_NAME = re.compile(rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")
# A Docker image repository without tag: lowercase parts joined by '/', the first
# of which may be a registry (host with '.' or ':port', or localhost).
_REPO_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+"
_IMAGE_REPOSITORY = re.compile(rf"^(?:(?:{_REGISTRY})/)?{_REPO_PART}(?:/{_REPO_PART})*$")

# Strict parsing: "250000" in quotes is text, not a number, and is refused rather
# than guessed at, as Klipper refuses what it cannot read exactly.
_MODEL = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise PydanticCustomError(
            "fleet_name",
            "'{value}' is not a valid name; names are lowercase letters, digits and '-' "
            "(1 to 32, starting and ending with a letter or digit)",
            {"value": value},
        )
    return value


def _check_baudrate(value: int) -> int:
    if value not in STANDARD_BAUDRATES:
        raise PydanticCustomError(
            "fleet_baudrate",
            "{value} is not a standard baud rate; use one of {rates}",
            {"value": value, "rates": ", ".join(str(r) for r in STANDARD_BAUDRATES)},
        )
    return value


def _check_serial(value: str) -> str:
    if not value or value != value.strip():
        raise PydanticCustomError(
            "fleet_serial",
            "'{value}' is not a USB serial number; copy ID_SERIAL_SHORT from "
            "`udevadm info -q property -n /dev/ttyUSB0`",
            {"value": value},
        )
    return value


def _check_port_path(value: str) -> str:
    if not _PORT_PATH.match(value) or "usb" not in value:
        raise PydanticCustomError(
            "fleet_port_path",
            "'{value}' is not a udev USB port path; copy ID_PATH from "
            "`udevadm info -q property -n /dev/ttyUSB0`, e.g. pci-0000:00:14.0-usb-0:2:1.0",
            {"value": value},
        )
    return value


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (
        parts.scheme not in NETWORK_SCHEMES
        or not parts.hostname
        or port is None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise PydanticCustomError(
            "fleet_url",
            "'{value}' is not a printer URL; use socket://host:port or rfc2217://host:port",
            {"value": value},
        )
    return value


def _check_resolution(value: str) -> str:
    if not _RESOLUTION.match(value):
        raise PydanticCustomError(
            "fleet_resolution",
            "'{value}' is not a resolution; write width x height, e.g. 1280x720",
            {"value": value},
        )
    return value


def _check_path(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError(
            "fleet_path", "'{value}' is not an absolute path; start it with '/'", {"value": value}
        )
    return value


def _check_image_repository(value: str) -> str:
    if len(value) > 200 or not _IMAGE_REPOSITORY.match(value):
        raise PydanticCustomError(
            "fleet_image_repository",
            "'{value}' is not an image repository; use lowercase letters, digits, '.', '_' "
            "and '-', with '/' between parts and no tag, e.g. fabfleet or lab/fabfleet",
            {"value": value},
        )
    return value


def _off_as_written(value: object) -> object:
    # YAML reads an unquoted `off` as false: it is the word the file means.
    return "off" if value is False else value


Name = Annotated[str, AfterValidator(_check_name)]
Serial = Annotated[str, AfterValidator(_check_serial)]
PortPath = Annotated[str, AfterValidator(_check_port_path)]
PrinterUrl = Annotated[str, AfterValidator(_check_url)]
Baudrate = Annotated[int, AfterValidator(_check_baudrate)]
Resolution = Annotated[str, AfterValidator(_check_resolution)]
AbsolutePath = Annotated[str, AfterValidator(_check_path)]
ImageRepository = Annotated[str, AfterValidator(_check_image_repository)]
Millimetres = Annotated[float, Field(gt=0)]
Label = Annotated[str, Field(min_length=1, max_length=64)]
ContainerId = Annotated[int, Field(ge=1, le=65534)]
OffOrKeep = Annotated[Literal["off", "keep"], BeforeValidator(_off_as_written)]
HotendCelsius = Annotated[int, Field(ge=150, le=450)]
BedCelsius = Annotated[int, Field(ge=0, le=150)]


class AfterJob(BaseModel):
    """Heaters and fans once a job has ended: ``off`` or ``keep``; unset: the site's word."""

    model_config = _MODEL

    heaters: OffOrKeep | None = None
    fans: OffOrKeep | None = None

    def over(self, site: AfterJob) -> tuple[str, str]:
        """(heaters, fans): this where set, else ``site``'s, else off."""
        return (
            self.heaters or site.heaters or "off",
            self.fans or site.fans or "off",
        )


class Material(BaseModel):
    """A material's temperature preset in °C."""

    model_config = _MODEL

    hotend: HotendCelsius
    bed: BedCelsius


class AxisLimits(BaseModel):
    """A per-axis firmware limit (mm/s for feedrates, mm/s² for accelerations)."""

    model_config = _MODEL

    x: Millimetres | None = None
    y: Millimetres | None = None
    z: Millimetres | None = None
    e: Millimetres | None = None


class BedSize(BaseModel):
    """The build volume in mm."""

    model_config = _MODEL

    x: Millimetres
    y: Millimetres
    z: Millimetres


class PrinterProfile(BaseModel):
    """What a printer can do: firmware limits, build volume, nozzle, loadable materials, tags."""

    model_config = _MODEL

    max_feedrate: AxisLimits | None = None
    max_acceleration: AxisLimits | None = None
    bed: BedSize | None = None
    nozzle: Annotated[float, Field(gt=0, le=5)] = 0.4
    # Names from the site's material table; none: the page offers the whole table.
    materials: list[Label] = []
    tags: list[Label] = []
    # Heaters and fans after a job, where this printer differs from the site.
    after_job: AfterJob | None = None


def _check_sim_fault(value: str) -> str:
    try:
        parse_fault(value)
    except ValueError as error:
        raise PydanticCustomError(
            "fleet_sim_fault",
            "{problem}; `fabfleet-sim --list-faults` lists them",
            {"problem": str(error)},
        ) from None
    return value.strip()


SimFault = Annotated[str, AfterValidator(_check_sim_fault)]


class Simulation(BaseModel):
    """A simulated printer (fabfleet-sim) run by the stack itself, for a fleet without hardware.

    ``simulated: true`` in the file is this with every default.
    """

    model_config = _MODEL

    # Moves and heat-ups take this many times less than on a real printer.
    time_factor: Annotated[float, Field(ge=1, le=1000)] = 20.0
    # What it pretends to be: fabfleet-sim's --identity.
    firmware: Literal["marlin2", "marlin1", "prusa", "rrf", "repetier", "klipper"] = "marlin2"
    # fabfleet-sim's --fault NAME[:key=value,...], each checked here (a soak, a demo of faults).
    faults: list[SimFault] = []
    # False: no ok after a resend, whatever the firmware (--no-ok-after-resend).
    ok_after_resend: bool | None = None
    # The seed of the faults drawn at random (--seed).
    seed: Annotated[int, Field(ge=0)] = 0
    # Keep every executed command in the simulator's volume (--record /data/executed.gcode).
    record: bool = False
    # Heating rates in °C a second before the time factor (--hotend-rate, --bed-rate); unset:
    # the simulator's (a real printer's: 3 and 0.8).
    hotend_rate: Annotated[float, Field(gt=0, le=1000)] | None = None
    bed_rate: Annotated[float, Field(gt=0, le=1000)] | None = None

    def describe(self) -> str:
        """E.g. 'marlin2 at 20x speed'."""
        return f"{self.firmware} at {self.time_factor:g}x speed"


def _park_line(value: str) -> str:
    problem = line_problem(value)
    if problem is not None:
        raise PydanticCustomError("fleet_park_gcode", "{problem}", {"problem": problem})
    return value.strip()


ParkLine = Annotated[str, AfterValidator(_park_line)]


class Timelapse(BaseModel):
    """A printer's timelapse default and how many videos it keeps (docs/timelapse.md).

    Needs the printer's ``camera``; a job may still choose on or off.
    """

    model_config = _MODEL

    # A job's timelapse unless it chooses: off, a frame per layer, or every interval_s.
    mode: Literal["off", "layer", "interval"] = "layer"
    interval_s: Annotated[float, Field(ge=1, le=3600)] = 10.0
    # The oldest videos are deleted past either limit; 0: no limit.
    keep_videos: Annotated[int, Field(ge=0, le=100000)] = 20
    keep_mb: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    # Layer frames: G-code that parks the head before each frame; the print server brings
    # it back after. Empty: no park move.
    park_gcode: Annotated[list[ParkLine], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _park_needs_layers(self) -> Timelapse:
        if self.park_gcode and self.mode == "interval":
            raise PydanticCustomError(
                "fleet_park_interval",
                "park_gcode is for layer frames: interval mode never parks (use mode: layer,"
                " or remove park_gcode)",
            )
        return self


class Printer(BaseModel):
    """One enrolled printer and how to find it: USB serial, USB port path, network URL,
    or a simulator the stack runs for it."""

    model_config = _MODEL

    name: Name
    serial: Serial | None = None
    port_path: PortPath | None = None
    url: PrinterUrl | None = None
    simulated: Simulation | None = None
    baudrate: Baudrate = 250000
    # Bytes the firmware's serial receive buffer holds (Marlin's RX_BUFFER_SIZE is 128).
    receive_buffer: Annotated[int, Field(ge=32, le=4096)] = 128
    # Commands the firmware queues (Marlin's BUFSIZE is 4).
    command_buffer: Annotated[int, Field(ge=1, le=64)] = 4
    # Lines in flight: "auto" (many; one for a while after a line error) or "single".
    window: Literal["auto", "single"] = "auto"
    # Seconds the device may be gone before the print server exits (status 75) so that
    # its container is started again and the device link resolved anew; 0: never.
    device_gone_timeout: Annotated[int, Field(ge=0, le=86400)] = 60
    profile: PrinterProfile | None = None
    camera: Name | None = None
    # Timelapses of its jobs from that camera (docs/timelapse.md).
    timelapse: Timelapse | None = None
    # Groups the hub's rights and fleet queue can name (e.g. "lab-a", "students").
    groups: list[Label] = []
    # Service tasks for this printer alone (docs/maintenance.md).
    maintenance: list[ServiceTask] = []
    # Its power device (smart plug, relay), docs/power.md.
    power: PowerDevice | None = None

    @field_validator("simulated", mode="before")
    @classmethod
    def _simulated_true(cls, value: object) -> object:
        # `simulated: true` is the simulator with its defaults; `false` would read as
        # "not simulated" while saying nothing about how the printer is found.
        if value is True:
            return {}
        if isinstance(value, bool):
            raise PydanticCustomError(
                "fleet_simulated",
                "false is not allowed; remove 'simulated' and give serial, port_path or url, "
                "or write 'simulated: true'",
            )
        return value

    @field_serializer("simulated")
    def _simulated_as_written(self, value: Simulation | None) -> object:
        # Written back as it was given: `true` when no option was spelt out.
        if value is None or not value.model_fields_set:
            return None if value is None else True
        return value.model_dump(mode="json", exclude_unset=True)

    @model_validator(mode="after")
    def _timelapse_camera(self) -> Printer:
        if self.timelapse is not None and self.camera is None:
            raise PydanticCustomError(
                "fleet_timelapse_camera",
                "a timelapse needs this printer's camera: add camera: <name> (an entry of"
                " cameras), or remove timelapse",
            )
        return self

    def identity(self) -> tuple[str, str] | None:
        """The one (field, value) that finds this printer, or None when it has none or two."""
        return _one_identity(self, _IDENTITY_FIELDS["printer"])


class Camera(BaseModel):
    """One enrolled USB webcam, streamed by its own container."""

    model_config = _MODEL

    name: Name
    serial: Serial | None = None
    port_path: PortPath | None = None
    resolution: Resolution = "1280x720"
    fps: Annotated[int, Field(ge=1, le=60)] = 30
    format: Literal["mjpeg", "yuyv"] = "mjpeg"
    power: PowerDevice | None = None

    def identity(self) -> tuple[str, str] | None:
        """The one (field, value) that finds this camera, or None when it has none or two."""
        return _one_identity(self, _IDENTITY_FIELDS["camera"])


def _check_tls_name(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _TLS_NAME.match(value) or len(value) > 253:
            raise PydanticCustomError(
                "fleet_tls_name",
                "'{value}' is neither a host name nor an IP address; write e.g. "
                "farm.lab.example, farm or 192.168.1.20",
                {"value": value},
            ) from None
    return value


TlsName = Annotated[str, AfterValidator(_check_tls_name)]


class Tls(BaseModel):
    """The certificate the proxy serves HTTPS with: the site's own PEM files, or one
    ``fabfleet up`` makes and signs itself (``self_signed``) for ``names``."""

    model_config = _MODEL

    certificate: AbsolutePath | None = None
    key: AbsolutePath | None = None
    self_signed: bool = False
    # The names and addresses a self-signed certificate is made for, besides the host's
    # name, localhost, 127.0.0.1 and ::1.
    names: Annotated[list[TlsName], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _one_source(self) -> Tls:
        files = (self.certificate is not None, self.key is not None)
        if self.self_signed and any(files):
            raise PydanticCustomError(
                "fleet_tls_source",
                "self_signed makes its own certificate and key: remove certificate and key,"
                " or remove self_signed",
            )
        if not self.self_signed and not all(files):
            raise PydanticCustomError(
                "fleet_tls_files",
                "give both certificate and key (PEM files), or write self_signed: true",
            )
        if self.names and not self.self_signed:
            raise PydanticCustomError(
                "fleet_tls_names",
                "names are for a self-signed certificate; your certificate has its own names",
            )
        return self

    def files(self) -> tuple[str, str] | None:
        """(certificate, key) of the site's own files; None for a self-signed certificate."""
        if self.certificate is None or self.key is None:
            return None
        return self.certificate, self.key


class DispatchRules(BaseModel):
    """The site's rules for the one check before every dispatch (docs/dispatch-check.md)."""

    model_config = _MODEL

    # The loaded spool must hold the job's filament plus this share and these grams.
    spool_margin_percent: Annotated[float, Field(ge=0, le=100)] = 10.0
    spool_margin_g: Annotated[float, Field(ge=0, le=1000)] = 5.0
    # An overdue service task holds a job back, or only warns.
    overdue_maintenance: Literal["hold", "warn"] = "hold"

    def hub_json(self) -> dict[str, object]:
        return self.model_dump()


class Site(BaseModel):
    """Settings of the host as a whole."""

    model_config = _MODEL

    http_port: Annotated[int, Field(ge=1, le=65535)] = 80
    tls: Tls | None = None
    # The HTTPS port, with tls (HTTP then only redirects to it).
    https_port: Annotated[int, Field(ge=1, le=65535)] = 443
    ipv6: bool = True
    image_base: Label = "debian:bookworm-slim"
    # Images are <image_repository>/<role>:<version> (role: instance, camera, hub, proxy).
    image_repository: ImageRepository = "fabfleet"
    state_dir: AbsolutePath = "/var/lib/fabfleet"
    # The one unprivileged user every container runs as and the only one granted the
    # devices; never 0, so nothing in the stack runs as root.
    container_uid: ContainerId = 10001
    container_gid: ContainerId = 10001
    # The fleet queue starts a job only while fewer than this many printers heat up
    # (0: no limit), so a farm does not trip its breaker.
    max_heating: Annotated[int, Field(ge=0, le=1000)] = 0
    dispatch: DispatchRules = DispatchRules()
    # Heaters and fans once a job has ended (off unless said otherwise).
    after_job: AfterJob = AfterJob()
    # Material presets added to, or replacing entries of, the built-in table.
    materials: dict[Label, Material] = {}
    # The site's Spoolman (docs/spools.md); none: no spool tracking.
    spoolman: Spoolman | None = None
    # Service tasks and their intervals (docs/maintenance.md).
    maintenance: list[ServiceTask] = []
    # Power devices: when a printer may be switched off, how power-on goes (docs/power.md).
    power: PowerSite = PowerSite()
    # The MQTT broker the hub uses (MQTT power devices).
    mqtt: MqttBroker | None = None

    @model_validator(mode="after")
    def _two_ports(self) -> Site:
        if self.tls is not None and self.https_port == self.http_port:
            raise PydanticCustomError(
                "fleet_https_port",
                "https_port and http_port are both {port}; HTTP needs a port of its own"
                " (it redirects to HTTPS)",
                {"port": self.https_port},
            )
        return self

    def material_table(self) -> dict[str, Material]:
        """The built-in materials (spelt as built in) with this site's changes, then additions."""
        table = {name: Material(hotend=h, bed=b) for name, (h, b) in DEFAULT_MATERIALS.items()}
        known = {name.lower(): name for name in table}
        for name, material in self.materials.items():
            table[known.get(name.lower(), name)] = material
        return table


class Fleet(BaseModel):
    """The whole fleet file. Cross-entry rules live in :func:`find_conflicts`."""

    model_config = _MODEL

    site: Site = Site()
    printers: list[Printer] = []
    cameras: list[Camera] = []

    @model_validator(mode="after")
    def _mqtt_broker(self) -> Fleet:
        devices = [p.power for p in self.printers] + [c.power for c in self.cameras]
        if self.site.mqtt is None and uses_mqtt(list(devices)):
            raise PydanticCustomError(
                "fleet_mqtt_broker",
                "an mqtt power device needs the broker: add site: mqtt: host: <broker>",
            )
        return self


Device = Printer | Camera


def after_job(fleet: Fleet, printer: Printer) -> tuple[str, str]:
    """(heaters, fans) after a job on ``printer``: its profile's word over the site's."""
    own = printer.profile.after_job if printer.profile else None
    return (own or AfterJob()).over(fleet.site.after_job)


def presets(fleet: Fleet, printer: Printer) -> list[dict[str, object]]:
    """The printer's temperature presets: its materials, or the whole table if it lists none.

    Materials not in the table are left out (:func:`unknown_materials` reports them).
    """
    table = fleet.site.material_table()
    by_lower = {name.lower(): name for name in table}
    listed = printer.profile.materials if printer.profile else []
    names = [by_lower[m.lower()] for m in listed if m.lower() in by_lower] if listed else table
    return [{"name": n, "hotend": table[n].hotend, "bed": table[n].bed} for n in names]


def presets_json(fleet: Fleet, printer: Printer) -> str:
    """:func:`presets` as compact JSON, as the print server's ``--presets`` takes them."""
    return json.dumps(presets(fleet, printer), separators=(",", ":"))


def unknown_materials(fleet: Fleet) -> list[Conflict]:
    """Every profile material the site's table does not know, at its place in the file."""
    table = fleet.site.material_table()
    known = {name.lower() for name in table}
    conflicts: list[Conflict] = []
    for index, printer in enumerate(fleet.printers):
        for position, name in enumerate(printer.profile.materials if printer.profile else []):
            if name.lower() not in known:
                conflicts.append(
                    Conflict(
                        ("printers", index, "profile", "materials", position),
                        f"unknown material '{name}'; known: {', '.join(sorted(table))}"
                        " (add it under site: materials: with its hotend and bed °C)",
                    )
                )
    return conflicts


def _one_identity(device: Device, fields: tuple[str, ...]) -> tuple[str, str] | None:
    given: list[tuple[str, str]] = []
    for field in fields:
        value = getattr(device, field)
        if isinstance(value, str):
            given.append((field, value))
        elif isinstance(value, Simulation):
            given.append((field, value.describe()))
    return given[0] if len(given) == 1 else None


@dataclass(frozen=True, slots=True)
class Conflict:
    """A rule between entries broken at ``path``; ``other`` is the entry it clashes with."""

    path: FieldPath
    message: str
    other: FieldPath | None = None


def _kind(device: Device) -> str:
    return "printer" if isinstance(device, Printer) else "camera"


def _entries(
    printers: list[tuple[int, Printer]],
    cameras: list[tuple[int, Camera]],
    last: FieldPath | None,
) -> Iterator[tuple[FieldPath, Device]]:
    entries: list[tuple[FieldPath, Device]] = [(("printers", i), p) for i, p in printers]
    entries += [(("cameras", i), c) for i, c in cameras]
    yield from (e for e in entries if e[0] != last)
    yield from (e for e in entries if e[0] == last)


def find_conflicts(
    printers: list[tuple[int, Printer]],
    cameras: list[tuple[int, Camera]],
    camera_names: Collection[str] | None = None,
    last: FieldPath | None = None,
) -> list[Conflict]:
    """Rules between entries, over the (index, entry) pairs that are valid on their own.

    Each clash is reported on the later entry, naming the earlier one; the entry
    at ``last`` counts as latest, so checking a new entry there yields exactly the
    reasons to refuse it. ``camera_names``
    are all cameras named in the file, broken ones included, so a printer is not
    blamed for a camera entry that has a problem of its own.
    """
    conflicts: list[Conflict] = []
    names: dict[str, tuple[FieldPath, Device]] = {}
    identities: dict[tuple[str, str], tuple[FieldPath, Device]] = {}
    for path, device in _entries(printers, cameras, last):
        kind = _kind(device)
        if device.name in names:
            other_path, other = names[device.name]
            conflicts.append(
                Conflict(
                    (*path, "name"),
                    f"name '{device.name}' is already taken by a {_kind(other)}",
                    other_path,
                )
            )
        else:
            names[device.name] = (path, device)
        identity = device.identity()
        if identity is None:
            options = _IDENTITY_FIELDS[kind]
            given = [f for f in options if getattr(device, f) is not None]
            conflicts.append(
                Conflict(
                    path,
                    f"give exactly one identity ({', '.join(options)}); "
                    f"found {' and '.join(given) if given else 'none'}",
                )
            )
            continue
        if identity[0] == "simulated":
            continue  # each simulated printer has a simulator of its own: nothing to share
        key = (identity[0], identity[1].lower() if identity[0] == "url" else identity[1])
        if key in identities:
            other_path, other = identities[key]
            hint = (
                "; if both boards report the same serial (common with CH340), "
                "identify them by port_path instead"
                if identity[0] == "serial"
                else ""
            )
            conflicts.append(
                Conflict(
                    (*path, identity[0]),
                    f"{identity[0]} '{identity[1]}' is already enrolled as "
                    f"{_kind(other)} '{other.name}'{hint}",
                    other_path,
                )
            )
        else:
            identities[key] = (path, device)
    if camera_names is None:
        camera_names = [c.name for _, c in cameras]
    for index, printer in printers:
        if printer.camera is not None and printer.camera not in camera_names:
            known = ", ".join(sorted(camera_names)) if camera_names else "none"
            conflicts.append(
                Conflict(
                    ("printers", index, "camera"),
                    f"no camera named '{printer.camera}' (enrolled cameras: {known})",
                )
            )
    return conflicts
