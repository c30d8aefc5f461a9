"""The fleet as the hub knows it: ``hub/fleet.json``, written by ``fabfleet render``
(or by ``fabfleet demo``), reread whenever it changes.

Format (docs/hub.md)::

    {"site": {"max_heating": 0},
     "printers": [{"name": "mk3", "path": "/printers/mk3/", "upstream": "http://printer-mk3:8080",
                   "camera": "cam1" | null, "groups": ["lab"], "tags": ["pla"],
                   "profile": {"materials": ["PLA"], "nozzle": 0.4,
                               "bed": {"x": 250, "y": 210, "z": 210} | null}}],
     "cameras": [{"name": "cam1", "path": "/cameras/cam1/", "upstream": "http://camera-cam1:8080"}]}

Optional power settings (docs/power.md): ``"power": {"type": "tasmota", ...}`` on a printer or
camera, ``"site": {"power": {...}, "mqtt": {...}}``; parsed by :mod:`hub.power.spec`.

A file that cannot be read or is not valid keeps the last good fleet in force.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # Its power device (docs/power.md), if it has one.
    power: PowerSpec | None = None


@dataclass(frozen=True, slots=True)
class Fleet:
    printers: tuple[FleetPrinter, ...] = ()
    cameras: tuple[FleetCamera, ...] = ()
    # At most this many printers heating up at once (0: no limit).
    max_heating: int = 0
    # The power-off guard's and power-on's numbers, and the MQTT broker (docs/power.md).
    power: PowerSettings = field(default_factory=PowerSettings)
    mqtt: MqttSite | None = None

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
        power = parse_settings(site.get("power"))
        mqtt = parse_mqtt(site.get("mqtt"))
    except FleetFileError:
        raise
    except PowerSpecError as error:
        raise FleetFileError(str(error)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FleetFileError(f"not a fleet file: {error!r}") from None
    return Fleet(
        printers=printers, cameras=cameras, max_heating=max_heating, power=power, mqtt=mqtt
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
