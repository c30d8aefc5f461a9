"""Power devices in the fleet file (orchestrator/fleet/power.py): checked with clear messages,
carried into hub/fleet.json as the hub parses it (hub/fleet/roster.py), and the power secrets
directory mounted into the hub only when a secret is named (docs/power.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from hub.fleet.roster import parse_fleet as parse_hub_fleet
from orchestrator.fleet.file import parse_fleet
from orchestrator.fleet.problems import FleetFileError
from orchestrator.rendering.render import render_stack

FLEET = """\
site:
  power: {hotend_off_below: 45, idle_minutes: 5}
  mqtt: {host: broker.lan, username: fabfleet, secret: mqtt-hub}
printers:
  - name: mk3
    simulated: true
    power: {type: tasmota, host: "192.168.1.40", secret: plug-mk3}
  - name: ender
    simulated: true
    power: {type: mqtt, topic: plug-ender, auto_off: false}
  - name: voron
    simulated: true
    power: {type: homeassistant, url: "http://ha.lan:8123", entity_id: switch.voron,
            secret: ha-token}
  - name: prusa
    simulated: true
    power: {type: shelly2, host: "shelly-prusa.lan", relay: 1}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet(text, "fleet.yaml")
    return str(caught.value).splitlines()


def rendered(text: str) -> dict[str, bytes]:
    return render_stack(parse_fleet(text, "fleet.yaml"), "1.2.3")


def test_power_reaches_the_hub_as_it_parses_it() -> None:
    files = rendered(FLEET)
    document: dict[str, Any] = json.loads(files["hub/fleet.json"])
    assert document["site"]["power"]["hotend_off_below"] == 45
    assert document["site"]["power"]["give_up_minutes"] == 120
    assert document["site"]["mqtt"] == {
        "host": "broker.lan", "port": 1883, "username": "fabfleet", "secret": "mqtt-hub",
    }  # fmt: skip
    fleet = parse_hub_fleet(document)
    assert fleet.power.hotend_off_below == 45 and fleet.power.idle_minutes == 5
    assert fleet.mqtt is not None and fleet.mqtt.secret == "mqtt-hub"
    mk3, ender, voron, prusa = (fleet.printer(n) for n in ("mk3", "ender", "voron", "prusa"))
    assert mk3 is not None and mk3.power is not None
    assert (mk3.power.type, mk3.power.host, mk3.power.output, mk3.power.user) == (
        "tasmota", "192.168.1.40", 1, "admin",
    )  # fmt: skip
    assert mk3.power.secret == "plug-mk3" and mk3.power.auto_off is True
    assert ender is not None and ender.power is not None and ender.power.auto_off is False
    assert ender.power.command_topic == "cmnd/plug-ender/POWER"
    assert voron is not None and voron.power is not None
    assert voron.power.entity_id == "switch.voron"
    assert prusa is not None and prusa.power is not None and prusa.power.relay == 1
    # No secret's value anywhere in what is rendered: only names.
    assert b"plug-mk3" in files["hub/fleet.json"]


def test_the_hub_mounts_the_power_secrets_only_when_one_is_named() -> None:
    compose = yaml.safe_load(rendered(FLEET)["compose.yaml"])
    mounts = compose["services"]["hub"]["volumes"]
    assert {
        "type": "bind",
        "source": "./secrets/power",
        "target": "/etc/fabfleet/secrets/power",
        "read_only": True,
    } in mounts
    plain = "printers:\n  - name: mk3\n    simulated: true\n"
    plain_mounts = yaml.safe_load(rendered(plain)["compose.yaml"])["services"]["hub"]["volumes"]
    assert all("power" not in str(m) for m in plain_mounts)
    assert "power" not in json.loads(rendered(plain)["hub/fleet.json"])["site"]


