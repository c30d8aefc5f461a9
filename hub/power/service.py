"""The hub's power service (``app[POWER]``): one driver per printer or camera with a power
device, its cached state, the auto-off loop and power-on before a queued job.

- Requests to one device are serialised by its lock; every device is read every ``POLL``
  seconds so the dashboard and the dispatcher see a recent state without asking.
- :meth:`PowerService.ensure_on` (the queue's dispatcher calls it before sending a job):
  switch on when needed, at most one power-on per ``stagger_seconds`` across the fleet,
  then wait up to ``boot_timeout`` for the print server to report the printer connected.
- Auto-off: when a printer's state leaves printing/paused/… (or ensure_on switched it on), the
  service follows :func:`hub.power.guard.auto_off` on every live change and every
  ``TICK``; once it allows, a fresh reading is fetched from the print server and the guard
  asked again before the device is switched off (once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import CONTEXT, HubContext
from hub.fleet.live import BUSY, UNREACHABLE, PrinterLive
from hub.power import guard
from hub.power.driver import PowerDriver
from hub.power.generic_http import GenericHttp
from hub.power.gpio import Gpio
from hub.power.homeassistant import HomeAssistant
from hub.power.http_call import TIMEOUT
from hub.power.mqtt import MqttDevice, MqttLink
from hub.power.secrets import read_secret
from hub.power.shelly1 import Shelly1
from hub.power.shelly2 import Shelly2
from hub.power.spec import MqttSite, PowerSpec
from hub.power.state import PowerError, PowerState, PowerView, unknown
from hub.power.tasmota import Tasmota
from hub.records import audit

log = logging.getLogger(__name__)

POLL = 15.0
TICK = 2.0
# A fresh reading is fetched at most this often per printer while auto-off waits.
FETCH_EVERY = 4.0
# After a failed automatic switch-off, wait this long before trying again.
RETRY_OFF = 30.0
HUB_USER = "hub"
NOT_UP = frozenset({"offline", UNREACHABLE})

Key = tuple[str, str]  # ("printer" | "camera", name)


class Broken:
    """A device that cannot be used as configured (e.g. its secret file is missing)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def state(self) -> PowerState:
        return unknown(self.reason)

    async def switch(self, on: bool) -> PowerState:
        return unknown(self.reason)

    async def close(self) -> None:
        return None


@dataclass
class Device:
    key: Key
    spec: PowerSpec
    driver: PowerDriver
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: PowerState = field(default_factory=lambda: unknown("not read yet"))
    # Auto-off: since when the printer is idle after a job (None: nothing to wait for).
    idle_since: float | None = None
    sentence: str = ""
    gave_up: bool = False
    # A reading fetched from the print server (and when), fresher than the live state.
    fetched: guard.Reading | None = None
    fetched_at: float = 0.0
    failed_off_at: float = 0.0


