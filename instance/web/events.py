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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from instance.web import bodies
from instance.web.context import ServerContext
from instance.web.snapshot import printer_state

TICK = 0.25
MAX_LOG_LINES = 200


@dataclass(eq=False)
class _Client:
    log: bool
    socket: web.WebSocketResponse
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    files: list[str] = field(default_factory=list)


class EventStream:
    """Every connected browser; woken by the printer's change notifications."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._clients: set[_Client] = set()
        ctx.printer.subscribe(self._changed)

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


async def events(request: web.Request) -> web.WebSocketResponse:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise web.HTTPBadRequest(text="this is a WebSocket endpoint: connect with a WebSocket")
    return await request.app[EVENTS].handle(request)


def install(app: web.Application, ctx: ServerContext) -> EventStream:
    stream = EventStream(ctx)
    app[EVENTS] = stream
    app.on_shutdown.append(stream.close_all)
    app.router.add_get("/api/v1/events", events)
    return stream


__all__ = ["EVENTS", "EventStream", "install"]
