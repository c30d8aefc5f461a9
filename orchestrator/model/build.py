"""Building the model of the stack from a fleet: :func:`stack_of`, once, for every view."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from instance.park import SEPARATOR as PARK_SEPARATOR
from orchestrator.fleet.model import (
    Camera,
    Fleet,
    Printer,
    PrinterProfile,
    Site,
    after_job,
    presets_json,
)
from orchestrator.model import paths
from orchestrator.model.images import image
from orchestrator.model.stack import (
    Argument,
    Bed,
    CameraEntry,
    Device,
    Fields,
    HealthCheck,
    Hub,
    Mount,
    Network,
    PrinterEntry,
    Proxy,
    Published,
    Reach,
    Route,
    Service,
    Setting,
    Stack,
    UdevLink,
)
from orchestrator.stack.secrets import (
    GATE_KEY,
    HUB_DATA,
    POWER_SECRETS,
    PROXY_KEY_CONF,
    TLS_DIR,
    printer_key_file,
)

STACK_NAME = "fabfleet"
HUB = "hub"
PROXY = "proxy"
INTERNAL = "internal"
PUBLIC = "public"
# The one network with a route to the LAN, for printers reached by URL.
PRINTERS = "printers"
# The hub's route to the LAN, only when the fleet names a Spoolman (docs/spools.md).
SPOOLMAN = "spoolman"
# The hub's route to the LAN, only when the fleet names an MQTT broker (docs/mqtt.md).
BROKER = "broker"
# The hub's route to the LAN, only when a printer or camera has a power device it reaches
# over the network (Tasmota, Shelly, Home Assistant, HTTP: docs/power.md).
POWER_NET = "power"
NETWORK_POWER = ("tasmota", "shelly1", "shelly2", "homeassistant", "http")
# Why the hub is on each of its networks with a route out.
_HUB_LANS = {
    SPOOLMAN: "For the hub to reach the site's Spoolman (site: spoolman:): a route to the LAN.",
    BROKER: "For the hub to reach the site's MQTT broker (site: mqtt:): a route to the LAN.",
    POWER_NET: "For the hub to reach the power devices the fleet file names (Tasmota, Shelly, "
    "Home Assistant, HTTP): a route to the LAN.",
}
# What udev's usb_id/path_id ever put in ID_SERIAL_SHORT and ID_PATH: they replace
# every other byte with '_'. Anything else could break a rule's quoting or act as
# a glob ('*', '?', '[', '|') and match another device, so it is refused, not escaped.
_UDEV_VALUE = re.compile(r"^[A-Za-z0-9#+\-.:=@_]+$")
# The udev property each USB identity is matched by.
UDEV_PROPERTY = {"serial": "ID_SERIAL_SHORT", "port_path": "ID_PATH"}
_LISTEN = f"0.0.0.0:{paths.SERVICE_PORT}"
_API_HEALTH = HealthCheck(paths.SERVICE_PORT, "/api/health", grace=20)


class ModelError(Exception):
    """The fleet cannot be made a stack as it is; the message says which entry and why."""


def _link(kind: str, device: Printer | Camera, site: Site) -> UdevLink | None:
    """The udev link of ``device``; None for a printer reached over the network or simulated."""
    identity = device.identity()
    if identity is None:
        raise ModelError(f"{kind} '{device.name}' needs exactly one identity to be rendered")
    field, value = identity
    if field not in UDEV_PROPERTY:
        return None
    match: Literal["serial", "port_path"] = "serial" if field == "serial" else "port_path"
    if not _UDEV_VALUE.match(value):
        raise ModelError(
            f"{kind} '{device.name}': {field} {value!r} cannot be matched by udev; "
            f"copy {UDEV_PROPERTY[field]} exactly as `udevadm info -q property` shows it"
        )
    return UdevLink(
        kind="printer" if kind == "printer" else "camera",
        name=device.name,
        match=match,
        value=value,
        link=f"{paths.LINK_DIR}/{kind}-{device.name}",
        owner=(site.container_uid, site.container_gid),
        ftdi_latency_ms=paths.FTDI_LATENCY_MS if kind == "printer" else None,
    )


def _reach(printer: Printer) -> Reach:
    if printer.simulated is not None:
        return "simulated"
    return "network" if printer.url is not None else "usb"


def printers_of(fleet: Fleet) -> tuple[PrinterEntry, ...]:
    """Every printer of ``fleet``: how it is reached, its services, link and route."""
    entries = []
    for p in fleet.printers:
        service = f"printer-{p.name}"
        profile = p.profile or PrinterProfile()
        bed = profile.bed
        entries.append(
            PrinterEntry(
                name=p.name,
                reach=_reach(p),
                service=service,
                simulator=f"sim-{p.name}" if p.simulated is not None else "",
                link=_link("printer", p, fleet.site),
                route=Route("printer", p.name, f"/printers/{p.name}/", service, paths.SERVICE_PORT),
                camera=p.camera,
                groups=tuple(p.groups),
                tags=tuple(profile.tags),
                materials=tuple(profile.materials),
                nozzle=profile.nozzle,
                bed=None if bed is None else Bed(bed.x, bed.y, bed.z),
                maintenance=tuple(task.hub_json() for task in p.maintenance),
                power=fields_of(p.power),
            )
        )
    return tuple(entries)


def fields_of(model: BaseModel | None, unset: bool = True) -> Fields:
    """A power device or site setting as flat (name, value) pairs for hub/fleet.json."""
    if model is None:
        return ()
    data = model.model_dump(mode="json", exclude_none=True, exclude_unset=not unset)
    return tuple(data.items())


def hub_of(fleet: Fleet) -> Hub:
    """The hub's service and the site settings it is told."""
    return Hub(HUB, paths.service_address(HUB), fleet.site.max_heating, hub_settings(fleet))