def reading_of(live: PrinterLive | None, now: float, at: float | None = None) -> guard.Reading:
    if live is None:
        return guard.Reading(False, UNREACHABLE, {}, float("inf"))
    raw = live.status.get("heaters") or {}
    heaters = {}
    if isinstance(raw, dict):
        for name, heater in raw.items():
            if isinstance(heater, dict):
                heaters[str(name)] = guard.Heater(
                    _number(heater.get("actual")), _number(heater.get("target"))
                )
    return guard.Reading(live.online, live.state, heaters, max(0.0, now - (at or live.updated)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class PowerService:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.devices: dict[Key, Device] = {}
        self.session: aiohttp.ClientSession | None = None
        self.mqtt: MqttLink | None = None
        self._mqtt_site: tuple[MqttSite, str | None] | None = None
        self.wake = asyncio.Event()
        self.stagger = asyncio.Lock()
        self.last_power_on = 0.0
        self.last_state: dict[str, str] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.pending: set[asyncio.Task[Any]] = set()
        self.unsubscribe: list[Any] = []

    # -- the fleet's devices ---------------------------------------------------------

    def _secret(self, name: str | None) -> str | None:
        return None if name is None else read_secret(self.ctx.config.power_secrets_dir, name)

    def _link(self) -> MqttLink:
        site = self.ctx.fleet.mqtt
        if site is None:
            if self.mqtt is not None:
                self._spawn(self.mqtt.stop())
            self.mqtt, self._mqtt_site = None, None
            raise PowerError("an mqtt device needs site.mqtt (the broker) in the fleet file")
        wanted = (site, self._secret(site.secret))
        if self.mqtt is None or self._mqtt_site != wanted:
            if self.mqtt is not None:
                self._spawn(self.mqtt.stop())
            self.mqtt = MqttLink(site, wanted[1])
            self._mqtt_site = wanted
            self.mqtt.start()
        return self.mqtt

    def _driver(self, spec: PowerSpec) -> PowerDriver:
        assert self.session is not None
        try:
            secret = self._secret(spec.secret)
            if spec.type == "tasmota":
                return Tasmota(spec, self.session, secret)
            if spec.type == "shelly1":
                return Shelly1(spec, self.session, secret)
            if spec.type == "shelly2":
                return Shelly2(spec, self.session, secret)
            if spec.type == "homeassistant":
                assert secret is not None
                return HomeAssistant(spec, self.session, secret)
            if spec.type == "http":
                return GenericHttp(spec, self.session, secret)
            if spec.type == "mqtt":
                return self._link().device(spec)
            return Gpio(spec)
        except PowerError as error:
            return Broken(str(error))
        except ValueError as error:  # a pattern that is no regular expression
            return Broken(f"the {spec.type} device cannot be used: {error}")

    def sync(self) -> None:
        """Devices for the fleet as it is now (a changed entry gets a new driver)."""
        fleet = self.ctx.fleet
        wanted: dict[Key, PowerSpec] = {}
        for printer in fleet.printers:
            if printer.power is not None:
                wanted[("printer", printer.name)] = printer.power
        for camera in fleet.cameras:
            if camera.power is not None:
                wanted[("camera", camera.name)] = camera.power
        broker_changed = self._mqtt_site is not None and self._mqtt_site[0] != fleet.mqtt
        for key in list(self.devices):
            stale = broker_changed and self.devices[key].spec.type == "mqtt"
            if stale or self.devices[key].spec != wanted.get(key):
                old = self.devices.pop(key)
                self._spawn(old.driver.close())
        for key, spec in wanted.items():
            if key not in self.devices:
                device = self.devices[key] = Device(key, spec, self._driver(spec))
                if isinstance(device.driver, MqttDevice):
                    device.driver.listener = self._pusher(device, device.driver)
                if self.session is not None:
                    self._spawn(self.refresh(device))

    def _pusher(self, device: Device, driver: MqttDevice) -> Callable[[], None]:
        """An MQTT device's state arrives by itself: keep the cached state with it."""

        def pushed() -> None:
            device.current = driver.current()
            self._changed(device)

        return pushed

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` now without waiting for it (a new device's first reading)."""
        task = asyncio.get_running_loop().create_task(work)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    # -- reading and switching --------------------------------------------------------

    def device(self, kind: str, name: str) -> Device | None:
        return self.devices.get((kind, name))

    def state(self, printer: str) -> PowerView | None:
        """``printer``'s power as last read (None: it has no power device)."""
        device = self.devices.get(("printer", printer))
        return None if device is None else PowerView.of(device.current)

    def camera_state(self, camera: str) -> PowerView | None:
        device = self.devices.get(("camera", camera))
        return None if device is None else PowerView.of(device.current)

    async def refresh(self, device: Device) -> PowerState:
        async with device.lock:
            device.current = await device.driver.state()
        self._changed(device)
        return device.current

    def _changed(self, device: Device) -> None:
        """The device's state may have changed: the guard's word is worked out afresh (on
        demand until the auto-off loop, woken now, has looked)."""
        if not device.gave_up:
            device.sentence = ""
        self.wake.set()

    async def switch(self, device: Device, on: bool) -> PowerState:
        """Switch ``device`` (serialised with its other requests); what it says afterwards."""
        async with device.lock:
            device.current = await device.driver.switch(on)
        if not on and device.current.on is False:
            device.idle_since = None
        self._changed(device)
        return device.current

    async def _poll(self) -> None:
        while True:
            try:
                self.sync()
                devices = [d for d in self.devices.values() if not d.lock.locked()]
                await asyncio.gather(*(self.refresh(d) for d in devices))
                self.wake.set()
            except Exception:
                log.exception("reading the power devices failed; trying again")
            await asyncio.sleep(POLL)

    # -- power-on before a job ---------------------------------------------------------

    def _printer_up(self, printer: str) -> bool:
        live = self.ctx.live.printers.get(printer)
        return live is not None and live.online and live.state not in NOT_UP

    async def ensure_on(self, printer: str) -> None:
        """Make sure ``printer`` has power and its print server reports it connected;
        :class:`PowerError` with a sentence when that cannot be done in ``boot_timeout``.
        A printer without a power device returns at once."""
        self.sync()
        device = self.devices.get(("printer", printer))
        if device is None:
            return
        settings = self.ctx.fleet.power
        state = await self.refresh(device)
        if state.on is not True:
            async with self.stagger:
                pause = self.last_power_on + settings.stagger_seconds - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                state = await self.switch(device, True)
                self.last_power_on = time.monotonic()
            if state.on is not True:
                raise PowerError(f"{printer} could not be switched on: {state.reason}")
            # Switched on for a job: if none starts, auto-off takes it back after the idle time.
            device.idle_since = time.time()
            device.gave_up = False
            audit.record(self.ctx.db, HUB_USER, "power on", printer, "for a queued job")
        changed = asyncio.Event()

        def note(live: PrinterLive) -> None:
            if live.name == printer:
                changed.set()

        unsubscribe = self.ctx.live.subscribe(note)
        try:
            async with asyncio.timeout(settings.boot_timeout):
                while not self._printer_up(printer):
                    changed.clear()
                    await changed.wait()
        except TimeoutError:
            live = self.ctx.live.printers.get(printer)
            said = "does not answer" if live is None or not live.online else f"says {live.state}"
            raise PowerError(
                f"{printer} has power, but its print server did not report the printer "
                f"connected within {settings.boot_timeout:g} s (it {said})"
            ) from None
        finally:
            unsubscribe()

    # -- the off-guard -----------------------------------------------------------------

    async def fetch_reading(self, device: Device) -> guard.Reading:
        """The printer as its print server says right now (unreachable on no answer)."""
        name = device.key[1]
        printer = self.ctx.fleet.printer(name)
        now = time.time()
        if printer is None:
            return guard.Reading(False, UNREACHABLE, {}, float("inf"))
        try:
            async with self.ctx.client.request(
                "GET", printer, "/api/v1/printer", timeout=TIMEOUT
            ) as answer:
                body = await answer.json(content_type=None) if answer.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            body = None
        if not isinstance(body, dict):
            reading = guard.Reading(False, UNREACHABLE, {}, 0.0)
        else:
            state = body.get("state")
            live = PrinterLive(name, state if isinstance(state, str) else "unknown", True, body)
            reading = reading_of(live, now, now)
        device.fetched, device.fetched_at = reading, now
        return reading

    def reading(self, device: Device, now: float) -> guard.Reading:
        """The newest of the live state and the last fetched reading."""
        live = self.ctx.live.printers.get(device.key[1])
        from_live = reading_of(live, now)
        if device.fetched is not None and (live is None or device.fetched_at > live.updated):
            fetched = device.fetched
            return guard.Reading(
                fetched.online, fetched.state, fetched.heaters, now - device.fetched_at
            )
        return from_live

    async def check_off(self, device: Device) -> guard.Decision:
        """May a person switch ``device``'s printer off now? Fresh readings of both."""
        await self.refresh(device)
        reading = await self.fetch_reading(device)
        return guard.may_switch_off(reading, PowerView.of(device.current), self.ctx.fleet.power)

    def on_live(self, live: PrinterLive) -> None:
        device = self.devices.get(("printer", live.name))
        before = self.last_state.get(live.name)
        self.last_state[live.name] = live.state
        if device is None:
            return
        if live.state in BUSY:
            device.idle_since = None
            device.gave_up = False
        elif before in BUSY:
            device.idle_since = time.time()
            device.gave_up = False
        self.wake.set()

    async def _auto_off_round(self) -> None:
        settings = self.ctx.fleet.power
        for device in list(self.devices.values()):
            if device.key[0] != "printer":
                continue
            if not device.spec.auto_off:
                device.sentence = "automatic switch-off is disabled for this printer"
                continue
            now = time.time()
            view = PowerView.of(device.current)
            reading = self.reading(device, now)
            decision = guard.auto_off(reading, view, settings, device.idle_since, now)
            stale_only = (
                not decision.allow
                and device.idle_since is not None
                and reading.online
                and reading.age > guard.STALE_AFTER
                and now - device.fetched_at >= FETCH_EVERY
            )
            if stale_only:
                # Nothing changed lately: ask the print server instead of waiting on old news.
                reading = await self.fetch_reading(device)
                decision = guard.auto_off(reading, view, settings, device.idle_since, now)
            if decision.gave_up and not device.gave_up:
                device.gave_up = True
                audit.record(
                    self.ctx.db, HUB_USER, "power off gave up", device.key[1], decision.sentence
                )
                log.warning("%s: %s", device.key[1], decision.sentence)
            device.sentence = decision.sentence
            if decision.allow and now - device.failed_off_at >= RETRY_OFF:
                await self._switch_off(device, now)

    async def _switch_off(self, device: Device, now: float) -> None:
        name = device.key[1]
        # Ask both again, fresh, right before switching.
        await self.refresh(device)
        reading = await self.fetch_reading(device)
        decision = guard.auto_off(
            reading, PowerView.of(device.current), self.ctx.fleet.power, device.idle_since, now
        )
        device.sentence = decision.sentence
        if not decision.allow:
            return
        state = await self.switch(device, False)
        if state.on is False:
            device.sentence = "off: switched off after the job, idle and cooled"
            audit.record(self.ctx.db, HUB_USER, "power off", name, "automatic: idle and cooled")
        else:
            device.failed_off_at = now
            device.sentence = f"could not switch off: {state.reason}"
            log.warning("%s: could not switch off: %s", name, state.reason)

    async def _auto_off(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self.wake.wait()
            self.wake.clear()
            try:
                await self._auto_off_round()
            except Exception:
                log.exception("an auto-off round failed; trying again")

    def sentence(self, device: Device) -> str:
        """The guard's current word on ``device`` (for the API and the dashboard)."""
        if device.key[0] == "camera":
            return ""
        if not device.spec.auto_off:
            return "automatic switch-off is disabled for this printer"
        if not device.sentence:
            now = time.time()
            return guard.auto_off(
                self.reading(device, now),
                PowerView.of(device.current),
                self.ctx.fleet.power,
                device.idle_since,
                now,
            ).sentence
        return device.sentence

    # -- life --------------------------------------------------------------------------

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=TIMEOUT)
        self.sync()
        for live in self.ctx.live.printers.values():
            self.last_state[live.name] = live.state
        self.unsubscribe.append(self.ctx.live.subscribe(self.on_live))
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._poll(), name="power poll"))
        self.tasks.append(loop.create_task(self._auto_off(), name="power auto-off"))

    async def stop(self) -> None:
        for cancel in self.unsubscribe:
            cancel()
        for task in [*self.tasks, *self.pending]:
            task.cancel()
        for task in [*self.tasks, *self.pending]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for device in self.devices.values():
            await device.driver.close()
        self.devices.clear()
        if self.mqtt is not None:
            await self.mqtt.stop()
        if self.session is not None:
            await self.session.close()


POWER = web.AppKey("power", PowerService)


def setup(app: web.Application) -> None:
    service = app[POWER] = PowerService(app[CONTEXT])

    async def start(app: web.Application) -> None:
        await service.start()

    async def stop(app: web.Application) -> None:
        await service.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
