"""MQTT power devices against a real Mosquitto broker (Debian's ``mosquitto``, started on a
free loopback port for each test) and a scripted Tasmota-style device client (paho-mqtt):
``cmnd/<topic>/POWER`` takes ON/OFF and an empty payload as a query, ``stat/<topic>/POWER``
carries the state (not retained, as Tasmota's default PowerRetain off), ``tele/<topic>/LWT``
is Online (retained) or the broker's last will Offline (https://tasmota.github.io/docs/Commands/ ,
docs/research/farm-operations.md section 5)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.power.mqtt import MqttDevice, MqttLink
from hub.power.spec import MqttSite, parse_power
from hub.power.state import PowerView
from tests.hub.conftest import printer_entry, unused_port
from tests.hub.mosquitto import Broker, start_broker
from tests.hub.test_power_service import service_for

T = TypeVar("T")


@dataclass
class TasmotaDevice:
    """A Tasmota plug on MQTT, as far as power goes."""

    port: int
    topic: str = "plug3"
    on: bool = True
    # Answer queries and commands (False: a device that says nothing).
    answers: bool = True
    heard: list[str] = field(default_factory=list)
    client: paho.Client = field(init=False)
    connected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"tasmota-{self.topic}")
        client.will_set(f"tele/{self.topic}/LWT", "Offline", qos=1, retain=True)
        client.on_connect = self._connected
        client.on_message = self._message
        client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client = client

    def _connected(self, client: paho.Client, *_args: Any) -> None:
        client.publish(f"tele/{self.topic}/LWT", "Online", qos=1, retain=True)
        client.subscribe(f"cmnd/{self.topic}/POWER", qos=1)
        self.connected.set()

    def _message(self, client: paho.Client, _userdata: Any, message: Any) -> None:
        payload = message.payload.decode()
        self.heard.append(payload)
        if not self.answers:
            return
        if payload.upper() in ("ON", "OFF"):
            self.on = payload.upper() == "ON"
        if payload.upper() in ("ON", "OFF", ""):
            client.publish(f"stat/{self.topic}/POWER", "ON" if self.on else "OFF", qos=1)

    def start(self) -> TasmotaDevice:
        self.client.connect("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        assert self.connected.wait(10)
        return self

    def crash(self) -> None:
        """Gone without a goodbye: the broker publishes the last will."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None
        sock.close()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def tasmota(link: MqttLink, topic: str = "plug3") -> MqttDevice:
    spec = parse_power({"type": "mqtt", "topic": topic}, "test")
    assert spec is not None
    return link.device(spec)


def test_state_comes_from_the_stat_topic_after_a_query_on_start(broker: Broker) -> None:
    device = TasmotaDevice(broker.port).start()

    async def scenario() -> list[str]:
        link = MqttLink(MqttSite("127.0.0.1", broker.port), None)
        plug = tasmota(link)
        link.start()
        try:
            await until(lambda: plug.on is not None)
            first = await plug.state()
            off = await plug.switch(False)
            on = await plug.switch(True)
            return [first.word, off.word, on.word, first.reason]
        finally:
            await link.stop()

    try:
        first, off, on, reason = run(scenario)
    finally:
        device.stop()
    assert (first, off, on) == ("on", "off", "on")
    assert reason == "stat/plug3/POWER says ON"
    # The query on connect was an empty payload on the command topic.
    assert device.heard[0] == ""
    assert device.heard[-2:] == ["OFF", "ON"] and device.on is True


def test_unknown_until_a_state_message_arrives(broker: Broker) -> None:
    device = TasmotaDevice(broker.port, answers=False).start()

    async def scenario() -> tuple[str, str, str]:
        link = MqttLink(MqttSite("127.0.0.1", broker.port), None)
        plug = tasmota(link)
        link.start()
        try:
            await until(lambda: link.connected)
            state = await plug.state()
            switched = await plug.switch(False)
            return state.word, state.reason, switched.reason
        finally:
            await link.stop()

    try:
        word, reason, switched = run(scenario)
    finally:
        device.stop()
    assert word == "unknown" and reason == "no state message on stat/plug3/POWER yet"
    assert switched == "no answer on stat/plug3/POWER after the command"
    assert device.on is True  # it never said it switched: the hub does not assume it did


def test_last_will_offline_makes_the_state_unknown(broker: Broker) -> None:
    device = TasmotaDevice(broker.port).start()

    async def scenario() -> tuple[str, str]:
        link = MqttLink(MqttSite("127.0.0.1", broker.port), None)
        plug = tasmota(link)
        link.start()
        try:
            await until(lambda: plug.on is True)
            device.crash()
            await until(lambda: plug.available is False)
            state = await plug.state()
            return state.word, state.reason
        finally:
            await link.stop()

    word, reason = run(scenario)
    assert word == "unknown"
    assert reason == "the device is offline (tele/plug3/LWT is Offline)"


def test_broker_down_makes_every_state_unknown_and_it_recovers(
    broker: Broker, tmp_path: Path
) -> None:
    device = TasmotaDevice(broker.port).start()
    restarted: list[Broker] = []

    async def scenario() -> tuple[str, str, str]:
        link = MqttLink(MqttSite("127.0.0.1", broker.port), None)
        plug = tasmota(link)
        link.start()
        try:
            await until(lambda: plug.on is True)
            broker.stop()
            await until(lambda: not link.connected)
            down = await plug.state()
            restarted.append(start_broker(tmp_path, broker.port))
            # Both reconnect by themselves; the hub asks again once the device is back.
            await until(lambda: link.connected and plug.on is not None, 30)
            back = await plug.state()
            return down.word, down.reason, back.word
        finally:
            await link.stop()

    try:
        word, reason, back = run(scenario)
    finally:
        device.stop()
        for extra in restarted:
            extra.stop()
    assert word == "unknown"
    assert reason.startswith(f"the MQTT broker at 127.0.0.1:{broker.port} is unreachable") or (
        reason == f"the connection to the MQTT broker at 127.0.0.1:{broker.port} closed"
    )
    assert back == "on"


def test_no_broker_at_all_is_unknown() -> None:
    async def scenario() -> str:
        link = MqttLink(MqttSite("127.0.0.1", unused_port()), None)
        plug = tasmota(link)
        link.start()
        try:
            await until(lambda: "unreachable" in link.problem)
            return (await plug.state()).reason
        finally:
            await link.stop()

    assert "is unreachable" in run(scenario)


def test_the_hub_power_service_uses_the_sites_broker(broker: Broker, tmp_path: Path) -> None:
    """The service builds one broker connection from ``site.mqtt`` for its MQTT devices."""
    device = TasmotaDevice(broker.port).start()
    power = {"type": "mqtt", "topic": "plug3"}
    fleet = {
        "site": {"mqtt": {"host": "127.0.0.1", "port": broker.port}},
        "printers": [printer_entry("mk3", f"http://127.0.0.1:{unused_port()}", power=power)],
        "cameras": [],
    }
    service = service_for(tmp_path, fleet)

    async def scenario() -> tuple[str, str]:
        await service.start()
        try:
            await until(lambda: (service.state("mk3") or PowerView(False, None, "", 0)).known)
            first = (service.state("mk3") or PowerView(False, None, "", 0)).reason
            found = service.device("printer", "mk3")
            assert found is not None
            switched = await service.switch(found, False)
            return first, switched.word
        finally:
            await service.stop()
            service.ctx.db.close()

    try:
        first, switched = run(scenario)
    finally:
        device.stop()
    assert first == "stat/plug3/POWER says ON" and switched == "off" and device.on is False
