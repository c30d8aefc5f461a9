"""The fleet as the dashboard sees it: ``GET /api/fleet``, the live stream
``/api/fleet/events`` and ``POST /api/printers/{name}/bed-clear`` (in every idle state
whose bed is not confirmed clear: finished, failed, bed not cleared); the fleet
actions (``POST /api/fleet/actions``) are hub/fleet/actions.py.

The stream is one WebSocket per browser for the whole fleet: a ``snapshot``
first (the same as ``GET /api/fleet``), then a ``printer`` message with a
printer's whole entry each time it changes. Changes are coalesced by a token
bucket per printer: ``RATE`` messages a second at most, with a burst of
``BURST``, so a printer that changes now and then is passed on at once and a
busy one (a print reports several times a second) sends its newest state five
times a second. Each browser has its own sender with at most
one pending message per printer (the newest), so a slow browser only ever
skips intermediate states and never holds up the hub or other browsers. When
fleet.json changes, or the user's session ends or their rights change, the
stream sends a new snapshot (or closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import WSMsgType, web

from hub.auth.current import current_user
from hub.auth.identify import identify
from hub.auth.rights import User, may_act, may_view
from hub.context import CONTEXT, HubContext, context
from hub.errors import ApiError
from hub.fleet import actions as fleet_actions
from hub.fleet.live import PrinterLive
from hub.fleet.roster import Fleet, FleetPrinter
from hub.records import audit

log = logging.getLogger(__name__)

# Messages per printer per second at most, and how many may go out back to back.
RATE = 5.0
BURST = 2.0
# How often the stream looks at fleet.json and at the user's session.
FLEET_CHECK = 2.0
SESSION_CHECK = 10.0
# A browser that has not taken one message in this long is cut off.
SEND_TIMEOUT = 15.0
# Waiting for a print server to confirm a clear bed.
ACTION_TIMEOUT = aiohttp.ClientTimeout(total=8, sock_connect=3)


def job_summary(job: Any) -> dict[str, Any] | None:
    if not isinstance(job, dict):
        return None
    return {k: job.get(k) for k in ("file", "progress", "elapsed", "remaining")}


def last_job_summary(record: Any) -> dict[str, Any] | None:
    """The print server's ``last_job`` record, as much as a card shows of it."""
    if not isinstance(record, dict):
        return None
    keys = ("id", "file", "outcome", "reason", "duration", "ended_at")
    return {k: record.get(k) for k in keys}


def printer_entry(fleet: Fleet, printer: FleetPrinter, live: PrinterLive) -> dict[str, Any]:
    """One printer as ``GET /api/fleet`` lists it (without the user's ``may_act``)."""
    camera: dict[str, str] | None = None
    if printer.camera:
        known = fleet.camera(printer.camera)
        camera = {
            "name": printer.camera,
            "path": known.path if known else f"/cameras/{printer.camera}/",
        }
    bed = printer.profile.bed
    status = live.status
    return {
        "name": printer.name,
        "path": printer.path,
        "camera": camera,
        "groups": list(printer.groups),
        "tags": list(printer.tags),
        "profile": {
            "materials": list(printer.profile.materials),
            "nozzle": printer.profile.nozzle,
            "bed": None if bed is None else {"x": bed.x, "y": bed.y, "z": bed.z},
        },
        "state": live.state,
        "online": live.online,
        "status": {
            "connected": status.get("connected", False),
            "heaters": status.get("heaters") or {},
            "job": job_summary(status.get("job")),
            "last_job": last_job_summary(status.get("last_job")),
            "bed_clear": status.get("bed_clear"),
            "error": status.get("error"),
            "prompt": status.get("prompt"),
        },
        "updated": live.updated,
    }


def fleet_view(ctx: HubContext, user: User) -> dict[str, Any]:
    """``GET /api/fleet`` for ``user``: only the printers they may watch."""
    fleet = ctx.fleet
    printers = []
    groups: set[str] = set()
    tags: set[str] = set()
    for printer in fleet.printers:
        if not may_view(user, printer):
            continue
        entry = printer_entry(fleet, printer, ctx.live.get(printer.name))
        entry["may_act"] = may_act(user, printer)
        printers.append(entry)
        groups.update(printer.groups)
        tags.update(printer.tags)
    return {"printers": printers, "groups": sorted(groups), "tags": sorted(tags)}


