"""Running the hub: open the database, read the fleet and the key, serve."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from hub.app import build_app, schemas
from hub.auth.gate import CHECK_PATH, GATE_LISTENER
from hub.auth.signing import read_master_key
from hub.config import HubConfig
from hub.context import HubContext
from hub.db import open_database
from hub.fleet.instances import InstanceClient
from hub.fleet.live import FleetLive
from hub.fleet.roster import FleetFile

log = logging.getLogger(__name__)


@dataclass
class RunningHub:
    ctx: HubContext
    runner: web.AppRunner
    url: str
    # The gate-only listener's address, when there is one.
    gate_url: str | None = None

    async def close(self) -> None:
        await self.runner.cleanup()
        self.ctx.db.close()


def make_context(config: HubConfig) -> HubContext:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    master = read_master_key(config.gate_key_file)
    return HubContext(
        config=config,
        db=open_database(config.database, schemas()),
        fleet_file=FleetFile(config.fleet_file),
        master_key=master,
        live=FleetLive(),
        client=InstanceClient(master),
    )


def _shown(site: web.TCPSite) -> tuple[str, int]:
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()  # type: ignore[attr-defined]
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return shown, int(bound[1])


async def open_hub(config: HubConfig) -> RunningHub:
    ctx = make_context(config)
    app = build_app(ctx)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    gate = config.gate_host_port
    if gate is not None:
        # The gate alone, for a proxy that cannot send the proxy key (hub/auth/gate.py).
        gate_site = web.TCPSite(runner, *gate)
        await gate_site.start()
        gate_host, gate_port = _shown(gate_site)
        app[GATE_LISTENER].ports.add(gate_port)
        gate_url = f"http://{gate_host}:{gate_port}{CHECK_PATH}"
    else:
        gate_url = None
    socket_path = config.unix_socket
    if socket_path is not None:
        await web.UnixSite(runner, socket_path).start()
        # nginx's way of naming an upstream on a Unix socket.
        return RunningHub(ctx, runner, f"http://unix:{socket_path}:/", gate_url)
    host, port = config.host_port
    site = web.TCPSite(runner, host, port)
    await site.start()
    shown, bound = _shown(site)
    return RunningHub(ctx, runner, f"http://{shown}:{bound}/", gate_url)


async def serve(config: HubConfig) -> None:
    hub = await open_hub(config)
    print(f"fabfleet hub on {hub.url}", flush=True)
    if hub.gate_url is not None:
        print(f"fabfleet hub's gate alone on {hub.gate_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await hub.close()
