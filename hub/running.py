"""What the hub's background services share: a loop that repeats a piece of work, a clean
stop of their tasks, and their place in the app's start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


async def every(
    seconds: float,
    work: Callable[[], Awaitable[Any]],
    what: str,
    wake: asyncio.Event | None = None,
) -> None:
    """Do ``work`` now and then every ``seconds`` (sooner when ``wake`` is set); a failure
    is logged and the work tried again next time, never ending the loop."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("%s failed; trying again", what)
        if wake is None:
            await asyncio.sleep(seconds)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()


async def cancel_all(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel ``tasks`` and wait until each has ended."""
    found = [task for task in tasks if task is not None]
    for task in found:
        task.cancel()
    for task in found:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run_with_app(
    app: web.Application, start: Callable[[], None], stop: Callable[[], Awaitable[None]]
) -> None:
    """Start a service with the app, and stop it before the shared client session closes."""

    async def started(app: web.Application) -> None:
        start()

    async def stopped(app: web.Application) -> None:
        await stop()

    app.on_startup.append(started)
    app.on_cleanup.insert(0, stopped)