def cameras_of(fleet: Fleet) -> tuple[CameraEntry, ...]:
    """Every camera of ``fleet``: its stream's service, link and route."""
    entries = []
    for c in fleet.cameras:
        link = _link("camera", c, fleet.site)
        if link is None:  # a camera's identities are all USB ones
            raise ModelError(f"camera '{c.name}' needs a serial or port_path")
        width, height = c.resolution.split("x")
        service = f"camera-{c.name}"
        entries.append(
            CameraEntry(
                name=c.name,
                service=service,
                link=link,
                route=Route("camera", c.name, f"/cameras/{c.name}/", service, paths.SERVICE_PORT),
                width=int(width),
                height=int(height),
                fps=c.fps,
                format=c.format,
                power=fields_of(c.power),
            )
        )
    return tuple(entries)


def proxy_of(site: Site, routes: tuple[Route, ...], service: str = PROXY) -> Proxy:
    """The proxy of ``site`` in front of ``routes`` (printers' and cameras')."""
    return Proxy(
        service=service,
        http_port=site.http_port,
        ipv6=site.ipv6,
        https_port=site.https_port if site.tls is not None else None,
        tls_certificate=paths.TLS_CERTIFICATE,
        tls_key=paths.TLS_KEY,
        routes=routes,
    )


class _Images:
    def __init__(self, site: Site, version: str) -> None:
        self._repository = site.image_repository
        self._version = version

    def __call__(self, role: str) -> str:
        return image(self._repository, role, self._version)


def _power_secrets(fleet: Fleet) -> tuple[Mount, ...]:
    """The power secrets directory, for a fleet file that names a power secret."""
    devices = [p.power for p in fleet.printers] + [c.power for c in fleet.cameras]
    named = any(getattr(d, "secret", None) for d in devices)
    if not named and (fleet.site.mqtt is None or fleet.site.mqtt.secret is None):
        return ()
    return (
        Mount(
            "secrets",
            POWER_SECRETS,
            paths.POWER_SECRETS,
            read_only=True,
            why="The power devices' passwords and tokens the fleet file names (docs/power.md).",
        ),
    )


def hub_lans(fleet: Fleet) -> tuple[str, ...]:
    """The networks with a route out the hub alone is on, for what the fleet file names."""
    devices = [p.power for p in fleet.printers] + [c.power for c in fleet.cameras]
    wanted = {
        SPOOLMAN: fleet.site.spoolman is not None,
        BROKER: fleet.site.mqtt is not None,
        POWER_NET: any(getattr(d, "type", None) in NETWORK_POWER for d in devices),
    }
    return tuple(name for name, wanted_now in wanted.items() if wanted_now)