@pytest.mark.parametrize(
    ("power", "message"),
    [
        (
            '{type: tasmota, host: "http://x y"}',
            "printers[0].power.tasmota.host: 'http://x y' is not a host",
        ),
        ("{type: x10, host: a}", "printers[0].power"),
        (
            '{type: homeassistant, url: "http://ha:8123", entity_id: switch.a}',
            "printers[0].power.homeassistant.secret",
        ),
        (
            '{type: homeassistant, url: "http://u:pw@ha:8123", entity_id: switch.a, secret: t}',
            "carries a password; name a secret instead",
        ),
        ("{type: tasmota, host: a, secret: ../gate.key}", "is not a secret name"),
        ("{type: mqtt, command_topic: cmnd/x/POWER}", "without a state topic"),
        ("{type: mqtt, topic: x, payload_off: OFF}", "YAML read this as false; quote the word"),
        (
            '{type: http, on_url: "http://a/on", off_url: "http://a/off", '
            'status_url: "http://a/s", on_pattern: "(", off_pattern: off}',
            "is not a regular expression",
        ),
        ("{type: gpio}", "printers[0].power.gpio.line"),
    ],
)
def test_bad_power_entries_are_refused_clearly(power: str, message: str) -> None:
    site = "site: {mqtt: {host: b}}\n"
    text = f"{site}printers:\n  - name: mk3\n    simulated: true\n    power: {power}\n"
    found = problems(text)
    assert any(message in line for line in found), found


def test_site_power_bounds_and_the_broker() -> None:
    found = problems("site:\n  power: {hotend_off_below: 150}\n")
    assert any("site.power.hotend_off_below" in line and "100" in line for line in found), found
    found = problems(
        "printers:\n  - name: mk3\n    simulated: true\n    power: {type: mqtt, topic: p}\n"
    )
    assert any("an mqtt power device needs the broker" in line for line in found), found


