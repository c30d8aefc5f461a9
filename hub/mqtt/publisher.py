"""The hub's ``MQTT`` service: one broker connection that publishes the fleet (docs/mqtt.md).

Connects to ``site.mqtt`` when ``site.mqtt.publish`` is on, with the last will ``offline``
(retained) on ``<topic_prefix>/status`` and ``online`` there once connected. Then, per printer
of the fleet: its Home Assistant discovery configs, its availability and its state, all
retained; each later change of the hub's live state (hub/fleet/live.py) as it comes, paced by
:mod:`hub.mqtt.pacing`. Every retained topic the hub has published is remembered in its
database, so a printer that leaves the fleet (or an entity that is no longer published) has
its topics cleared with an empty retained message, across restarts too.

Commands are subscribed to only when the fleet file turns them on (hub/mqtt/commands.py).
A broker that is down or refuses the hub is retried with backoff from ``RETRY_FIRST`` up to
``RETRY_MAX`` seconds; nothing here blocks or stops the hub. ``GET /api/health`` says
``mqtt``: ``off``, ``connecting``, ``connected`` or ``unreachable``; the log says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets as random
import time
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from aiohttp import web

from hub.context import CONTEXT, HubContext
from hub.fleet.live import PrinterLive
from hub.mqtt import topics
from hub.mqtt.commands import command_of, run_command
from hub.mqtt.pacing import Pacer
from hub.mqtt.settings import PublishSettings
from hub.power.secrets import read_secret
from hub.power.spec import MqttSite
from hub.power.state import PowerError
from hub.running import cancel_all, run_with_app

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS mqtt_retained (
    topic TEXT PRIMARY KEY,
    printer TEXT NOT NULL
);
"""

CONNECT_TIMEOUT = 5.0
KEEPALIVE = 15
RETRY_FIRST = 0.5
RETRY_MAX = 30.0
# How often the fleet file is looked at (printers added or removed, settings changed).
FLEET_CHECK = 2.0
# After a change wakes the sender, it waits this long for others to take them all at once.
GATHER = 0.05
# Commands run at once at most.
PARALLEL_COMMANDS = 4
QOS = 1


@dataclass(frozen=True, slots=True)
class Target:
    """What the connection is for: the broker, its password, what to publish."""

    site: MqttSite
    password: str | None
    settings: PublishSettings


@dataclass(slots=True)
class _Sent:
    """What this connection has published so far, per printer."""

    available: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, Any] | None] = field(default_factory=dict)


