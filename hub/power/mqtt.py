"""MQTT power devices: one broker connection for all of them (``site.mqtt``), one device per
command/state topic pair.

Per Tasmota's MQTT docs (https://tasmota.github.io/docs/Commands/) a plug takes ``ON``/``OFF``
on ``cmnd/<topic>/POWER``, answers on ``stat/<topic>/POWER`` and treats an empty payload on
the command topic as a query; ``tele/<topic>/LWT`` is ``Online`` or, as the broker's last
will, ``Offline``. Its POWER state is not retained by default, so the hub queries on
connect. The generic form follows Home Assistant's MQTT switch
(https://www.home-assistant.io/integrations/switch.mqtt/): ``command_topic``,
``state_topic``, ``payload_on``/``payload_off``, ``state_on``/``state_off``,
``availability_topic``. Unlike Home Assistant the hub is never "optimistic": until a state
message arrives, while the device says it is offline and while the broker cannot be
reached, the state is unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets as random
from collections.abc import Callable

import aiomqtt

from hub.power.spec import MqttSite, PowerSpec
from hub.power.state import PowerState, known, unknown

log = logging.getLogger(__name__)

# Seconds a command or query waits for the device's state message.
ANSWER_WAIT = 3.0
CONNECT_TIMEOUT = 5.0
RETRY_FIRST = 0.5
RETRY_MAX = 10.0


class MqttDevice:
    def __init__(self, spec: PowerSpec, link: MqttLink) -> None:
        self.spec = spec
        self.link = link
        self.on: bool | None = None
        self.said = f"no state message on {spec.state_topic} yet"
        self.available: bool | None = None
        self.changed = asyncio.Event()
        # Told of every change the broker brings (the service keeps its cached state by it).
        self.listener: Callable[[], None] | None = None

    def _tell(self) -> None:
        self.changed.set()
        if self.listener is not None:
            self.listener()

    def heard(self, topic: str, payload: str) -> bool:
        """Take one message; True when the device just came online and should be asked."""
        spec = self.spec
        back = False
        if topic == spec.availability_topic:
            if payload == spec.payload_available:
                back = self.available is False or (self.available is None and self.on is None)
                self.available = True
            elif payload == spec.payload_not_available:
                self.available = False
        if topic == spec.state_topic:
            if payload == spec.state_on:
                self.on, self.said = True, f"{spec.state_topic} says {payload}"
            elif payload == spec.state_off:
                self.on, self.said = False, f"{spec.state_topic} says {payload}"
            else:
                self.on, self.said = None, f"{spec.state_topic} sent {payload[:40]!r}"
        self._tell()
        return back and bool(spec.query_topic)

    def current(self) -> PowerState:
        if not self.link.connected:
            return unknown(self.link.problem)
        if self.available is False:
            return unknown(
                f"the device is offline ({self.spec.availability_topic} is "
                f"{self.spec.payload_not_available})"
            )
        if self.on is None:
            return unknown(self.said)
        return known(self.on, self.said)

    async def _wait(self, wanted: bool | None) -> PowerState:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ANSWER_WAIT):
                while not (self.on is not None and (wanted is None or self.on is wanted)):
                    self.changed.clear()
                    await self.changed.wait()
        return self.current()

    async def state(self) -> PowerState:
        if self.on is None and self.link.connected and self.spec.query_topic:
            await self.link.publish(self.spec.query_topic, self.spec.query_payload)
            return await self._wait(None)
        return self.current()

    async def switch(self, on: bool) -> PowerState:
        if not self.link.connected:
            return unknown(self.link.problem)
        self.on = None
        self.said = f"no answer on {self.spec.state_topic} after the command"
        payload = self.spec.payload_on if on else self.spec.payload_off
        await self.link.publish(self.spec.command_topic, payload)
        return await self._wait(on)

    async def close(self) -> None:
        self.link.devices.discard(self)


class MqttLink:
    """The broker connection: subscribes to every device's topics, hands each message on,
    and queries each device when it (re)connects."""

    def __init__(self, site: MqttSite, password: str | None) -> None:
        self.site = site
        self.password = password
        self.devices: set[MqttDevice] = set()
        self.client: aiomqtt.Client | None = None
        self.connected = False
        self.problem = f"not yet connected to the MQTT broker at {site.host}:{site.port}"
        self.task: asyncio.Task[None] | None = None
        self.pending: set[asyncio.Task[None]] = set()

    def device(self, spec: PowerSpec) -> MqttDevice:
        device = MqttDevice(spec, self)
        self.devices.add(device)
        if self.client is not None and self.connected:
            task = asyncio.get_running_loop().create_task(self._late(self.client, device))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
        return device

    async def _late(self, client: aiomqtt.Client, device: MqttDevice) -> None:
        """Subscribe for a device added while connected (a failure: the reconnect does it)."""
        try:
            await self._subscribe(client, device)
        except aiomqtt.MqttError as error:
            log.warning("MQTT subscribe for %s failed: %s", device.spec.state_topic, error)

    async def publish(self, topic: str, payload: str) -> None:
        client = self.client
        if client is None:
            return
        try:
            await client.publish(topic, payload=payload.encode("utf-8"), qos=1)
        except aiomqtt.MqttError as error:
            log.warning("MQTT publish to %s failed: %s", topic, error)

    async def _subscribe(self, client: aiomqtt.Client, device: MqttDevice) -> None:
        spec = device.spec
        for topic in (spec.state_topic, spec.availability_topic):
            if topic:
                await client.subscribe(topic, qos=1)
        if spec.query_topic:
            await client.publish(spec.query_topic, payload=spec.query_payload.encode(), qos=1)

    def _lost(self, problem: str) -> None:
        self.connected = False
        self.client = None
        self.problem = problem
        for device in list(self.devices):
            device.on = None
            device.available = None
            device._tell()

    async def run(self) -> None:
        delay = RETRY_FIRST
        where = f"{self.site.host}:{self.site.port}"
        while True:
            try:
                async with aiomqtt.Client(
                    self.site.host,
                    port=self.site.port,
                    username=self.site.username,
                    password=self.password,
                    identifier=f"fabfleet-hub-{random.token_hex(4)}",
                    timeout=CONNECT_TIMEOUT,
                    keepalive=15,
                ) as client:
                    self.client = client
                    self.connected = True
                    delay = RETRY_FIRST
                    log.info("connected to the MQTT broker at %s", where)
                    for device in list(self.devices):
                        await self._subscribe(client, device)
                    async for message in client.messages:
                        payload = message.payload
                        text = (
                            payload.decode("utf-8", "replace")
                            if isinstance(payload, bytes | bytearray)
                            else str(payload or "")
                        )
                        for device in list(self.devices):
                            if device.heard(message.topic.value, text.strip()):
                                spec = device.spec
                                await self.publish(spec.query_topic, spec.query_payload)
                self._lost(f"the connection to the MQTT broker at {where} closed")
            except aiomqtt.MqttError as error:
                self._lost(f"the MQTT broker at {where} is unreachable: {error}")
            except OSError as error:
                self._lost(f"the MQTT broker at {where} is unreachable: {error}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(), name="mqtt link")

    async def stop(self) -> None:
        for task in list(self.pending):
            task.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        self._lost("the hub stopped its MQTT connection")