def test_on_k3s_the_power_secrets_are_one_secret_mounted_apart_from_the_gate_key() -> None:
    from orchestrator.model.build import stack_of
    from orchestrator.rendering.k3s import POWER_SECRETS_DIR, render_k3s

    files = render_k3s(stack_of(parse_fleet(FLEET, "fleet.yaml"), "1.2.3"))
    (kustomization,) = yaml.safe_load_all(files["kustomization.yaml"])
    power = next(s for s in kustomization["secretGenerator"] if s["name"] == "hub-power-secrets")
    assert power["files"] == [
        "ha-token=secrets/power/ha-token",
        "mqtt-hub=secrets/power/mqtt-hub",
        "plug-mk3=secrets/power/plug-mk3",
    ]
    hub = next(
        d for d in yaml.safe_load_all(files["workloads.yaml"]) if d["metadata"]["name"] == "hub"
    )
    pod = hub["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "FABFLEET_POWER_SECRETS", "value": POWER_SECRETS_DIR} in container["env"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "power-secrets")
    assert mount == {"name": "power-secrets", "mountPath": POWER_SECRETS_DIR, "readOnly": True}
    volume = next(v for v in pod["volumes"] if v["name"] == "power-secrets")
    assert volume["secret"] == {"secretName": "hub-power-secrets", "defaultMode": 0o440}
    # No secret's value in any manifest or in the ConfigMap's fleet.json: only names.
    assert b"hub-power-secrets" not in files["hub/fleet.json"]
    plain = render_k3s(stack_of(parse_fleet("printers: []\n", "fleet.yaml"), "1.2.3"))
    assert b"power-secrets" not in plain["kustomization.yaml"] + plain["workloads.yaml"]


PUBLISH = """\
site:
  mqtt:
    host: broker.lan
    publish:
      topic_prefix: farm/fabfleet
      commands: {enabled: true, as_user: homeassistant}
"""


def test_mqtt_publishing_reaches_the_hub_as_it_parses_it() -> None:
    document: dict[str, Any] = json.loads(rendered(PUBLISH)["hub/fleet.json"])
    assert document["site"]["mqtt"]["publish"] == {
        "enabled": True, "topic_prefix": "farm/fabfleet", "discovery_prefix": "homeassistant",
        "discovery": True, "commands": {"enabled": True, "as_user": "homeassistant"},
    }  # fmt: skip
    fleet = parse_hub_fleet(document)
    assert fleet.publish is not None
    assert (fleet.publish.topic_prefix, fleet.publish.commands_as) == (
        "farm/fabfleet", "homeassistant",
    )  # fmt: skip
    # Without the block, or turned off: nothing is published, and commands are off by default.
    assert (
        parse_hub_fleet(json.loads(rendered("site: {mqtt: {host: b}}\n")["hub/fleet.json"])).publish
        is None
    )
    off = rendered("site: {mqtt: {host: b, publish: {enabled: false}}}\n")["hub/fleet.json"]
    assert parse_hub_fleet(json.loads(off)).publish is None
    plain = rendered("site: {mqtt: {host: b, publish: {}}}\n")["hub/fleet.json"]
    published = parse_hub_fleet(json.loads(plain)).publish
    assert published is not None and published.commands_as is None
    assert published.topic_prefix == "fabfleet"


@pytest.mark.parametrize(
    ("publish", "message"),
    [
        (
            "{commands: {enabled: true}}",
            "fleet.yaml:5: site.mqtt.publish.commands: commands need 'as_user'",
        ),
        (
            "{topic_prefix: 'a/#'}",
            "fleet.yaml:5: site.mqtt.publish.topic_prefix: 'a/#' is not a topic prefix",
        ),
        (
            "{discovery_prefix: /ha}",
            "site.mqtt.publish.discovery_prefix: '/ha' is not a topic prefix",
        ),
        (
            "{topic_prefix: ha, discovery_prefix: ha}",
            "topic_prefix and discovery_prefix must differ",
        ),
        ("{commands: {enabled: true, as_user: 'al ice'}}", "'al ice' is not a hub user name"),
        ("{retain: false}", "site.mqtt.publish.retain: unknown key 'retain'"),
    ],
)
def test_bad_publishing_settings_are_refused_with_their_line(publish: str, message: str) -> None:
    found = problems(f"site:\n  max_heating: 0\n  mqtt:\n    host: b\n    publish: {publish}\n")
    assert any(message in line for line in found), found


def test_the_hub_alone_gets_a_route_to_the_broker_when_the_fleet_names_one() -> None:
    compose = yaml.safe_load(
        rendered(PUBLISH + "printers:\n  - {name: mk3, simulated: true}\n")["compose.yaml"]
    )
    assert compose["services"]["hub"]["networks"] == ["internal", "broker"]
    assert compose["networks"]["broker"] in ({}, None)  # a plain bridge: a route out
    others = [s.get("networks", []) for n, s in compose["services"].items() if n != "hub"]
    assert not any("broker" in networks for networks in others)
    plain = yaml.safe_load(
        rendered("printers:\n  - {name: mk3, simulated: true}\n")["compose.yaml"]
    )
    assert plain["services"]["hub"]["networks"] == ["internal"]
    assert "broker" not in plain["networks"]


def test_the_hub_alone_gets_a_route_to_the_power_devices_it_reaches_over_the_network() -> None:
    """A Tasmota, Shelly, Home Assistant or HTTP plug sits on the LAN: the hub (only) gets a
    network with a route out to switch it; a GPIO line or an MQTT plug needs no such route."""
    compose = yaml.safe_load(rendered(FLEET)["compose.yaml"])
    assert compose["services"]["hub"]["networks"] == ["internal", "broker", "power"]
    assert compose["networks"]["power"] in ({}, None)  # a plain bridge: a route out
    others = [s.get("networks", []) for n, s in compose["services"].items() if n != "hub"]
    assert not any("power" in networks for networks in others)
    for device in ("{type: gpio, line: 17}", "{type: mqtt, topic: plug-mk3}"):
        site = "site:\n  mqtt: {host: broker.lan}\n" if "mqtt" in device else ""
        text = f"{site}printers:\n  - name: mk3\n    simulated: true\n    power: {device}\n"
        local = yaml.safe_load(rendered(text)["compose.yaml"])
        assert "power" not in local["services"]["hub"]["networks"], device
        assert "power" not in local["networks"], device