class Publisher:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.status = "off"
        self.problem: str | None = None
        self.messages = 0
        self.pacer = Pacer()
        self.sent = _Sent()
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        # The firmware each printer last reported (kept while it is unreachable).
        self.firmware: dict[str, dict[str, Any]] = {}
        self.retained: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None
        self.commands: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(PARALLEL_COMMANDS)
        self._unsubscribe: Any = None

    # --- what changes ------------------------------------------------------------

    def changed(self, live: PrinterLive) -> None:
        """Told by the live state of every change: noted, sent by the sender loop."""
        firmware = live.status.get("firmware")
        if isinstance(firmware, dict):
            self.firmware[live.name] = {
                k: firmware[k] for k in ("name", "MACHINE_TYPE") if isinstance(firmware.get(k), str)
            }
        self.dirty.add(live.name)
        self.wake.set()

    def target(self) -> Target | None:
        fleet = self.ctx.fleet
        if fleet.mqtt is None or fleet.publish is None:
            return None
        secret = fleet.mqtt.secret
        password = None
        if secret is not None:
            password = read_secret(self.ctx.config.power_secrets_dir, secret)
        return Target(fleet.mqtt, password, fleet.publish)

    def _target_or_none(self) -> Target | None:
        try:
            return self.target()
        except PowerError as error:
            self._say("unreachable", f"the MQTT broker's password cannot be read: {error}")
            return None

    def _say(self, status: str, problem: str | None) -> None:
        if problem is not None and problem != self.problem:
            log.warning("MQTT publishing: %s", problem)
        self.status, self.problem = status, problem

    # --- the retained topics the hub owns ------------------------------------------

    def _load_retained(self) -> None:
        rows = self.ctx.db.execute("SELECT topic, printer FROM mqtt_retained").fetchall()
        self.retained = {row["topic"]: row["printer"] for row in rows}

    def _own(self, topic: str, printer: str) -> None:
        if topic not in self.retained:
            self.retained[topic] = printer
            self.ctx.db.execute(
                "INSERT OR IGNORE INTO mqtt_retained (topic, printer) VALUES (?, ?)",
                (topic, printer),
            )

    def _wanted(self, settings: PublishSettings) -> set[str]:
        wanted: set[str] = set()
        for printer in self.ctx.fleet.printers:
            name = printer.name
            wanted.add(topics.printer_topic(settings, name, "availability"))
            wanted.add(topics.printer_topic(settings, name, "state"))
            if settings.discovery:
                entities = topics.entities(settings)
                wanted.update(topics.discovery_topic(settings, name, e) for e in entities)
        return wanted

    async def _clear_stale(self, client: aiomqtt.Client, settings: PublishSettings) -> None:
        """Empty every retained topic the hub published that the fleet no longer has."""
        wanted = self._wanted(settings)
        stale = [t for t in self.retained if t not in wanted]
        if not stale:
            return
        await asyncio.gather(*(client.publish(t, b"", qos=QOS, retain=True) for t in stale))
        gone = {self.retained.pop(t) for t in stale}
        self.ctx.db.executemany("DELETE FROM mqtt_retained WHERE topic = ?", [(t,) for t in stale])
        names = set(self.retained.values())
        for name in gone - names:
            self.pacer.forget(name)
            self.sent.available.pop(name, None)
            self.sent.devices.pop(name, None)
        log.info("MQTT: cleared %d retained topics of %s", len(stale), ", ".join(sorted(gone)))

    # --- publishing ------------------------------------------------------------------

    async def _publish(
        self, client: aiomqtt.Client, batch: list[tuple[str, str, str]], qos: int = QOS
    ) -> None:
        """Publish (topic, payload, printer) retained, all at once."""
        if not batch:
            return
        for topic, _payload, printer in batch:
            self._own(topic, printer)
        await asyncio.gather(
            *(client.publish(t, p.encode(), qos=qos, retain=True) for t, p, _n in batch)
        )
        self.messages += len(batch)

    def _collect(self, settings: PublishSettings) -> list[tuple[str, str, str]]:
        """Discovery and availability changes of the printers noted as changed; their state
        offered to the pacer."""
        batch: list[tuple[str, str, str]] = []
        fleet = self.ctx.fleet
        names = {p.name for p in fleet.printers}
        dirty, self.dirty = self.dirty & names, set()
        # A printer not yet published this connection (new in the fleet, or a reconnect).
        dirty |= names - set(self.sent.available)
        now, wall = time.monotonic(), time.time()
        for name in sorted(dirty):
            live = self.ctx.live.get(name)
            firmware = self.firmware.get(name)
            if settings.discovery and (
                name not in self.sent.devices or self.sent.devices[name] != firmware
            ):
                self.sent.devices[name] = firmware
                batch.extend((t, p, name) for t, p in topics.discovery(settings, name, firmware))
            available = topics.ONLINE if live.online else topics.OFFLINE
            if self.sent.available.get(name) != available:
                self.sent.available[name] = available
                batch.append(
                    (topics.printer_topic(settings, name, "availability"), available, name)
                )
            self.pacer.offer(name, topics.state_payload(live, wall), now)
        return batch

    async def _send(self, client: aiomqtt.Client, target: Target) -> None:
        """Publish until the fleet file asks for another target (then return)."""
        settings = target.settings
        checked = 0.0
        while True:
            now = time.monotonic()
            if now - checked >= FLEET_CHECK:
                checked = now
                if self._target_or_none() != target:
                    return
                await self._clear_stale(client, settings)
            batch = self._collect(settings)
            await self._publish(client, batch)
            # Not a printer that left the fleet since it changed (its topics are cleared).
            names = {p.name for p in self.ctx.fleet.printers}
            due = [
                (topics.printer_topic(settings, name, "state"), json.dumps(payload), name)
                for name, payload in self.pacer.due(time.monotonic())
                if name in names
            ]
            # States are sent often and each replaces the last: at most once (QoS 0).
            await self._publish(client, due, qos=0)
            wait = FLEET_CHECK - (time.monotonic() - checked)
            soonest = self.pacer.next_due()
            if soonest is not None:
                wait = min(wait, soonest - time.monotonic())
            if wait > 0 and not self.dirty:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait)
            self.wake.clear()
            # Changes that come together are taken together.
            await asyncio.sleep(GATHER)

    # --- commands ----------------------------------------------------------------------

    async def _listen(self, client: aiomqtt.Client, target: Target) -> None:
        """Commands when they are on; and, either way, notice a lost connection."""
        settings = target.settings
        async for message in client.messages:
            topic = message.topic.value
            name = topics.printer_of_command(settings, topic)
            if name is None or settings.commands_as is None:
                continue
            payload = message.payload if isinstance(message.payload, bytes) else b""
            command = command_of(payload)
            if command is None:
                log.warning("MQTT: ignored a command on %s: %r", topic[:120], payload[:40])
                continue
            if self.ctx.fleet.printer(name) is None:
                log.warning("MQTT: ignored %s for %s: no such printer", command, name[:60])
                continue
            task = asyncio.create_task(
                self._command(client, settings, name, command), name=f"mqtt {command} {name}"
            )
            self.commands.add(task)
            task.add_done_callback(self.commands.discard)

    async def _command(
        self, client: aiomqtt.Client, settings: PublishSettings, name: str, command: str
    ) -> None:
        assert settings.commands_as is not None
        try:
            result = await run_command(self.ctx, settings.commands_as, name, command, self.slots)
            topic = topics.printer_topic(settings, name, "result")
            await client.publish(topic, json.dumps(result).encode(), qos=QOS)
        except aiomqtt.MqttError as error:
            log.warning("MQTT: the result of %s on %s was not published: %s", command, name, error)
        except Exception:
            log.exception("MQTT: the command %s on %s failed", command, name)

    # --- the connection --------------------------------------------------------------------

    async def _session(self, target: Target) -> None:
        site, settings = target.site, target.settings
        status = topics.hub_status(settings)
        where = f"{site.host}:{site.port}"
        self._say("connecting", None)
        async with aiomqtt.Client(
            site.host,
            port=site.port,
            username=site.username,
            password=target.password,
            identifier=f"fabfleet-hub-{random.token_hex(4)}",
            will=aiomqtt.Will(status, topics.OFFLINE, qos=QOS, retain=True),
            timeout=CONNECT_TIMEOUT,
            keepalive=KEEPALIVE,
        ) as client:
            await client.publish(status, topics.ONLINE.encode(), qos=QOS, retain=True)
            if settings.commands_as is not None:
                await client.subscribe(topics.command_filter(settings), qos=QOS)
            self._say("connected", None)
            log.info(
                "MQTT: publishing the fleet to %s under %s/ (commands %s)",
                where, settings.topic_prefix,
                f"as {settings.commands_as}" if settings.commands_as else "off",
            )  # fmt: skip
            self.pacer.resend_all()
            self.sent = _Sent()
            self._load_retained()
            tasks = [
                asyncio.create_task(self._send(client, target), name="mqtt send"),
                asyncio.create_task(self._listen(client, target), name="mqtt listen"),
            ]
            try:
                done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # The hub stops: a clean disconnect sends no last will, so say it.
                await cancel_all(tasks)
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(2):
                        await client.publish(status, topics.OFFLINE.encode(), qos=QOS, retain=True)
                raise
            await cancel_all(tasks)
            for task in done:
                task.result()
            # The target changed: say so before leaving (a new target says online again).
            await client.publish(status, topics.OFFLINE.encode(), qos=QOS, retain=True)
        log.info("MQTT: the publishing settings changed; reconnecting")

    async def run(self) -> None:
        delay = RETRY_FIRST
        while True:
            target = self._target_or_none()
            if target is None:
                fleet = self.ctx.fleet
                if fleet.mqtt is None or fleet.publish is None:
                    self._say("off", None)
                await asyncio.sleep(FLEET_CHECK)
                continue
            where = f"{target.site.host}:{target.site.port}"
            try:
                await self._session(target)
                delay = RETRY_FIRST
                continue
            except aiomqtt.MqttError as error:
                self._say("unreachable", f"the MQTT broker at {where}: {error}")
            except OSError as error:
                self._say("unreachable", f"the MQTT broker at {where} is unreachable: {error}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def start(self) -> None:
        self._unsubscribe = self.ctx.live.subscribe(self.changed)
        self.task = asyncio.get_running_loop().create_task(self.run(), name="mqtt publisher")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_all([self.task, *self.commands])
        self.task = None


MQTT_PUBLISHER = web.AppKey("mqtt publisher", Publisher)


def setup(app: web.Application) -> None:
    publisher = app[MQTT_PUBLISHER] = Publisher(app[CONTEXT])
    run_with_app(app, publisher.start, publisher.stop)