async def get_fleet(request: web.Request) -> web.Response:
    return web.json_response(fleet_view(context(request), current_user(request)))


# --- the stream -----------------------------------------------------------------


@dataclass(eq=False)
class _Browser:
    user: User
    socket: web.WebSocketResponse
    transport: asyncio.Transport | None
    # Newest message per printer not yet sent, and a snapshot that replaces them all.
    pending: dict[str, str] = field(default_factory=dict)
    snapshot: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, name: str, message: str) -> None:
        self.pending.pop(name, None)
        self.pending[name] = message
        self.wake.set()

    def replace_all(self, snapshot: str) -> None:
        self.pending.clear()
        self.snapshot = snapshot
        self.wake.set()

    async def send_forever(self) -> None:
        while not self.socket.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.snapshot is not None or self.pending:
                if self.snapshot is not None:
                    message, self.snapshot = self.snapshot, None
                else:
                    name = next(iter(self.pending))
                    message = self.pending.pop(name)
                try:
                    async with asyncio.timeout(SEND_TIMEOUT):
                        await self.socket.send_str(message)
                except (TimeoutError, ConnectionError) as error:
                    log.info("fleet stream to %s cut off: %r", self.user.name, error)
                    if self.transport is not None:
                        self.transport.abort()
                    return


class FleetStream:
    """Every connected browser, fed from ``ctx.live``'s change notifications."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.browsers: set[_Browser] = set()
        self._dirty: set[str] = set()
        # Per printer: tokens left and when they were counted.
        self._tokens: dict[str, tuple[float, float]] = {}
        self._wake = asyncio.Event()
        self._unsubscribe = ctx.live.subscribe(self._changed)
        self._fleet: Fleet | None = None
        self._task: asyncio.Task[None] | None = None

    def _changed(self, live: PrinterLive) -> None:
        if self.browsers:
            self._dirty.add(live.name)
            self._wake.set()

    def _tokens_of(self, name: str, now: float) -> float:
        tokens, counted = self._tokens.get(name, (BURST, now))
        return min(BURST, tokens + (now - counted) * RATE)

    def snapshot_for(self, user: User) -> str:
        return json.dumps({"type": "snapshot", **fleet_view(self.ctx, user)})

    def _publish(self, fleet: Fleet, names: list[str]) -> None:
        for name in names:
            printer = fleet.printer(name)
            if printer is None:
                continue
            entry = printer_entry(fleet, printer, self.ctx.live.get(name))
            variants: dict[bool, str] = {}
            for browser in self.browsers:
                if not may_view(browser.user, printer):
                    continue
                acts = may_act(browser.user, printer)
                if acts not in variants:
                    variants[acts] = json.dumps(
                        {"type": "printer", "printer": {**entry, "may_act": acts}}
                    )
                browser.offer(name, variants[acts])

    async def _run(self) -> None:
        """Pass on each changed printer as its bucket allows; new snapshots on fleet changes."""
        self._fleet = self.ctx.fleet
        next_fleet_check = time.monotonic() + FLEET_CHECK
        while True:
            now = time.monotonic()
            if now >= next_fleet_check:
                next_fleet_check = now + FLEET_CHECK
                fleet = self.ctx.fleet
                if fleet is not self._fleet:
                    self._fleet = fleet
                    self._tokens = {n: t for n, t in self._tokens.items() if fleet.printer(n)}
                    for browser in self.browsers:
                        browser.replace_all(self.snapshot_for(browser.user))
            due = []
            wait = next_fleet_check - now
            for name in self._dirty:
                tokens = self._tokens_of(name, now)
                if tokens >= 1.0:
                    due.append(name)
                    self._tokens[name] = (tokens - 1.0, now)
                else:
                    wait = min(wait, (1.0 - tokens) / RATE)
            if due:
                self._dirty.difference_update(due)
                self._publish(self.ctx.fleet, due)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            self._wake.clear()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fleet stream")

    async def stop(self) -> None:
        self._unsubscribe()
        for browser in list(self.browsers):
            await browser.socket.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"shutdown")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


FLEET_STREAM = web.AppKey("fleet stream", FleetStream)


def same_origin(request: web.Request) -> bool:
    """A browser's WebSocket from another site (it carries our cookie) is refused."""
    origin = request.headers.get("Origin")
    if not origin:
        return True
    host = urlsplit(origin).hostname
    forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    mine = {urlsplit("//" + h).hostname for h in (request.host, forwarded) if h}
    return host is not None and host in mine


