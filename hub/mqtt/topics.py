"""What the hub publishes, as topic names and payloads; no I/O (docs/mqtt.md).

Topics under ``<topic_prefix>`` (``fabfleet`` unless the fleet file says otherwise):

- ``status``: the hub itself, ``online``, or ``offline`` as the broker's last will;
- ``printer/<name>/availability``: ``online`` while the hub reaches the printer's print
  server, else ``offline``;
- ``printer/<name>/state``: one JSON object per printer (:func:`state_payload`);
- ``printer/<name>/command`` and ``printer/<name>/result``: commands, only when enabled.

Every entity's discovery config (``<discovery_prefix>/<component>/<node_id>/<object_id>/config``)
follows Home Assistant's MQTT discovery (https://www.home-assistant.io/integrations/mqtt/) and
the per-platform pages (sensor.mqtt, binary_sensor.mqtt, button.mqtt): full key names, a
``device`` block that makes each printer one device, and two availability topics (the hub's
and the printer's) with ``availability_mode: all``. One state topic per printer read by
``value_template`` is how Moonraker's and OctoPrint-MQTT's Home Assistant set-ups read
theirs (a JSON status object, one template per sensor).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hub.fleet.live import PrinterLive
from hub.mqtt.settings import PublishSettings

ONLINE = "online"
OFFLINE = "offline"
# The print server's states, and the hub's own "unreachable" (hub/fleet/live.py).
STATES = (
    "offline", "connecting", "ready", "printing", "pausing", "paused", "cancelling",
    "finished", "failed", "bed not cleared", "unreachable",
)  # fmt: skip
# Command payloads (each a button's payload_press), and the fleet action each one runs.
COMMANDS = {"pause": "pause", "resume": "resume", "cancel": "cancel", "bed_clear": "bed_clear"}
_ID = re.compile(r"[^A-Za-z0-9_-]+")


def safe_id(text: str) -> str:
    """``text`` as a discovery node or object id (letters, digits, ``_`` and ``-`` only)."""
    return _ID.sub("_", text).strip("_") or "_"


def hub_status(settings: PublishSettings) -> str:
    return f"{settings.topic_prefix}/status"


def printer_topic(settings: PublishSettings, name: str, leaf: str) -> str:
    return f"{settings.topic_prefix}/printer/{name}/{leaf}"


def command_filter(settings: PublishSettings) -> str:
    """The one subscription, when commands are on."""
    return f"{settings.topic_prefix}/printer/+/command"


def printer_of_command(settings: PublishSettings, topic: str) -> str | None:
    """The printer a command topic names, or None for any other topic."""
    head = f"{settings.topic_prefix}/printer/"
    if not topic.startswith(head) or not topic.endswith("/command"):
        return None
    name = topic[len(head) : -len("/command")]
    return name if name and "/" not in name else None


def _number(value: Any, digits: int = 1) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), digits)


def _heaters(status: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hotend, bed) as the print server reports them: ``T0`` (or the first ``T…``) and ``B``."""
    heaters = status.get("heaters")
    if not isinstance(heaters, dict):
        return {}, {}
    tools = sorted(k for k in heaters if isinstance(k, str) and k.startswith("T"))
    hotend = heaters.get("T0") or (heaters.get(tools[0]) if tools else None)
    bed = heaters.get("B")
    return (
        hotend if isinstance(hotend, dict) else {},
        bed if isinstance(bed, dict) else {},
    )


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at))


def state_payload(live: PrinterLive, now: float) -> dict[str, Any]:
    """A printer's state topic: what Home Assistant's sensors read (``None``: unknown)."""
    status = live.status if live.online else {}
    hotend, bed = _heaters(status)
    job = status.get("job") if isinstance(status.get("job"), dict) else None
    progress = time_left = finish = None
    file = None
    if job is not None:
        fraction = _number(job.get("progress"), 4)
        progress = None if fraction is None else round(fraction * 100, 1)
        remaining = job.get("remaining")
        if isinstance(remaining, int | float) and not isinstance(remaining, bool):
            time_left = max(0, round(remaining))
            # To the minute: the finish time does not move with every second of the print.
            finish = _iso(round((now + time_left) / 60) * 60)
        file = job.get("file") if isinstance(job.get("file"), str) else None
    return {
        "state": live.state if live.state in STATES else None,
        "hotend": _number(hotend.get("actual")),
        "hotend_target": _number(hotend.get("target")),
        "bed": _number(bed.get("actual")),
        "bed_target": _number(bed.get("target")),
        "progress": progress,
        "time_left": time_left,
        "finish_time": finish,
        "file": file,
        "bed_clear_needed": live.online and status.get("bed_clear") is False,
    }


# Fields whose change goes out at once; the others (temperatures, progress, time left) at most
# once a second per printer (hub/mqtt/pacing.py).
URGENT = ("state", "file", "bed_clear_needed", "hotend_target", "bed_target")


