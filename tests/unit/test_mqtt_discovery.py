"""The Home Assistant discovery schema (tests/fixtures/mqtt/ha-discovery.schema.json) refuses
what Home Assistant's documentation refuses, and the hub's configs (hub/mqtt/topics.py) pass
it; tests/hub/test_mqtt_publish.py checks the configs as they arrive on a real broker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hub.mqtt.settings import PublishSettings
from hub.mqtt.topics import discovery

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "mqtt" / "ha-discovery.schema.json").read_text()
)
SETTINGS = PublishSettings(commands_as="homeassistant")


def problems(component: str, config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{component}"})
    return [error.message for error in validator.iter_errors(config)]


def published() -> dict[str, tuple[str, dict[str, Any]]]:
    firmware = {"name": "Marlin 2.1.2", "MACHINE_TYPE": "Prusa i3 MK3S"}
    found = {}
    for topic, payload in discovery(SETTINGS, "mk3", firmware):
        _prefix, component, node, key, _config = topic.split("/")
        assert node == "fabfleet_mk3"
        found[key] = (component, json.loads(payload))
    return found


def test_every_config_the_hub_publishes_is_valid() -> None:
    found = published()
    assert {c for c, _ in found.values()} == {"sensor", "binary_sensor", "button"}
    for key, (component, config) in found.items():
        assert problems(component, config) == [], key
    device = found["hotend"][1]["device"]
    assert device["model"] == "Prusa i3 MK3S" and device["sw_version"] == "Marlin 2.1.2"


def broken(key: str, change: dict[str, Any], drop: tuple[str, ...] = ()) -> tuple[str, Any]:
    component, config = published()[key]
    config = {k: v for k, v in {**config, **change}.items() if k not in drop}
    return component, config


@pytest.mark.parametrize(
    ("key", "change", "drop"),
    [
        ("hotend", {}, ("state_topic",)),  # a sensor needs its state topic
        ("hotend", {"device_class": "temperatures"}, ()),  # no such device class
        ("hotend", {"state_class": "average"}, ()),  # no such state class
        ("hotend", {"unit_of_measurement": "C"}, ()),  # not a temperature unit
        ("state", {"unit_of_measurement": "x"}, ()),  # an enum sensor has no unit
        ("state", {}, ("options",)),  # an enum sensor lists its options
        ("finish_time", {"state_class": "measurement"}, ()),  # a timestamp has no state class
        ("hotend", {}, ("unique_id",)),  # no device without a unique id
        ("hotend", {"device": {"name": "mk3"}}, ()),  # a device needs identifiers
        ("hotend", {"availability": [{"payload_available": "online"}]}, ()),  # no topic
        ("hotend", {"availability_topic": "fabfleet/status"}, ()),  # not both forms
        ("hotend", {"availability_mode": "every"}, ()),
        ("hotend", {"qos": 3}, ()),
        ("hotend", {"stat_t": "x"}, ()),  # unknown key (the hub writes keys in full)
        ("bed_clear_needed", {"device_class": "bed"}, ()),
        ("bed_clear_needed", {"payload_on": True}, ()),
        ("pause", {}, ("command_topic",)),  # a button needs its command topic
        ("pause", {"state_topic": "x"}, ()),  # a button has no state
        ("pause", {"device_class": "pause"}, ()),
    ],
)
def test_the_schema_refuses_what_home_assistant_refuses(
    key: str, change: dict[str, Any], drop: tuple[str, ...]
) -> None:
    component, config = broken(key, change, drop)
    assert problems(component, config), (key, change, drop)
