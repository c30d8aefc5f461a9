"""The dashboard's WebSocket (``/api/fleet/events``) through the proxy, as a browser holds it:
how long each job's end takes from the print server (its record's ``ended_at``) to the screen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.soak.checks import STOPPED_UNEXPECTEDLY

RECONNECT = 1.0


@dataclass
class Watcher:
    base: str
    cookie: str
    # (printer, job id, seconds from the print server's end of the job to the message here,
    # when it came)
    latencies: list[tuple[str, int, float, float]] = field(default_factory=list)
    messages: int = 0
    reconnects: int = 0
    _last: dict[str, int | None] = field(default_factory=dict)
    # The newest job id each printer has shown: a restarted print server shows its last job
    # again (after none while it was away), which is no new end.
    _newest: dict[str, int] = field(default_factory=dict)

    def _seen(self, printer: dict[str, Any], arrived: float, live: bool) -> None:
        name = str(printer["name"])
        last = (printer.get("status") or {}).get("last_job") or {}
        job, ended = last.get("id"), last.get("ended_at")
        known, before = name in self._last, self._last.get(name)
        self._last[name] = None if job is None else int(job)
        # A snapshot (the first message, or one after a reconnect) shows old ends: not counted;
        # nor a job a crash left open, whose end is its last sign of life, not an event.
        recovered = last.get("reason") == STOPPED_UNEXPECTEDLY
        newest = self._newest.get(name)
        if job is not None:
            self._newest[name] = max(int(job), newest if newest is not None else int(job))
        fresh = job is not None and (newest is None or int(job) > newest)
        new = live and known and before != job and fresh
        if job is not None and new and ended is not None and not recovered:
            self.latencies.append((name, int(job), arrived - float(ended), arrived))

    async def run(self, stop: asyncio.Event) -> None:
        url = self.base.replace("http://", "ws://", 1) + "/api/fleet/events"
        headers = {"Cookie": self.cookie, "Origin": self.base}
        while not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
                async with (
                    aiohttp.ClientSession(headers=headers) as http,
                    http.ws_connect(url, heartbeat=10) as socket,
                ):
                    while not stop.is_set():
                        try:
                            frame = await socket.receive(timeout=1.0)
                        except TimeoutError:
                            continue
                        if frame.type != aiohttp.WSMsgType.TEXT:
                            break
                        arrived = time.time()
                        message = json.loads(frame.data)
                        self.messages += 1
                        if message.get("type") == "snapshot":
                            for printer in message.get("printers", []):
                                self._seen(printer, arrived, live=False)
                        elif message.get("type") == "printer":
                            self._seen(message["printer"], arrived, live=True)
            if not stop.is_set():
                self.reconnects += 1
                await asyncio.sleep(RECONNECT)