def _hub(images: _Images, extra: tuple[Mount, ...] = (), lans: tuple[str, ...] = ()) -> Service:
    return Service(
        name=HUB,
        role="hub",
        fleet_name="",
        image=images("hub"),
        image_role="hub",
        environment=(
            Setting("FABFLEET_DATA_DIR", paths.DATA_DIR),
            Setting("FABFLEET_LISTEN", _LISTEN),
            Setting(
                "FABFLEET_FLEET",
                paths.HUB_FLEET,
                "The fleet's printers and cameras, reread when `fabfleet up` changes it.",
            ),
            Setting("FABFLEET_GATE_KEY_FILE", paths.HUB_KEY),
        ),
        mounts=(
            Mount(
                "data",
                HUB_DATA,
                paths.DATA_DIR,
                why="Users, sessions, history: a directory of the state directory (0700), so "
                "the\n`fabfleet user` commands on the host reach the same database.",
            ),
            Mount("rendered", paths.HUB_RENDERED, paths.HUB_DIR, read_only=True),
            Mount("secret", GATE_KEY, paths.HUB_KEY, read_only=True),
            *extra,
        ),
        scratch=(paths.SCRATCH,),
        networks=(INTERNAL, *lans),
        health=_API_HEALTH,
        route=Route("hub", HUB, "/", HUB, paths.SERVICE_PORT),
    )


def _simulator(printer: Printer, images: _Images) -> Service:
    assert printer.simulated is not None
    sim = printer.simulated
    args = ["fabfleet-sim", "--tcp", f"0.0.0.0:{paths.SIMULATOR_PORT}"]
    args += ["--identity", sim.firmware, "--rx-buffer", str(printer.receive_buffer)]
    args += ["--command-buffer", str(printer.command_buffer), "--move-timing", "accelerated"]
    args += ["--time-factor", f"{sim.time_factor:g}"]
    for fault in sim.faults:
        args += ["--fault", fault]
    if sim.ok_after_resend is not None:
        args.append("--ok-after-resend" if sim.ok_after_resend else "--no-ok-after-resend")
    if sim.seed:
        args += ["--seed", str(sim.seed)]
    if sim.hotend_rate is not None:
        args += ["--hotend-rate", f"{sim.hotend_rate:g}"]
    if sim.bed_rate is not None:
        args += ["--bed-rate", f"{sim.bed_rate:g}"]
    mounts: tuple[Mount, ...] = ()
    if sim.record:
        args += ["--record", f"{paths.DATA_DIR}/{SIM_RECORD}"]
        mounts = (Mount("volume", sim_record_volume(printer.name), paths.DATA_DIR),)
    return Service(
        name=f"sim-{printer.name}",
        role="simulator",
        fleet_name=printer.name,
        image=images("instance"),
        image_role="instance",
        command=tuple(Argument(a) for a in args),
        mounts=mounts,
        scratch=(paths.SCRATCH,),
        networks=(INTERNAL,),
        # Not a connection: like a serial port, the simulator takes one host at a time.
        health=HealthCheck(paths.SIMULATOR_PORT, None),
    )


def _printer(fleet: Fleet, printer: Printer, entry: PrinterEntry, images: _Images) -> Service:
    if entry.reach == "usb":
        port = paths.PRINTER_DEVICE
    elif printer.url is not None:
        port = printer.url
    else:
        port = f"socket://{entry.simulator}:{paths.SIMULATOR_PORT}"
    heaters, fans = after_job(fleet, printer)
    return Service(
        name=entry.service,
        role="printer",
        fleet_name=printer.name,
        image=images("instance"),
        image_role="instance",
        device=None if entry.link is None else Device(entry.link.link, paths.PRINTER_DEVICE),
        environment=(
            Setting("FABFLEET_PRINTER", printer.name),
            Setting("FABFLEET_PORT", port),
            Setting("FABFLEET_BAUDRATE", str(printer.baudrate)),
            Setting("FABFLEET_RX_BUFFER", str(printer.receive_buffer)),
            Setting("FABFLEET_COMMAND_BUFFER", str(printer.command_buffer)),
            Setting("FABFLEET_WINDOW", printer.window),
            Setting("FABFLEET_DEVICE_GONE_TIMEOUT", str(printer.device_gone_timeout)),
            Setting("FABFLEET_AFTER_JOB_HEATERS", heaters),
            Setting("FABFLEET_AFTER_JOB_FANS", fans),
            Setting("FABFLEET_PRESETS", presets_json(fleet, printer)),
            Setting("FABFLEET_DATA_DIR", paths.DATA_DIR),
            Setting("FABFLEET_LISTEN", _LISTEN),
            Setting(
                "FABFLEET_GATE_KEY_FILE",
                paths.PRINTER_KEY,
                "Gate mode: only requests the hub signed for this printer.",
            ),
            Setting(
                "FABFLEET_HUB_URL",
                f"http://{paths.service_address(HUB)}",
                "Every print start asks the hub's dispatch check first.",
            ),
            *_timelapse(printer),
        ),
        mounts=(
            Mount("volume", _data_volume(printer.name), paths.DATA_DIR),
            Mount("secret", printer_key_file(printer.name), paths.PRINTER_KEY, read_only=True),
        ),
        scratch=(paths.SCRATCH,),
        networks=(INTERNAL, PRINTERS) if entry.reach == "network" else (INTERNAL,),
        depends_on=(entry.simulator,) if entry.simulator else (),
        health=_API_HEALTH,
        route=entry.route,
    )


