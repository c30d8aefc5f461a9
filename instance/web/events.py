"""The live stream: one WebSocket per browser with state, temperatures, progress and log lines.

Messages are JSON objects with a ``type``:

- ``state``: the whole printer state (as ``GET /api/v1/printer``), sent at
  once on connect and again whenever anything in it changes; while a job
  runs that is about once a second (elapsed time), otherwise on every
  temperature report and state change.
- ``log``: new terminal lines since the last ``log`` message, at most
  ``MAX_LOG_LINES`` a message (``skipped`` counts the rest); ``?log=0`` turns
  them off.
- ``file``: a file's analysis finished (``name``), so a page reloads it.
- ``act``: what became of an act the hub's gate let through (``id``, ``status``),
  only on the hub's own connection (``instance/web/acts.py``).

A browser page of another site (its ``Origin`` is not this host and port) is
refused with 403, as the hub's fleet stream refuses it: a WebSocket is not bound
by the same-origin rules, and the browser would send the user's cookie with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from instance.web import bodies
from instance.web.acts import ACTS, ActLog
from instance.web.auth import IDENTITY
from instance.web.context import ServerContext
from instance.web.errors import error_response
from instance.web.snapshot import printer_state

TICK = 0.25
MAX_LOG_LINES = 200


@dataclass(eq=False)
class _Client:
    log: bool
    socket: web.WebSocketResponse
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    files: list[str] = field(default_factory=list)
    # The hub's own connection: told the outcome of acts; how many it has been told.
    acts_seen: int | None = None


class EventStream:
    """Every connected browser; woken by the printer's change notifications."""

    def __init__(self, ctx: ServerContext, acts: ActLog) -> None:
        self._ctx = ctx
        self._acts = acts
        self._clients: set[_Client] = set()
        ctx.printer.subscribe(self._changed)
        acts.subscribe(self._changed)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _changed(self) -> None:
        for client in self._clients:
            client.wake.set()

    async def close_all(self, _app: web.Application | None = None) -> None:
        """Close every open stream, so a stopping server does not wait for its browsers."""
        for client in list(self._clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await client.socket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")

    def file_analysed(self, name: str) -> None:
        for client in self._clients:
            client.files.append(name)
            client.wake.set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=30.0)
        await socket.prepare(request)
        client = _Client(log=bodies.query_flag(request, "log", True), socket=socket)
        identity = request.get(IDENTITY)
        if identity is not None and identity.hub:
            # Every outcome still kept: the hub settles each act once.
            client.acts_seen = self._acts.count - len(self._acts.since(0))
        self._clients.add(client)
        sender = asyncio.create_task(self._send(socket, client), name="event stream")
        try:
            async for message in socket:
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            self._clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
        return socket

    async def _send(self, socket: web.WebSocketResponse, client: _Client) -> None:
        printer = self._ctx.printer
        last: dict[str, Any] | None = None
        seen = printer.terminal_count
        try:
            while not socket.closed:
                state = printer_state(self._ctx)
                if state != last:
                    await socket.send_str(json.dumps({"type": "state", **state}))
                    last = state
                while client.files:
                    await socket.send_str(json.dumps({"type": "file", "name": client.files.pop(0)}))
                if client.acts_seen is not None and client.acts_seen != self._acts.count:
                    for act in self._acts.since(client.acts_seen):
                        await socket.send_str(json.dumps(act))
                    client.acts_seen = self._acts.count
                count = printer.terminal_count
                if client.log and count != seen:
                    fresh = min(count - seen, len(printer.terminal), MAX_LOG_LINES)
                    lines = list(printer.terminal)[-fresh:] if fresh else []
                    await socket.send_str(
                        json.dumps(
                            {
                                "type": "log",
                                "lines": [[t, d, text] for t, d, text in lines],
                                "skipped": count - seen - fresh,
                            }
                        )
                    )
                seen = count
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.wake.wait(), TICK)
                client.wake.clear()
        except ConnectionError:
            return


EVENTS = web.AppKey("event stream", EventStream)
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit("//" + netloc)
        return parts.hostname, parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None, None


def same_origin(request: web.Request) -> bool:
    """No Origin (not a browser), or this host and port as the client reached it."""
    origin = request.headers.get("Origin")
    if not origin:
        return True
    try:
        parts = urlsplit(origin)
        theirs = (parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme))
    except ValueError:
        return False
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    mine = {_host_port(h, scheme) for h in (request.host, forwarded) if h}
    return theirs[0] is not None and theirs in mine


async def events(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise web.HTTPBadRequest(text="this is a WebSocket endpoint: connect with a WebSocket")
    if not same_origin(request):
        return error_response(403, "a page of another site may not open this printer's stream")
    return await request.app[EVENTS].handle(request)


def install(app: web.Application, ctx: ServerContext) -> EventStream:
    acts = ActLog()
    app[ACTS] = acts
    stream = EventStream(ctx, acts)
    app[EVENTS] = stream
    app.on_shutdown.append(stream.close_all)
    app.router.add_get("/api/v1/events", events)
    return stream


__all__ = ["EVENTS", "EventStream", "install"]
