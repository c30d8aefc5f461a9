"""Publishing the fleet to MQTT with Home Assistant discovery (hub/mqtt/, docs/mqtt.md).

A real ``fabfleet-hub serve`` process, real print servers on simulated Marlins, a real
Mosquitto (tests/hub/mosquitto.py) and a paho-mqtt client standing in for Home Assistant.
Every discovery config is checked against tests/fixtures/mqtt/ha-discovery.schema.json,
written from Home Assistant's documentation of each component type.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as paho
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from tests.hub.conftest import (
    HubProcess,
    SimulatedFleet,
    printer_acts,
    printer_entry,
    unused_port,
)
from tests.hub.mosquitto import Broker, start_broker

pytestmark = pytest.mark.timeout(180)

FIXTURES = Path(__file__).parent.parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "mqtt" / "ha-discovery.schema.json").read_text())
SQUARE = FIXTURES / "queue" / "square.gcode"
SENSORS = {
    "state", "hotend", "hotend_target", "bed", "bed_target", "progress", "time_left",
    "finish_time", "file",
}  # fmt: skip
BUTTONS = {"pause", "resume", "cancel", "bed_clear"}
SUBSCRIPTIONS = "$SYS/broker/subscriptions/count"


@dataclass
class Message:
    at: float
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class HomeAssistant:
    """What a Home Assistant would see on the broker: every message, as it arrives."""

    port: int
    # (username, password), for a broker that asks.
    login: tuple[str, str] | None = None
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: paho.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([("#", 1), (SUBSCRIPTIONS, 0)])
        self.client.on_message = self._message
        if self.login is not None:
            self.client.username_pw_set(*self.login)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()

    def _message(self, _client: paho.Client, _data: Any, message: Any) -> None:
        with self.lock:
            self.messages.append(
                Message(time.monotonic(), message.topic, message.payload, message.retain)
            )

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def seen(self, since: float = 0.0) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.at >= since]

    def last(self) -> dict[str, Message]:
        """The newest message of each topic."""
        return {m.topic: m for m in self.seen()}

    def wait(self, check: Callable[[Message], bool], within: float = 15.0, since: float = 0.0):
        deadline = time.monotonic() + within
        while True:
            found = [m for m in self.seen(since) if check(m)]
            if found:
                return found[0]
            assert time.monotonic() < deadline, "no such message"
            time.sleep(0.02)

    def state(self, name: str, check: Callable[[dict[str, Any]], bool], since: float = 0.0):
        topic = f"fabfleet/printer/{name}/state"
        return self.wait(lambda m: m.topic == topic and check(m.json()), since=since)

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def subscriptions(self, expected: int, within: float = 10.0) -> int:
        """The broker's own count of subscriptions (it says it when it changes, checking
        every second): at least 1.5 s after asking, and until it is ``expected`` or
        ``within`` has passed (a busy host may take longer to subscribe)."""
        time.sleep(1.5)
        deadline = time.monotonic() + within
        while True:
            count = int(self.last()[SUBSCRIPTIONS].payload)
            if count == expected or time.monotonic() >= deadline:
                return count
            time.sleep(0.2)


def retained(port: int) -> dict[str, bytes]:
    """What a client that connects now is given at once: the retained messages."""
    fresh = HomeAssistant(port)
    time.sleep(0.5)
    fresh.stop()
    return {m.topic: m.payload for m in fresh.seen() if m.retain}


def configs(seen: HomeAssistant, name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """A printer's discovery configs: entity key → (component, config)."""
    found = {}
    for topic, message in seen.last().items():
        parts = topic.split("/")
        if parts[0] == "homeassistant" and parts[2] == f"fabfleet_{name}" and message.payload:
            found[parts[3]] = (parts[1], message.json())
    return found


def check_against_schema(found: dict[str, tuple[str, dict[str, Any]]]) -> None:
    for key, (component, config) in found.items():
        schema = {**SCHEMA, "$ref": f"#/$defs/{component}"}
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
        assert not errors, (key, [error.message for error in errors])


