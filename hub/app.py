"""The hub's web application: each feature module adds its tables, routes and tasks.

A feature module may define ``SCHEMA`` (SQL run at start) and ``setup(app)``
(routes, startup/cleanup hooks). They are listed once, here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from aiohttp import web

from hub.auth.gate import gate_listener_only
from hub.context import CONTEXT, HubContext
from hub.web.refusals import json_errors

# In this order: authentication first (it sets who the request is), pages last.
FEATURES: tuple[str, ...] = (
    "hub.auth.sessions",
    "hub.auth.accounts",
    "hub.auth.api_keys",
    "hub.auth.app_keys",
    "hub.records.audit",
    "hub.auth.gate",
    "hub.auth.users_api",
    "hub.web.health",
    "hub.fleet.watch",
    "hub.fleet.api",
    "hub.records.history",
    "hub.records.history_api",
    "hub.notify.service",
    "hub.queue.api",
    "hub.dispatch.api",
    "hub.spools.api",
    "hub.maintenance.api",
    "hub.power.service",
    "hub.power.api",
    "hub.mqtt.publisher",
    "hub.web.openapi",
    "hub.web.pages",
)


def features() -> list[ModuleType]:
    return [importlib.import_module(name) for name in FEATURES]


def schemas() -> list[str]:
    return [m.SCHEMA for m in features() if isinstance(getattr(m, "SCHEMA", None), str)]


def middlewares() -> list[object]:
    """Every feature's ``MIDDLEWARES`` in feature order, after the JSON error handler and
    the gate-only listener's filter (hub/auth/gate.py)."""
    found: list[object] = [json_errors, gate_listener_only]
    for module in features():
        found.extend(getattr(module, "MIDDLEWARES", ()))
    return found


def build_app(ctx: HubContext) -> web.Application:
    app = web.Application(middlewares=middlewares(), client_max_size=2 * 1024**3)  # type: ignore[arg-type]
    app[CONTEXT] = ctx

    async def close_client(app: web.Application) -> None:
        await ctx.client.close()

    app.on_cleanup.append(close_client)
    for module in features():
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)
    return app
