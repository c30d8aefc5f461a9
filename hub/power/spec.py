"""Power settings as fleet.json carries them (written by ``fabfleet render``, checked there
against the fleet file's rules; read here again so a hand-written fleet.json fails clearly).

A device (``printers[].power`` / ``cameras[].power``)::

    {"type": "tasmota", "host": "10.0.0.5", "output": 1, "user": "admin", "secret": "plug-mk3",
     "auto_off": true}

``site.power`` (the off-guard's and power-on's numbers) and ``site.mqtt`` (the broker MQTT
devices use) are objects of their own. Secrets are named, never given: the value is the file
``<secrets dir>/<name>`` (docs/power.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TYPES = ("tasmota", "shelly1", "shelly2", "homeassistant", "mqtt", "http", "gpio")


class PowerSpecError(ValueError):
    """A power entry of fleet.json that cannot be used."""


@dataclass(frozen=True, slots=True)
class PowerSpec:
    """One power device. Fields not used by its ``type`` keep their defaults."""

    type: str
    # tasmota, shelly1, shelly2: host or host:port; homeassistant: base URL.
    host: str = ""
    url: str = ""
    # tasmota: Power<output>, 1-based.
    output: int = 1
    # shelly1 /relay/<relay>, shelly2 Switch id: 0-based.
    relay: int = 0
    user: str = ""
    secret: str | None = None
    # homeassistant
    entity_id: str = ""
    # mqtt: ``topic`` (a Tasmota topic) fills in Tasmota's command, state, query and LWT topics.
    topic: str = ""
    command_topic: str = ""
    state_topic: str = ""
    query_topic: str = ""
    query_payload: str = ""
    availability_topic: str = ""
    payload_on: str = "ON"
    payload_off: str = "OFF"
    state_on: str = "ON"
    state_off: str = "OFF"
    payload_available: str = "Online"
    payload_not_available: str = "Offline"
    # http: three URLs, the method, and regular expressions the status body must match.
    on_url: str = ""
    off_url: str = ""
    status_url: str = ""
    method: str = "GET"
    on_pattern: str = ""
    off_pattern: str = ""
    # gpio
    chip: str = "gpiochip0"
    line: int = -1
    active_low: bool = False
    # Switch off by itself after a job, once the guard allows.
    auto_off: bool = True

    def describe(self) -> str:
        where = self.host or self.url or self.entity_id or self.command_topic or self.status_url
        if self.type == "gpio":
            where = f"{self.chip} line {self.line}"
        return f"{self.type} {where}".strip()


@dataclass(frozen=True, slots=True)
class PowerSettings:
    """``site.power``: when the guard lets a printer be switched off, how power-on goes."""

    hotend_off_below: float = 50.0
    bed_off_below: float = 40.0
    idle_minutes: float = 10.0
    give_up_minutes: float = 120.0
    boot_timeout: float = 90.0
    stagger_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class MqttSite:
    """``site.mqtt``: the broker MQTT devices (and other hub features) use."""

    host: str
    port: int = 1883
    username: str | None = None
    secret: str | None = None


_REQUIRED = {
    "tasmota": ("host",),
    "shelly1": ("host",),
    "shelly2": ("host",),
    "homeassistant": ("url", "entity_id", "secret"),
    "mqtt": (),
    "http": ("on_url", "off_url", "status_url", "on_pattern", "off_pattern"),
    "gpio": ("line",),
}
_FIELDS = set(PowerSpec.__dataclass_fields__)


def parse_power(raw: Any, where: str) -> PowerSpec | None:
    """A device from fleet.json (None when there is none)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PowerSpecError(f"{where} must be an object")
    kind = raw.get("type")
    if kind not in TYPES:
        raise PowerSpecError(f"{where}.type must be one of {', '.join(TYPES)}, not {kind!r}")
    extra = set(raw) - _FIELDS
    if extra:
        raise PowerSpecError(f"{where}: unknown field(s) {', '.join(sorted(extra))}")
    for name in _REQUIRED[kind]:
        if raw.get(name) in (None, ""):
            raise PowerSpecError(f"{where}: a {kind} device needs '{name}'")
    defaults = PowerSpec(type=kind)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        default = getattr(defaults, name)
        if name == "secret":
            if value is not None and not isinstance(value, str):
                raise PowerSpecError(f"{where}.secret must be a name")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise PowerSpecError(f"{where}.{name} must be true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise PowerSpecError(f"{where}.{name} must be a whole number")
        elif not isinstance(value, str):
            raise PowerSpecError(f"{where}.{name} must be text")
        values[name] = value
    if kind == "mqtt":
        topic = values.get("topic")
        if topic:
            power = "POWER" if values.get("output", 1) == 1 else f"POWER{values['output']}"
            values.setdefault("command_topic", f"cmnd/{topic}/{power}")
            values.setdefault("state_topic", f"stat/{topic}/{power}")
            values.setdefault("query_topic", values["command_topic"])
            values.setdefault("availability_topic", f"tele/{topic}/LWT")
        if not values.get("command_topic") or not values.get("state_topic"):
            raise PowerSpecError(
                f"{where}: an mqtt device needs 'topic' (Tasmota) or both 'command_topic' and "
                "'state_topic' (without a state topic its state would be a guess)"
            )
        values.setdefault("state_on", values.get("payload_on", "ON"))
        values.setdefault("state_off", values.get("payload_off", "OFF"))
    return PowerSpec(**values)


_BOUNDS = {
    "hotend_off_below": (20.0, 100.0),
    "bed_off_below": (20.0, 80.0),
    "idle_minutes": (0.0, 1440.0),
    "give_up_minutes": (1.0, 10080.0),
    "boot_timeout": (5.0, 900.0),
    "stagger_seconds": (0.0, 600.0),
}


def parse_settings(raw: Any, where: str = "site.power") -> PowerSettings:
    if raw is None:
        return PowerSettings()
    if not isinstance(raw, dict):
        raise PowerSpecError(f"{where} must be an object")
    values: dict[str, float] = {}
    for name, value in raw.items():
        if name not in _BOUNDS:
            raise PowerSpecError(f"{where}: unknown field {name}")
        low, high = _BOUNDS[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise PowerSpecError(f"{where}.{name} must be a number from {low:g} to {high:g}")
        values[name] = float(value)
    return PowerSettings(**values)


def parse_mqtt(raw: Any, where: str = "site.mqtt") -> MqttSite | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("host"), str) or not raw["host"]:
        raise PowerSpecError(f"{where} must be an object with a host")
    port = raw.get("port", 1883)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise PowerSpecError(f"{where}.port must be a port number")
    username, secret = raw.get("username"), raw.get("secret")
    for name, value in (("username", username), ("secret", secret)):
        if value is not None and not isinstance(value, str):
            raise PowerSpecError(f"{where}.{name} must be text")
    return MqttSite(raw["host"], port, username, secret)