@dataclass
class Site:
    hub: HubProcess
    printers: SimulatedFleet
    key: bytes
    broker: Broker

    def on_printer(self, method: str, name: str, path: str, **kwargs: Any) -> requests.Response:
        url = next(p.url for p in self.printers.printers if p.name == name)
        headers = {HEADER: identity_for(self.key, name, "test", True)}
        return requests.request(method, url + path, headers=headers, timeout=10, **kwargs)

    def print_square(self, name: str) -> None:
        with SQUARE.open("rb") as source:
            answer = self.on_printer(
                "POST", name, "api/v1/files", files={"file": ("square.gcode", source)},
                data={"print": "true", "overwrite": "true"},
            )  # fmt: skip
        assert answer.status_code == 201, answer.text

    def health(self) -> dict[str, Any]:
        found: dict[str, Any] = requests.get(self.hub.url + "api/health", timeout=10).json()
        return found


def fleet_with(printers: SimulatedFleet, port: int, publish: dict[str, Any]) -> dict[str, Any]:
    fleet = printers.fleet()
    fleet["site"]["mqtt"] = {"host": "127.0.0.1", "port": port, "publish": publish}
    return fleet


def start_site(
    simulated_printers: Callable[..., SimulatedFleet],
    start_hub: Callable[..., HubProcess],
    broker: Broker,
    publish: dict[str, Any],
    time_factor: float = 20,
) -> Site:
    printers = simulated_printers(2, time_factor=time_factor)
    assert printers.demo is not None
    key_file = printers.demo.workdir / "secrets" / "gate.key"
    hub = start_hub(
        fleet_with(printers, broker.port, publish),
        extra_env={"FABFLEET_GATE_KEY_FILE": str(key_file)},
    )
    return Site(hub, printers, read_master_key(key_file), broker)


def test_each_printer_is_a_home_assistant_device_kept_current_and_cleared_when_it_leaves(
    broker: Broker,
    simulated_printers: Callable[..., SimulatedFleet],
    start_hub: Callable[..., HubProcess],
    tmp_path: Path,
) -> None:
    ha = HomeAssistant(broker.port)
    site = start_site(simulated_printers, start_hub, broker, {})
    try:
        ha.wait(lambda m: m.topic == "fabfleet/status" and m.payload == b"online")
        for name in ("demo-1", "demo-2"):
            ha.state(name, lambda s: s["state"] == "ready")
        time.sleep(0.3)
        one, two = configs(ha, "demo-1"), configs(ha, "demo-2")
        # Publish-only: sensors and the bed binary sensor, no buttons.
        assert set(one) == SENSORS | {"bed_clear_needed"} == set(two)
        check_against_schema(one)
        check_against_schema(two)
        assert (
            one["hotend"][1]["device"]["identifiers"] != two["hotend"][1]["device"]["identifiers"]
        )
        assert len({json.dumps(c["device"]) for _k, c in one.values()}) == 1
        assert one["state"][1]["availability"] == [
            {"topic": "fabfleet/status", "payload_available": "online",
             "payload_not_available": "offline"},
            {"topic": "fabfleet/printer/demo-1/availability", "payload_available": "online",
             "payload_not_available": "offline"},
        ]  # fmt: skip
        # All of it retained: a Home Assistant that starts later sees the same.
        kept = retained(broker.port)
        assert kept["fabfleet/status"] == b"online"
        assert kept["fabfleet/printer/demo-1/availability"] == b"online"
        assert json.loads(kept["fabfleet/printer/demo-2/state"])["state"] == "ready"
        assert {t for t in kept if t.startswith("homeassistant/")} == {
            m.topic for m in ha.seen() if m.topic.startswith("homeassistant/")
        }

        # A change on a printer is on the broker within a second.
        started = time.monotonic()
        answer = site.on_printer(
            "POST", "demo-1", "api/v1/control/temperature", json={"hotend": 180}
        )
        assert answer.status_code < 300, answer.text
        heated = ha.state("demo-1", lambda s: s["hotend_target"] == 180, since=started)
        assert heated.at - started < 1.0
        # While it heats, temperatures go out about once a second, never a flood.
        time.sleep(3.2)
        window = [
            m for m in ha.seen(heated.at)
            if m.topic == "fabfleet/printer/demo-1/state" and m.at <= heated.at + 3.0
        ]  # fmt: skip
        assert 2 <= len(window) <= 4, [m.json()["hotend"] for m in window]
        assert window[-1].json()["hotend"] > heated.json()["hotend"]

        # Commands are off: the hub subscribes to nothing, and a command changes nothing.
        site.print_square("demo-2")
        printing = ha.state("demo-2", lambda s: s["state"] == "printing" and s["file"])
        assert printing.json()["file"] == "square.gcode"
        assert ha.subscriptions(2) == 2  # this test's own two
        sent = time.monotonic()
        ha.publish("fabfleet/printer/demo-2/command", "pause")
        time.sleep(1.5)
        assert [m for m in ha.seen(sent) if m.topic.endswith("/result")] == []
        assert ha.last()["fabfleet/printer/demo-2/state"].json()["state"] == "printing"
        assert printer_acts(site.hub) == []

        # The broker goes away: the hub carries on and says so; it comes back: all again.
        broker.stop()
        deadline = time.monotonic() + 10
        while site.health()["mqtt"] != "unreachable":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ha.stop()
        (tmp_path / "again").mkdir()
        again = start_broker(tmp_path / "again", broker.port)
        try:
            ha = HomeAssistant(broker.port)
            ha.wait(lambda m: m.topic == "fabfleet/status" and m.payload == b"online", within=20)
            ha.state("demo-1", lambda s: s["state"] == "ready")
            time.sleep(0.3)
            assert set(configs(ha, "demo-2")) == SENSORS | {"bed_clear_needed"}
            assert site.health()["mqtt"] == "connected"

            # demo-2 leaves the fleet: its retained topics are emptied.
            left = time.monotonic()
            fleet = fleet_with(site.printers, broker.port, {})
            fleet["printers"] = [p for p in fleet["printers"] if p["name"] == "demo-1"]
            site.hub.write_fleet(fleet)
            ha.wait(
                lambda m: m.topic == "homeassistant/sensor/fabfleet_demo-2/state/config"
                and m.payload == b"", since=left,
            )  # fmt: skip
            time.sleep(0.3)
            kept = retained(broker.port)
            assert not [t for t in kept if "demo-2" in t], kept
            assert "homeassistant/sensor/fabfleet_demo-1/state/config" in kept

            # Killed without a word: the broker publishes the hub's last will.
            killed = time.monotonic()
            site.hub.process.kill()
            will = ha.wait(lambda m: m.topic == "fabfleet/status", since=killed, within=5)
            assert will.payload == b"offline"
        finally:
            again.stop()
    finally:
        ha.stop()