@dataclass(frozen=True, slots=True)
class Entity:
    component: str  # sensor | binary_sensor | button
    key: str
    name: str
    extra: tuple[tuple[str, Any], ...] = ()


_TEMPERATURE = (
    ("device_class", "temperature"),
    ("unit_of_measurement", "°C"),
    ("state_class", "measurement"),
    ("suggested_display_precision", 1),
)
SENSORS = (
    Entity("sensor", "state", "State", (("device_class", "enum"), ("options", list(STATES)))),
    Entity("sensor", "hotend", "Hotend temperature", _TEMPERATURE),
    Entity("sensor", "hotend_target", "Hotend target", _TEMPERATURE),
    Entity("sensor", "bed", "Bed temperature", _TEMPERATURE),
    Entity("sensor", "bed_target", "Bed target", _TEMPERATURE),
    Entity(
        "sensor",
        "progress",
        "Progress",
        (
            ("unit_of_measurement", "%"),
            ("state_class", "measurement"),
            ("icon", "mdi:progress-clock"),
        ),
    ),
    Entity(
        "sensor",
        "time_left",
        "Time left",
        (
            ("device_class", "duration"),
            ("unit_of_measurement", "s"),
            ("state_class", "measurement"),
        ),
    ),
    Entity("sensor", "finish_time", "Finish time", (("device_class", "timestamp"),)),
    Entity("sensor", "file", "File", (("icon", "mdi:file-outline"),)),
    Entity(
        "binary_sensor",
        "bed_clear_needed",
        "Bed clear needed",
        (("device_class", "problem"), ("payload_on", "ON"), ("payload_off", "OFF")),
    ),
)
BUTTONS = (
    Entity("button", "pause", "Pause"),
    Entity("button", "resume", "Resume"),
    Entity("button", "cancel", "Cancel"),
    Entity("button", "bed_clear", "Bed is clear"),
)


def entities(settings: PublishSettings) -> tuple[Entity, ...]:
    return SENSORS + (BUTTONS if settings.commands_as is not None else ())


def _template(entity: Entity) -> str:
    if entity.component == "binary_sensor":
        return f"{{{{ 'ON' if value_json.{entity.key} else 'OFF' }}}}"
    # A JSON null renders as None, which Home Assistant's MQTT sensor takes as unknown.
    return f"{{{{ value_json.{entity.key} }}}}"


def device_block(
    settings: PublishSettings, name: str, firmware: dict[str, Any] | None
) -> dict[str, Any]:
    """The printer as one Home Assistant device; model and firmware once its firmware said
    (the print server's ``firmware``: M115's fields and the firmware's name)."""
    device: dict[str, Any] = {
        "identifiers": [safe_id(f"{settings.topic_prefix}_{name}")],
        "name": name,
        "manufacturer": "fabfleet",
    }
    if firmware is not None:
        model = firmware.get("MACHINE_TYPE")
        if isinstance(model, str) and model:
            device["model"] = model[:100]
        said = firmware.get("name")
        if isinstance(said, str) and said:
            device["sw_version"] = said[:100]
    return device


def discovery_topic(settings: PublishSettings, name: str, entity: Entity) -> str:
    node = safe_id(f"{settings.topic_prefix}_{name}")
    return f"{settings.discovery_prefix}/{entity.component}/{node}/{entity.key}/config"


def discovery_config(
    settings: PublishSettings, name: str, entity: Entity, device: dict[str, Any]
) -> dict[str, Any]:
    """One entity's discovery config."""
    config: dict[str, Any] = {
        "name": entity.name,
        "unique_id": safe_id(f"{settings.topic_prefix}_{name}_{entity.key}"),
        "device": device,
        "origin": {"name": "fabfleet hub"},
        "availability": [
            {
                "topic": hub_status(settings),
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            },
            {
                "topic": printer_topic(settings, name, "availability"),
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            },
        ],
        "availability_mode": "all",
    }
    if entity.component == "button":
        config["command_topic"] = printer_topic(settings, name, "command")
        config["payload_press"] = COMMANDS[entity.key]
        config["qos"] = 1
    else:
        config["state_topic"] = printer_topic(settings, name, "state")
        config["value_template"] = _template(entity)
        if entity.key == "state":
            config["json_attributes_topic"] = printer_topic(settings, name, "state")
    config.update(entity.extra)
    return config


def discovery(
    settings: PublishSettings, name: str, firmware: dict[str, Any] | None
) -> Iterator[tuple[str, str]]:
    """(topic, payload) of every discovery config of one printer."""
    device = device_block(settings, name, firmware)
    for entity in entities(settings):
        config = discovery_config(settings, name, entity, device)
        yield discovery_topic(settings, name, entity), json.dumps(config, sort_keys=True)


def all_discovery_topics(settings: PublishSettings, name: str) -> list[str]:
    """Every discovery topic a printer could have (buttons too), to clear when it leaves."""
    return [discovery_topic(settings, name, e) for e in SENSORS + BUTTONS]
