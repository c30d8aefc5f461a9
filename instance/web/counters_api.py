"""``GET /api/v1/counters``: the printer's lifetime counters (docs/maintenance.md)."""

from __future__ import annotations

from aiohttp import web

from instance.web.context import context


async def get_counters(request: web.Request) -> web.Response:
    ctx = context(request)
    printer = ctx.printer
    body = printer.counters().to_json()
    body["printer"] = ctx.config.printer
    # Why the counters restarted from zero at this start, if they did.
    body["problem"] = printer.odometer_file.problem
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/counters", get_counters)
