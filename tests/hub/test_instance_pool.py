"""The hub's calls to print servers in a fleet of more than 100 printers.

The hub holds one event stream open to every print server. With aiohttp's default pool of
100 connections, a fleet of 100 printers used it all up, and every call after that (a bed
confirmed, a job sent, a history page) waited for a free connection until it timed out.
Here 110 print servers are reached at 110 loopback addresses of one real server.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from hub.fleet.instances import InstanceClient
from hub.fleet.roster import FleetPrinter
from tests.hub.conftest import unused_port

PRINTERS = 110


async def _serve(port: int) -> web.AppRunner:
    async def events(request: web.Request) -> web.WebSocketResponse:
        stream = web.WebSocketResponse()
        await stream.prepare(request)
        async for _ in stream:
            pass
        return stream

    async def bed_clear(request: web.Request) -> web.Response:
        return web.json_response({"state": "idle", "host": request.host})

    app = web.Application()
    app.router.add_get("/api/v1/events", events)
    app.router.add_post("/api/v1/bed/clear", bed_clear)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


def _printer(index: int, port: int) -> FleetPrinter:
    name = f"p{index:03d}"
    return FleetPrinter(name, f"/printers/{name}/", f"http://127.0.0.{index + 2}:{port}")


async def _streams_then_a_call() -> tuple[int, int, list[str]]:
    port = unused_port()
    runner = await _serve(port)
    client = InstanceClient(b"k" * 32)
    printers = [_printer(i, port) for i in range(PRINTERS)]
    streams = []
    try:
        for printer in printers:
            streams.append(await client.websocket(printer, "/api/v1/events"))
        answers = []
        for printer in (printers[0], printers[-1]):
            async with client.request(
                "POST", printer, "/api/v1/bed/clear", user="alice", timeout=5
            ) as answer:
                answers.append(f"{answer.status} {(await answer.json())['host']}")
        return len(streams), sum(not s.closed for s in streams), answers
    finally:
        for stream in streams:
            await stream.close()
        await client.close()
        await runner.cleanup()


def test_every_printer_of_a_fleet_over_100_can_still_be_called() -> None:
    opened, still_open, answers = asyncio.run(asyncio.wait_for(_streams_then_a_call(), timeout=60))
    assert opened == still_open == PRINTERS
    assert answers[0].startswith("200 127.0.0.2:"), answers
    assert answers[1].startswith(f"200 127.0.0.{PRINTERS + 1}:"), answers