async def _watch_session(request: web.Request, browser: _Browser, stream: FleetStream) -> None:
    """Close the stream when the session ends; a new snapshot when the user's rights change."""
    ctx = context(request)
    while not browser.socket.closed:
        await asyncio.sleep(SESSION_CHECK)
        identified = identify(
            ctx.db, ctx.config, request.headers, request.cookies, request.query.get("apikey")
        )
        if identified is None:
            await browser.socket.close(code=4401, message=b"logged out")
            return
        if identified.user != browser.user:
            browser.user = identified.user
            browser.replace_all(stream.snapshot_for(browser.user))


async def fleet_events(request: web.Request) -> web.WebSocketResponse:
    user = current_user(request)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "this is a WebSocket endpoint: connect with a WebSocket")
    if not same_origin(request):
        raise ApiError(403, "a page of another site may not open the fleet's stream")
    stream = request.app[FLEET_STREAM]
    socket = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await socket.prepare(request)
    browser = _Browser(user, socket, request.transport)
    browser.replace_all(stream.snapshot_for(user))
    stream.browsers.add(browser)
    helpers = [
        asyncio.create_task(browser.send_forever(), name=f"fleet stream to {user.name}"),
        asyncio.create_task(_watch_session(request, browser, stream), name="fleet stream session"),
    ]
    try:
        async for message in socket:
            if message.type is WSMsgType.ERROR:
                break
            # Browsers have nothing to say on this stream.
    finally:
        stream.browsers.discard(browser)
        for task in helpers:
            task.cancel()
        for task in helpers:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
                await task
        if not socket.closed:
            await socket.close()
    return socket


# --- actions ----------------------------------------------------------------------


async def confirm_bed_clear(request: web.Request) -> web.Response:
    """Confirm on the print server, in the user's name, that its bed is clear."""
    user = current_user(request)
    ctx = context(request)
    name = request.match_info["name"]
    printer = ctx.fleet.printer(name)
    if printer is None or not may_view(user, printer):
        raise ApiError(404, f"no printer '{name[:100]}' in the fleet")
    if not may_act(user, printer):
        raise ApiError(403, f"{user.name} ({user.role}) may watch {name} but not act on it")
    try:
        async with ctx.client.request(
            "POST", printer, "/api/v1/bed/clear", user=user.name, timeout=ACTION_TIMEOUT
        ) as answer:
            try:
                body: Any = await answer.json(content_type=None)
            except ValueError:
                body = {}
            status = answer.status
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        reason = "no answer in time" if isinstance(error, TimeoutError) else str(error)
        raise ApiError(502, f"{name}'s print server did not answer: {reason}") from None
    message = body.get("error") if isinstance(body, dict) else None
    if status == 409:
        raise ApiError(409, f"{name}: {message or 'the printer cannot do that now'}")
    if status >= 400:
        raise ApiError(502, f"{name}'s print server refused ({status}): {message or 'no reason'}")
    audit.record(ctx.db, user.name, "bed clear", name)
    return web.json_response(
        {"printer": name, "state": body.get("state") if isinstance(body, dict) else None}
    )


def setup(app: web.Application) -> None:
    stream = app[FLEET_STREAM] = FleetStream(app[CONTEXT])

    async def start(app: web.Application) -> None:
        stream.start()

    async def stop(app: web.Application) -> None:
        await stream.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    app.router.add_get("/api/fleet", get_fleet)
    app.router.add_get("/api/fleet/events", fleet_events)
    app.router.add_post("/api/printers/{name}/bed-clear", confirm_bed_clear)
    fleet_actions.setup(app)
