"""A light stand-in fleet: one aiohttp process answering as N printing print servers.

Each printer lives under ``/p/<name>/`` (the hub takes an upstream with a path):
``api/health``, ``api/v1/printer`` and the events WebSocket ``api/v1/events``
that the hub's watcher follows (hub/fleet/watch.py). Every printer sends a
``state`` event a second, as a real print server does while printing (each
temperature report is one): the whole ``GET /api/v1/printer`` with the hotend
wobbling around its target and the job moving on. No simulator, no serial link:
100 of these cost a fraction of one real print server.

    python -m bench.fake_fleet --printers 100   # prints "listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

EVERY = 1.0  # s between a printer's state events
FILE_LINES = 40_000


def state(name: str, index: int, now: float) -> dict[str, Any]:
    """What ``GET /api/v1/printer`` says of a printer ``now`` seconds into the bench."""
    elapsed = int(now) + index * 37
    progress = (elapsed % 3600) / 3600
    wobble = ((int(now * 10) + index) % 7 - 3) / 10
    return {
        "name": name,
        "state": "printing",
        "connected": True,
        "error": None,
        "notice": None,
        "bed_clear": False,
        "firmware": {"name": "Marlin 2.1.2.1 (stand-in)"},
        "heaters": {
            "B": {"actual": 60.0 + wobble / 2, "target": 60.0},
            "T0": {"actual": 215.0 + wobble, "target": 215.0},
        },
        "job": {
            "id": 1,
            "file": f"part-{index % 12}.gcode",
            "progress": round(progress, 4),
            "bytes_done": int(progress * 2_000_000),
            "bytes_total": 2_000_000,
            "layer": int(progress * 120) + 1,
            "layer_count": 120,
            "z": round(0.2 + progress * 24, 2),
            "lines_done": int(progress * FILE_LINES),
            "lines_total": FILE_LINES,
            "elapsed": elapsed % 3600,
            "remaining": 3600 - elapsed % 3600,
            "warnings": [],
        },
        "prompt": None,
        "last_job": None,
        "selected_file": f"part-{index % 12}.gcode",
        "camera_url": None,
    }


def make_app(names: list[str]) -> web.Application:
    index_of = {name: index for index, name in enumerate(names)}

    def printer_of(request: web.Request) -> tuple[str, int]:
        name = request.match_info["name"]
        if name not in index_of:
            raise web.HTTPNotFound()
        return name, index_of[name]

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def printer(request: web.Request) -> web.Response:
        name, index = printer_of(request)
        return web.json_response(state(name, index, time.time()))

    async def events(request: web.Request) -> web.WebSocketResponse:
        name, index = printer_of(request)
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        # Spread the printers over the second, as independent print servers are.
        await asyncio.sleep(EVERY * index / len(names))
        with contextlib.suppress(ConnectionError):
            while not socket.closed:
                message = {"type": "state", **state(name, index, time.time())}
                await socket.send_str(json.dumps(message))
                await asyncio.sleep(EVERY)
        return socket

    app = web.Application()
    app.router.add_get("/p/{name}/api/health", health)
    app.router.add_get("/p/{name}/api/v1/printer", printer)
    app.router.add_get("/p/{name}/api/v1/events", events)
    return app


async def serve(count: int) -> None:
    names = [f"bench-{i}" for i in range(1, count + 1)]
    runner = web.AppRunner(make_app(names), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


def start(spawn: Callable[[list[str], Path], subprocess.Popen[str]], count: int, log: Path) -> str:
    """Run the stand-in fleet with ``spawn`` (bench/hub_dashboard.py's ``Fleet.spawn``): the
    base URL its printers are under (``<base>/p/<name>``)."""
    process = spawn([sys.executable, "-m", "bench.fake_fleet", "--printers", str(count)], log)
    assert process.stdout is not None
    return process.stdout.readline().rsplit(" on ", 1)[1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=100)
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(arguments.printers))


if __name__ == "__main__":
    main()
