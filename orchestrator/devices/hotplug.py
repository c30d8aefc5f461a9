"""Which enrolled printer or camera a udev event is about, and what the watcher does about it.

udev tells the watcher that a tty or video node appeared or went away; the
watcher maps it to the one enrolled entry it belongs to (by the same serial or
port path the udev rules match) and acts: a device that comes back gets its
container restarted, so Docker opens the new device node; one that goes away is
recorded as absent, so `fabfleet status` and the pages can say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyudev

from instance.stored_format import FormatRefused as FormatRefused
from instance.stored_format import backup_file, read_json, version_of, write_json
from orchestrator.fleet.model import Camera, Fleet, Printer

Action = Literal["add", "remove"]
# A replug makes udev announce the same device a few times (tty and usb-serial
# layers, change events); one restart per device within this many seconds.
SETTLE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Plug:
    """An enrolled device that came or went."""

    action: Action
    service: str  # the compose service: printer-<name> or camera-<name>
    node: str | None

    def describe(self) -> str:
        """One log line, e.g. 'printer-a plugged in (/dev/ttyUSB0)'."""
        what = "plugged in" if self.action == "add" else "unplugged"
        return f"{self.service} {what}" + (f" ({self.node})" if self.node else "")


def _matches(entry: Printer | Camera, properties: Mapping[str, str]) -> bool:
    identity = entry.identity()
    if identity is None:
        return False
    field, value = identity
    if field == "serial":
        return properties.get("ID_SERIAL_SHORT") == value
    return field == "port_path" and properties.get("ID_PATH") == value


def plug_of(fleet: Fleet, action: str, properties: Mapping[str, str]) -> Plug | None:
    """The enrolled device a udev event with ``properties`` is about, or None."""
    if action not in ("add", "remove"):
        return None
    subsystem = properties.get("SUBSYSTEM")
    entries: list[Printer | Camera]
    if subsystem == "tty":
        entries, role = list(fleet.printers), "printer"
    elif subsystem == "video4linux" and ":capture:" in properties.get("ID_V4L_CAPABILITIES", ""):
        entries, role = list(fleet.cameras), "camera"
    else:
        return None
    for entry in entries:
        if _matches(entry, properties):
            kind: Action = "add" if action == "add" else "remove"
            return Plug(kind, f"{role}-{entry.name}", properties.get("DEVNAME"))
    return None


# The presence file's format (docs/upgrades.md): 0, before it had one, was the devices'
# object alone; 1 puts it under "devices" beside "format".
PRESENCE_FORMAT = 1
# Where it is, in the state dir.
PRESENCE_FILE = "presence.json"
PRESENCE = "presence file"


class Presence:
    """Which enrolled devices are plugged in, kept in a small JSON file in the state dir."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def upgrade(self) -> int | None:
        """At the watcher's start: a file an earlier release wrote is copied aside and
        rewritten in this format; a newer or unreadable one is refused (FormatRefused)
        and left as it is. The version the file had; None when there is none yet."""
        document = read_json(self.path, PRESENCE)
        if document is None:
            return None
        found = version_of(document, self.path, PRESENCE, PRESENCE_FORMAT)
        if found < PRESENCE_FORMAT:
            backup_file(self.path, found)
            self._write(document)
        return found

    def read(self) -> dict[str, dict[str, object]]:
        """Service → {"present": bool, "node": str | None, "since": epoch seconds}."""
        document = read_json(self.path, PRESENCE)
        if document is None:
            return {}
        if version_of(document, self.path, PRESENCE, PRESENCE_FORMAT) == 0:
            return document
        devices = document.get("devices")
        return devices if isinstance(devices, dict) else {}

    def record(self, plug: Plug, now: float) -> None:
        """Remember ``plug``; written atomically so a reader never sees half a file."""
        state = self.read()
        state[plug.service] = {"present": plug.action == "add", "node": plug.node, "since": now}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write(state)

    def _write(self, devices: dict[str, Any]) -> None:
        write_json(self.path, {"format": PRESENCE_FORMAT, "devices": devices}, 0o644)


class Watcher:
    """Turns udev events into restarts and presence records, at most one restart per replug."""

    def __init__(
        self,
        fleet: Fleet,
        restart: Callable[[str], str],
        presence: Presence,
        log: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fleet = fleet
        self._restart = restart
        self._presence = presence
        self._log = log
        self._clock = clock
        self._last_restart: dict[str, float] = {}

    def handle(self, action: str, properties: Mapping[str, str]) -> Plug | None:
        """Act on one udev event; returns the enrolled device it concerned, if any."""
        plug = plug_of(self.fleet, action, properties)
        if plug is None:
            return None
        self._presence.record(plug, time.time())
        if plug.action == "remove":
            self._log(f"{plug.describe()}: its page shows it offline until it is back")
            return plug
        now = self._clock()
        last = self._last_restart.get(plug.service)
        if last is not None and now - last < SETTLE_SECONDS:
            return plug
        self._last_restart[plug.service] = now
        try:
            outcome = self._restart(plug.service)
        except Exception as error:  # a failed restart must not stop the watcher
            self._log(f"{plug.describe()}: could not restart {plug.service}: {error}")
        else:
            self._log(f"{plug.describe()}: {outcome}")
        return plug


def watch_udev(
    watcher: Watcher,
    reload_fleet: Callable[[], Fleet | None],
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Feed ``watcher`` every tty and video4linux event udev announces, until interrupted.

    ``reload_fleet`` is asked before each event and returns a new fleet when the
    fleet file changed (enrolments made while the watcher runs count at once).
    """
    monitor = pyudev.Monitor.from_netlink(pyudev.Context())
    monitor.filter_by("tty")
    monitor.filter_by("video4linux")
    monitor.start()
    ready()
    while True:
        device = monitor.poll(timeout=1.0)
        if device is None:
            continue
        fleet = reload_fleet()
        if fleet is not None:
            watcher.fleet = fleet
        watcher.handle(device.action or "", dict(device.properties))