def add_users(site: Site) -> None:
    db = open_database(site.hub.data_dir / "hub.sqlite", schemas())
    try:
        # The user commands run as: an operator of demo-1 only.
        create_user(db, "ha-op", "a long enough password", "operator",
                    Grants(printers=frozenset({"demo-1"})))  # fmt: skip
    finally:
        db.close()


def test_commands_run_as_the_mapped_user_with_their_rights_and_are_audited(
    broker: Broker,
    simulated_printers: Callable[..., SimulatedFleet],
    start_hub: Callable[..., HubProcess],
) -> None:
    ha = HomeAssistant(broker.port)
    commands = {"commands": {"enabled": True, "as_user": "ha-op"}}
    # Slower prints: each is still printing when its command comes.
    site = start_site(simulated_printers, start_hub, broker, commands, time_factor=8)
    add_users(site)
    try:
        for name in ("demo-1", "demo-2"):
            ha.state(name, lambda s: s["state"] == "ready")
        time.sleep(0.3)
        found = configs(ha, "demo-1")
        assert set(found) == SENSORS | {"bed_clear_needed"} | BUTTONS
        check_against_schema(found)
        assert found["pause"][1]["command_topic"] == "fabfleet/printer/demo-1/command"
        assert found["bed_clear"][1]["payload_press"] == "bed_clear"
        # Now the hub holds one subscription beside this test's two: the command topics.
        assert ha.subscriptions(3) == 3

        def command(name: str, word: bytes | str) -> dict[str, Any]:
            sent = time.monotonic()
            ha.publish(f"fabfleet/printer/{name}/command", word)
            topic = f"fabfleet/printer/{name}/result"
            result: dict[str, Any] = ha.wait(lambda m: m.topic == topic, since=sent).json()
            return result

        site.print_square("demo-1")
        site.print_square("demo-2")
        for name in ("demo-1", "demo-2"):
            ha.state(name, lambda s: s["state"] == "printing")
        assert command("demo-1", "pause")["ok"] is True
        ha.state("demo-1", lambda s: s["state"] == "paused")
        # Resuming a paused print, once; a second resume is refused by the print server.
        assert command("demo-1", "resume") == {
            "printer": "demo-1", "ok": True, "command": "resume", "user": "ha-op",
        }  # fmt: skip
        ha.state("demo-1", lambda s: s["state"] == "printing")
        again = command("demo-1", "resume")
        assert again["ok"] is False and again["error"]
        cancelled = command("demo-1", " CANCEL\n")
        assert cancelled["ok"] is True, cancelled
        cleared = ha.state("demo-1", lambda s: s["state"] == "bed not cleared")
        assert cleared.json()["bed_clear_needed"] is True
        # demo-2 is not ha-op's to act on.
        refused = command("demo-2", "pause")
        assert refused["ok"] is False and "may not act" in refused["error"]
        # Bad payloads: ignored, nothing answered, the hub carries on.
        sent = time.monotonic()
        for bad in ("explode", b"\xff\xfe", "pause" * 100, ""):
            ha.publish("fabfleet/printer/demo-1/command", bad)
        ha.publish("fabfleet/printer/nope/command", "pause")
        time.sleep(1.0)
        assert [m for m in ha.seen(sent) if m.topic.endswith("/result")] == []
        assert site.health()["mqtt"] == "connected"
        assert not [
            m for m in ha.seen(sent)
            if m.topic == "fabfleet/printer/demo-2/state" and m.json()["state"] == "paused"
        ]  # fmt: skip

        assert command("demo-1", "bed_clear")["ok"] is True
        ready = ha.state("demo-1", lambda s: s["state"] == "ready")
        assert ready.json()["bed_clear_needed"] is False

        assert printer_acts(site.hub) == [
            ("ha-op", "printer.pause", "demo-1", "pause (via MQTT)", "done"),
            ("ha-op", "printer.resume", "demo-1", "resume (via MQTT)", "done"),
            ("ha-op", "printer.resume", "demo-1", "resume (via MQTT)", "refused"),
            ("ha-op", "printer.cancel", "demo-1", "cancel (via MQTT)", "done"),
            ("ha-op", "printer.pause", "demo-2", "pause (via MQTT)", "refused"),
            ("ha-op", "printer.bed_clear", "demo-1", "bed_clear (via MQTT)", "done"),
        ]
    finally:
        ha.stop()


