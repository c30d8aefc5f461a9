"""Running the print server: the Printer service and the web server in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from instance.after_job import AfterJobPolicy
from instance.files.analyses import Analyser
from instance.files.store import MB, FileStore
from instance.link import LinkSettings
from instance.printer import Printer, PrinterSettings
from instance.timelapse.service import Timelapses
from instance.web.app import build_app
from instance.web.auth import access_check
from instance.web.config import UNIX_PREFIX, ServeConfig
from instance.web.context import ServerContext
from instance.web.hub_check import HubCheck
from instance.web.toolpath_api import running_layers

log = logging.getLogger(__name__)

# ``serve``'s exit status when the printer's device was gone for ``device_gone_timeout``
# (EX_TEMPFAIL): the orchestrator starts the print server again, which opens the
# device link anew (docs/web-api.md#when-the-device-is-gone).
EXIT_DEVICE_GONE = 75


@dataclass
class RunningServer:
    """A started server: where it listens, and what it serves."""

    ctx: ServerContext
    runner: web.AppRunner
    url: str

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.ctx.analyser.stop()
        self.ctx.printer_stopped = True
        await self.ctx.printer.stop()
        if self.ctx.timelapse is not None:
            await self.ctx.timelapse.stop()


def printer_settings(config: ServeConfig) -> PrinterSettings:
    link = LinkSettings(
        port=config.port,
        baudrate=config.baudrate,
        command_slots=config.command_buffer,
        rx_buffer=config.rx_buffer,
        response_timeout=config.response_timeout,
        window=config.window,
    )
    after_job = AfterJobPolicy(heaters=config.after_job_heaters, fans=config.after_job_fans)
    return PrinterSettings(
        link=link,
        data_dir=config.data_dir,
        after_job=after_job,
        device_gone_timeout=config.device_gone_timeout,
    )


def hub_check_of(config: ServeConfig) -> HubCheck | None:
    """The hub's dispatch check when this print server has a hub URL and its gate key."""
    if config.hub_url is None or config.gate_key is None:
        return None
    return HubCheck(config.hub_url, config.printer, config.gate_key)


async def open_server(config: ServeConfig) -> RunningServer:
    """Start the printer service and the web server; raises if the data dir is in use."""
    printer = Printer(printer_settings(config))
    try:
        store = FileStore(
            config.data_dir / "files",
            max_bytes=config.max_upload_mb * MB,
            reserve_bytes=config.disk_reserve_mb * MB,
        )
        ctx = ServerContext(
            config=config,
            printer=printer,
            store=store,
            analyser=Analyser(store),
            access=access_check(config.api_key, config.api_user, config.gate_key, config.printer),
            hub_check=hub_check_of(config),
        )
        app = build_app(ctx)
        settings = config.timelapse_settings()
        if settings is not None:
            ctx.timelapse = Timelapses(printer, settings, lambda: running_layers(ctx))
        await printer.start()
        ctx.analyser.start()
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        socket_path = config.listen_host.removeprefix(UNIX_PREFIX)
        site: web.BaseSite
        if socket_path != config.listen_host:
            # Only who may enter its directory reaches it (the demo's proxy).
            site = web.UnixSite(runner, socket_path)
        else:
            site = web.TCPSite(runner, config.listen_host, config.listen_port)
        await site.start()
    except BaseException:
        await printer.stop()
        raise
    if socket_path != config.listen_host:
        # nginx's own way of naming an upstream on a Unix socket.
        return RunningServer(ctx, runner, f"http://unix:{socket_path}:")
    host, port = runner.addresses[0][:2]
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(ctx, runner, f"http://{shown}:{port}")


def release_startup_memory() -> None:
    """Hand the heap that start-up (imports, parsing) left free back to the system (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def serve(config: ServeConfig) -> int:
    """Serve until SIGINT or SIGTERM (0), or until the device is gone too long (75)."""
    server = await open_server(config)
    release_startup_memory()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"fabfleet-instance: serving {config.printer} on {server.url}/", flush=True)
    printer = server.ctx.printer
    waits = {
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(printer.device_gone.wait()),
    }
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        with contextlib.suppress(Exception):
            await server.close()
    if stop.is_set() or not printer.device_gone.is_set():
        return 0
    # Last, after the port's own last words.
    log.error(
        "%s: %s; exiting with status %d so the print server is started again"
        " (Docker's restart policy, a Kubernetes Deployment) and opens %s anew",
        config.printer,
        printer.gave_up_because,
        EXIT_DEVICE_GONE,
        config.port,
    )
    return EXIT_DEVICE_GONE