def _timelapse(printer: Printer) -> tuple[Setting, ...]:
    """A printer with a camera: its stream for the page, its snapshot URL (jobs may ask for
    a timelapse), and its timelapse default when the fleet file sets one (docs/timelapse.md)."""
    if printer.camera is None:
        return ()
    camera = paths.service_address(f"camera-{printer.camera}")
    settings = [
        Setting(
            "FABFLEET_CAMERA_URL",
            f"/cameras/{printer.camera}/stream",
            "The printer page's camera and OctoPrint's webcam block: the stream via the proxy.",
        ),
        Setting(
            "FABFLEET_CAMERA_SNAPSHOT_URL",
            f"http://{camera}/snapshot",
            "Timelapse frames: the camera's service on the internal network.",
        ),
    ]
    timelapse = printer.timelapse
    if timelapse is not None:
        settings += [
            Setting("FABFLEET_TIMELAPSE", timelapse.mode),
            Setting("FABFLEET_TIMELAPSE_INTERVAL", f"{timelapse.interval_s:g}"),
            Setting("FABFLEET_TIMELAPSE_KEEP_VIDEOS", str(timelapse.keep_videos)),
            Setting("FABFLEET_TIMELAPSE_KEEP_MB", str(timelapse.keep_mb)),
        ]
        if timelapse.park_gcode:
            settings.append(
                Setting(
                    "FABFLEET_TIMELAPSE_PARK_GCODE",
                    PARK_SEPARATOR.join(timelapse.park_gcode),
                    "Layer frames with the head parked (docs/timelapse.md).",
                )
            )
    return tuple(settings)


def _data_volume(printer: str) -> str:
    return f"printer-{printer}-data"


# What a simulator with ``record: true`` executed, in its volume (fabfleet-sim --record).
SIM_RECORD = "executed.gcode"


def sim_record_volume(printer: str) -> str:
    """The volume of a recording simulator: its record survives restarts and `up`."""
    return f"sim-{printer}-record"


def _camera(camera: Camera, entry: CameraEntry, images: _Images) -> Service:
    args = [
        Argument("ustreamer"),
        Argument(f"--device={paths.CAMERA_DEVICE}"),
        Argument("--host=0.0.0.0"),
        Argument(f"--port={paths.SERVICE_PORT}"),
        Argument(f"--resolution={entry.width}x{entry.height}"),
        Argument(f"--desired-fps={entry.fps}"),
        Argument(f"--format={entry.format.upper()}"),
        Argument("--persistent", "Keep serving (a placeholder) while the camera is unplugged."),
    ]
    return Service(
        name=entry.service,
        role="camera",
        fleet_name=camera.name,
        image=images("camera"),
        image_role="camera",
        device=Device(entry.link.link, paths.CAMERA_DEVICE),
        command=tuple(args),
        networks=(INTERNAL,),
        health=HealthCheck(paths.SERVICE_PORT, "/state"),
        route=entry.route,
    )


