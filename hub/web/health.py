"""``GET /api/health``: the compose health check (open, tells nothing private)."""

from __future__ import annotations

from aiohttp import web

from hub.context import context


async def health(request: web.Request) -> web.Response:
    ctx = context(request)
    fleet = ctx.fleet
    ctx.db.execute("SELECT 1").fetchone()
    return web.json_response(
        {"status": "ok", "printers": len(fleet.printers), "fleet_error": ctx.fleet_file.error}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/health", health)