def test_a_broker_that_asks_for_a_password_gets_the_secret_files_and_a_wrong_one_harms_nothing(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    port = unused_port()
    broker = start_broker(tmp_path, port, users={"fabfleet": "right horse", "ha": "ha pass"})
    ha = HomeAssistant(port, login=("ha", "ha pass"))
    secrets = tmp_path / "power-secrets"
    secrets.mkdir()
    secret = secrets / "mqtt-hub"
    secret.write_text("wrong horse\n")
    secret.chmod(0o600)
    fleet = {
        "site": {"mqtt": {"host": "127.0.0.1", "port": port, "username": "fabfleet",
                          "secret": "mqtt-hub", "publish": {}}},
        # A printer whose print server does not answer.
        "printers": [printer_entry("ghost", f"http://127.0.0.1:{unused_port()}")],
        "cameras": [],
    }  # fmt: skip
    hub = start_hub(fleet, extra_env={"FABFLEET_POWER_SECRETS": str(secrets)})

    def health() -> str:
        said: str = requests.get(hub.url + "api/health", timeout=10).json()["mqtt"]
        return said

    try:
        deadline = time.monotonic() + 10
        while health() != "unreachable":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # A secret others may read is refused, as a wrong one is; the hub carries on.
        secret.write_text("right horse\n")
        secret.chmod(0o644)
        time.sleep(2.5)
        assert health() == "unreachable"
        assert "may be read by others" in hub.log.read_text()
        assert [m for m in ha.seen() if m.topic.startswith("fabfleet/")] == []
        secret.chmod(0o600)
        ha.wait(lambda m: m.topic == "fabfleet/status" and m.payload == b"online", within=20)
        ha.wait(lambda m: m.topic == "fabfleet/printer/ghost/availability")
        assert ha.last()["fabfleet/printer/ghost/availability"].payload == b"offline"
        assert ha.state("ghost", lambda s: True).json()["state"] == "unreachable"
        assert health() == "connected"
        # Stopped cleanly: no last will, so the hub says offline itself.
        stopped = time.monotonic()
        hub.stop()
        ha.wait(lambda m: m.topic == "fabfleet/status" and m.payload == b"offline", since=stopped)
    finally:
        ha.stop()
        broker.stop()