def _proxy(site: Site, proxy: Proxy, images: _Images) -> Service:
    ports = [proxy.http_port] + ([proxy.https_port] if proxy.https_port is not None else [])
    addresses = ["0.0.0.0", "::"] if proxy.ipv6 else ["0.0.0.0"]
    mounts = [
        Mount(
            "rendered",
            paths.PROXY_RENDERED,
            paths.PROXY_DIR,
            read_only=True,
            why="The directory, not the file: a changed config shows through, then nginx "
            f"reloads.\nThe proxy image starts nginx with {paths.PROXY_CONF}.",
        ),
        Mount("secret", PROXY_KEY_CONF, paths.PROXY_KEY, read_only=True),
    ]
    if site.tls is not None:
        mounts.append(
            Mount(
                "secret",
                TLS_DIR,
                paths.TLS_DIR,
                read_only=True,
                why="The certificate and key `up` copied or made (0400, the containers' user's);\n"
                "the directory, so a renewed certificate shows through when nginx reloads.",
            )
        )
    return Service(
        name=proxy.service,
        role="proxy",
        fleet_name="",
        image=images("proxy"),
        image_role="proxy",
        mounts=tuple(mounts),
        scratch=(paths.SCRATCH,),
        networks=(INTERNAL, PUBLIC),
        depends_on=(HUB,),
        health=HealthCheck(proxy.http_port, "/healthz"),
        published=tuple(Published(a, p) for p in ports for a in addresses),
        low_ports=True,
    )


def _networks(
    printers: tuple[PrinterEntry, ...], lans: tuple[str, ...] = ()
) -> tuple[Network, ...]:
    networks = [
        Network(
            INTERNAL,
            route_out=False,
            why="No route out: printers, cameras and the hub reach only each other and the proxy.",
        ),
        Network(PUBLIC, route_out=True),
    ]
    if any(p.reach == "network" for p in printers):
        networks.append(
            Network(
                PRINTERS,
                route_out=True,
                why="For printers reached by URL (ser2net, ESP3D, a simulator): a route to "
                "the LAN.",
            )
        )
    networks += [Network(name, route_out=True, why=_HUB_LANS[name]) for name in lans]
    return tuple(networks)


def hub_settings(fleet: Fleet) -> tuple[tuple[str, object], ...]:
    """The site settings the hub reads from fleet.json as written (besides max_heating)."""
    settings: list[tuple[str, object]] = []
    if fleet.site.spoolman is not None:
        settings.append(("spoolman", fleet.site.spoolman.for_hub()))
    settings.append(("dispatch", fleet.site.dispatch.hub_json()))
    if fleet.site.maintenance:
        settings.append(("maintenance", [task.hub_json() for task in fleet.site.maintenance]))
    # site.power only as written (its defaults are the hub's own), site.mqtt when set.
    if "power" in fleet.site.model_fields_set:
        settings.append(("power", dict(fields_of(fleet.site.power))))
    if fleet.site.mqtt is not None:
        settings.append(("mqtt", dict(fields_of(fleet.site.mqtt))))
    return tuple(settings)


def stack_of(fleet: Fleet, version: str) -> Stack:
    """The stack that runs ``fleet``, its images tagged ``version``; raises :class:`ModelError`.

    Services in order: the hub, each printer's (its simulator first), each camera's, the proxy.
    """
    images = _Images(fleet.site, version)
    printers = printers_of(fleet)
    cameras = cameras_of(fleet)
    routes = tuple(p.route for p in printers) + tuple(c.route for c in cameras)
    proxy = proxy_of(fleet.site, routes)
    lans = hub_lans(fleet)
    services = [_hub(images, _power_secrets(fleet), lans)]
    for printer, entry in zip(fleet.printers, printers, strict=True):
        if printer.simulated is not None:
            services.append(_simulator(printer, images))
        services.append(_printer(fleet, printer, entry, images))
    services += [_camera(c, e, images) for c, e in zip(fleet.cameras, cameras, strict=True)]
    services.append(_proxy(fleet.site, proxy, images))
    return Stack(
        name=STACK_NAME,
        user=(fleet.site.container_uid, fleet.site.container_gid),
        services=tuple(services),
        printers=printers,
        cameras=cameras,
        hub=hub_of(fleet),
        proxy=proxy,
        networks=_networks(printers, lans),
        volumes=tuple(_data_volume(p.name) for p in fleet.printers)
        + tuple(
            sim_record_volume(p.name)
            for p in fleet.printers
            if p.simulated is not None and p.simulated.record
        ),
    )
