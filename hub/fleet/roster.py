"""The fleet as the hub knows it: ``hub/fleet.json``, written by ``fabfleet render``
(or by ``fabfleet demo``), reread whenever it changes.

Format (docs/hub.md)::

    {"site": {"max_heating": 0,
              "spoolman": {"url": "http://spoolman:7912", "low_grams": 100} | absent,
              "maintenance": [{"task": "Replace nozzle", "every": {"print_hours": 300},
                               "printers": [...], "groups": [...]}] | absent},
     "printers": [{"name": "mk3", "path": "/printers/mk3/", "upstream": "http://printer-mk3:8080",
                   "camera": "cam1" | null, "groups": ["lab"], "tags": ["pla"],
                   "profile": {"materials": ["PLA"], "nozzle": 0.4,
                               "bed": {"x": 250, "y": 210, "z": 210} | null}}],
     "cameras": [{"name": "cam1", "path": "/cameras/cam1/", "upstream": "http://camera-cam1:8080"}]}

Optional power settings (docs/power.md): ``"power": {"type": "tasmota", ...}`` on a printer or
camera, ``"site": {"power": {...}, "mqtt": {...}}``; parsed by :mod:`hub.power.spec`. Publishing the
fleet (docs/mqtt.md): ``"site": {"mqtt": {..., "publish": {...}}}``, parsed by
:mod:`hub.mqtt.settings`.

A file that cannot be read or is not valid keeps the last good fleet in force.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.fleet.service_tasks import ServiceTask, ServiceTaskError, parse_tasks
from hub.mqtt.settings import PublishSettings, PublishSettingsError, parse_publish
from hub.power.spec import (
    MqttSite,
    PowerSettings,
    PowerSpec,
    PowerSpecError,
    parse_mqtt,
    parse_power,
    parse_settings,
)

log = logging.getLogger(__name__)


class FleetFileError(Exception):
    """fleet.json is missing or not what `fabfleet render` writes."""


@dataclass(frozen=True, slots=True)
class Bed:
    x: float
    y: float
    z: float


@dataclass(frozen=True, slots=True)
class Profile:
    materials: tuple[str, ...] = ()
    nozzle: float = 0.4
    bed: Bed | None = None


@dataclass(frozen=True, slots=True)
class FleetCamera:
    name: str
    path: str
    upstream: str
    power: PowerSpec | None = None


@dataclass(frozen=True, slots=True)
class FleetPrinter:
    name: str
    path: str
    upstream: str
    camera: str | None = None
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    profile: Profile = field(default_factory=Profile)
    # Service tasks for this printer alone (docs/maintenance.md).
    maintenance: tuple[ServiceTask, ...] = ()
    # Its power device (docs/power.md), if it has one.
    power: PowerSpec | None = None


@dataclass(frozen=True, slots=True)
class DispatchRules:
    """``site.dispatch``: the rules of the check before every dispatch (hub/dispatch/check.py)."""

    spool_margin_percent: float = 10.0
    spool_margin_g: float = 5.0
    overdue_maintenance: str = "hold"  # "hold" | "warn"


@dataclass(frozen=True, slots=True)
class SpoolmanSite:
    """Where the site's Spoolman answers (docs/spools.md), and below how many grams a
    loaded spool is shown as running low."""

    url: str
    low_grams: float = 100.0


@dataclass(frozen=True, slots=True)
class Fleet:
    printers: tuple[FleetPrinter, ...] = ()
    cameras: tuple[FleetCamera, ...] = ()
    # At most this many printers heating up at once (0: no limit).
    max_heating: int = 0
    # The site's Spoolman; None: no spool tracking.
    spoolman: SpoolmanSite | None = None
    dispatch: DispatchRules = field(default_factory=DispatchRules)
    # The site's service tasks (docs/maintenance.md).
    maintenance: tuple[ServiceTask, ...] = ()
    # The power-off guard's and power-on's numbers, and the MQTT broker (docs/power.md).
    power: PowerSettings = field(default_factory=PowerSettings)
    mqtt: MqttSite | None = None
    # Publishing the fleet to that broker (docs/mqtt.md); None: nothing is published.
    publish: PublishSettings | None = None

    def printer(self, name: str) -> FleetPrinter | None:
        return next((p for p in self.printers if p.name == name), None)

    def camera(self, name: str) -> FleetCamera | None:
        return next((c for c in self.cameras if c.name == name), None)

    @property
    def groups(self) -> list[str]:
        return sorted({g for p in self.printers for g in p.groups})


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FleetFileError(f"{where} must be a list of strings")
    return tuple(value)


def _profile(raw: Any, where: str) -> Profile:
    if raw is None:
        return Profile()
    if not isinstance(raw, dict):
        raise FleetFileError(f"{where} must be an object")
    bed = raw.get("bed")
    return Profile(
        materials=_strings(raw.get("materials", []), f"{where}.materials"),
        nozzle=float(raw.get("nozzle", 0.4)),
        bed=None if bed is None else Bed(float(bed["x"]), float(bed["y"]), float(bed["z"])),
    )


def _dispatch(raw: Any) -> DispatchRules:
    if raw is None:
        return DispatchRules()
    if not isinstance(raw, dict):
        raise FleetFileError("site.dispatch must be an object")
    overdue = raw.get("overdue_maintenance", "hold")
    if overdue not in ("hold", "warn"):
        raise FleetFileError("site.dispatch.overdue_maintenance must be hold or warn")
    rules = DispatchRules(
        spool_margin_percent=float(raw.get("spool_margin_percent", 10.0)),
        spool_margin_g=float(raw.get("spool_margin_g", 5.0)),
        overdue_maintenance=overdue,
    )
    if rules.spool_margin_percent < 0 or rules.spool_margin_g < 0:
        raise FleetFileError("site.dispatch margins must not be negative")
    return rules


def _spoolman(raw: Any) -> SpoolmanSite | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
        raise FleetFileError("site.spoolman must be an object with a url")
    url = raw["url"].rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise FleetFileError(f"site.spoolman.url must be http:// or https://, not {url[:80]!r}")
    low = float(raw.get("low_grams", 100.0))
    if not 0 <= low < 1e6:
        raise FleetFileError("site.spoolman.low_grams must be 0 or more")
    return SpoolmanSite(url=url, low_grams=low)


def parse_fleet(data: Any) -> Fleet:
    """The fleet from fleet.json's decoded JSON; FleetFileError says what is wrong."""
    try:
        printers = tuple(
            FleetPrinter(
                name=str(p["name"]),
                path=str(p["path"]),
                upstream=str(p["upstream"]).rstrip("/"),
                camera=p.get("camera"),
                groups=_strings(p.get("groups", []), f"printers[{i}].groups"),
                tags=_strings(p.get("tags", []), f"printers[{i}].tags"),
                profile=_profile(p.get("profile"), f"printers[{i}].profile"),
                maintenance=parse_tasks(p.get("maintenance"), f"printers[{i}].maintenance"),
                power=parse_power(p.get("power"), f"printers[{i}].power"),
            )
            for i, p in enumerate(data.get("printers", []))
        )
        cameras = tuple(
            FleetCamera(
                name=str(c["name"]),
                path=str(c["path"]),
                upstream=str(c["upstream"]),
                power=parse_power(c.get("power"), f"cameras[{i}].power"),
            )
            for i, c in enumerate(data.get("cameras", []))
        )
        site = data.get("site", {})
        max_heating = int(site.get("max_heating", 0))
        spoolman = _spoolman(site.get("spoolman"))
        dispatch = _dispatch(site.get("dispatch"))
        maintenance = parse_tasks(site.get("maintenance"), "site.maintenance")
        power = parse_settings(site.get("power"))
        mqtt = parse_mqtt(site.get("mqtt"))
        publish = None if mqtt is None else parse_publish(site["mqtt"].get("publish"))
    except FleetFileError:
        raise
    except (ServiceTaskError, PowerSpecError, PublishSettingsError) as error:
        raise FleetFileError(str(error)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FleetFileError(f"not a fleet file: {error!r}") from None
    return Fleet(
        printers=printers,
        cameras=cameras,
        max_heating=max_heating,
        spoolman=spoolman,
        dispatch=dispatch,
        maintenance=maintenance,
        power=power,
        mqtt=mqtt,
        publish=publish,
    )


class FleetFile:
    """The fleet from ``path``, reread when its modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._fleet = Fleet()
        self.error: str | None = None

    def current(self) -> Fleet:
        try:
            stat = self.path.stat()
        except OSError as error:
            if self._stamp is None:
                self.error = f"{self.path}: {error.strerror}"
            return self._fleet
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._fleet = parse_fleet(json.loads(self.path.read_text("utf-8")))
                self.error = None
            except (OSError, ValueError, FleetFileError) as error:
                self.error = f"{self.path}: {error}; keeping the last valid fleet"
                log.warning("%s", self.error)
        return self._fleet
