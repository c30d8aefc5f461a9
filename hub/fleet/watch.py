"""Keeps ``ctx.live`` current: one watcher per print server on its events WebSocket.

Each printer of the fleet gets its own task. It connects to the print server's
``/api/v1/events`` (without log lines), turns every ``state`` event (the whole
``GET /api/v1/printer``) into a fresh :class:`~hub.fleet.live.PrinterLive` and hands it
to ``ctx.live.update``. An ``act`` event (sent only to the hub's own connection)
says what the print server did with an act the gate let through; it settles that
act's audit entry, for this printer only (hub/records/audit.py). A print server that is
down, slow or hung only delays its own watcher: the connection must be up
within ``CONNECT_TIMEOUT``, a ping unanswered for ``HEARTBEAT / 2`` after
``HEARTBEAT`` seconds of silence closes it, and the printer is marked
unreachable the moment its connection drops. Reconnects back off from
``RETRY_FIRST`` up to ``RETRY_MAX`` seconds.

A second task follows fleet.json every ``FLEET_CHECK`` seconds: new printers
get a watcher, removed ones lose theirs and are forgotten, a printer whose
``upstream`` changed is watched at its new address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import CONTEXT, HubContext
from hub.fleet.live import UNREACHABLE, PrinterLive
from hub.records import audit

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events?log=0"
# Seconds for TCP connect plus the WebSocket handshake.
CONNECT_TIMEOUT = 3.0
# Seconds of silence before a ping; no pong within half of it closes the connection.
HEARTBEAT = 4.0
RETRY_FIRST = 0.25
RETRY_MAX = 5.0
FLEET_CHECK = 2.0


@dataclass(slots=True)
class _Watcher:
    upstream: str
    task: asyncio.Task[None]


def mark_unreachable(ctx: HubContext, name: str) -> None:
    """Tell everyone at once that ``name``'s print server no longer answers."""
    current = ctx.live.printers.get(name)
    if current is not None and not current.online and current.state == UNREACHABLE:
        return
    ctx.live.update(PrinterLive(name))


def settle_act(ctx: HubContext, name: str, message: dict[str, Any]) -> None:
    """``{"type": "act", "id": …, "status": …}``: what ``name`` did with one act."""
    act, status = message.get("id"), message.get("status")
    if isinstance(act, str) and isinstance(status, int) and not isinstance(status, bool):
        audit.settle(ctx.db, name, act, status)


def apply_event(ctx: HubContext, name: str, raw: str) -> None:
    """One text message of the events stream: ``state`` and ``act`` events matter here."""
    try:
        message: Any = json.loads(raw)
    except ValueError:
        log.warning("%s: the events stream sent something that is not JSON", name)
        return
    if isinstance(message, dict) and message.get("type") == "act":
        settle_act(ctx, name, message)
        return
    if not isinstance(message, dict) or message.get("type") != "state":
        return
    status = {k: v for k, v in message.items() if k != "type"}
    state = status.get("state")
    ctx.live.update(
        PrinterLive(
            name, state=state if isinstance(state, str) else "unknown", online=True, status=status
        )
    )


async def watch(ctx: HubContext, name: str) -> None:
    """Follow one print server until cancelled (or until it leaves the fleet)."""
    delay = RETRY_FIRST
    said: str | None = None
    while True:
        printer = ctx.fleet.printer(name)
        if printer is None:
            return
        problem = "the connection closed"
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                socket = await ctx.client.websocket(printer, EVENTS_PATH, heartbeat=HEARTBEAT)
            async with socket:
                if said is not None:
                    log.info("%s: the print server answers again", name)
                    said = None
                delay = RETRY_FIRST
                async for message in socket:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        apply_event(ctx, name, message.data)
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        problem = f"the connection failed: {socket.exception()!r}"
                        break
        except TimeoutError:
            problem = f"no answer within {CONNECT_TIMEOUT:g} s"
        except aiohttp.WSServerHandshakeError as error:
            problem = f"refused the events stream ({error.status})"
        except (aiohttp.ClientError, OSError) as error:
            problem = str(error) or type(error).__name__
        mark_unreachable(ctx, name)
        if problem != said:
            log.warning("%s: print server unreachable at %s: %s", name, printer.upstream, problem)
            said = problem
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX)


class FleetWatch:
    """The watcher tasks, one per printer of the current fleet."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.watchers: dict[str, _Watcher] = {}
        self._follower: asyncio.Task[None] | None = None

    def sync(self) -> None:
        """Start, stop and restart watchers so they match fleet.json."""
        wanted = {p.name: p for p in self.ctx.fleet.printers}
        for name in list(self.watchers):
            printer = wanted.get(name)
            if printer is None or printer.upstream != self.watchers[name].upstream:
                self.watchers.pop(name).task.cancel()
                if printer is None:
                    self.ctx.live.forget(name)
        for name, printer in wanted.items():
            if name not in self.watchers:
                mark_unreachable(self.ctx, name)
                task = asyncio.create_task(watch(self.ctx, name), name=f"watch {name}")
                self.watchers[name] = _Watcher(printer.upstream, task)

    async def _follow(self) -> None:
        while True:
            try:
                self.sync()
            except Exception:
                log.exception("following the fleet failed; trying again")
            await asyncio.sleep(FLEET_CHECK)

    def start(self) -> None:
        self.sync()
        self._follower = asyncio.create_task(self._follow(), name="follow fleet.json")

    async def stop(self) -> None:
        tasks = [w.task for w in self.watchers.values()]
        if self._follower is not None:
            tasks.append(self._follower)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.watchers.clear()


FLEET_WATCH = web.AppKey("fleet watch", FleetWatch)


def setup(app: web.Application) -> None:
    watchers = app[FLEET_WATCH] = FleetWatch(app[CONTEXT])

    async def start(app: web.Application) -> None:
        watchers.start()

    async def stop(app: web.Application) -> None:
        await watchers.stop()

    app.on_startup.append(start)
    # Before the lead's close_client (also on_cleanup) would pull the session away.
    app.on_cleanup.insert(0, stop)
