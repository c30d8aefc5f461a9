"""``GET /api/health``: the compose health check (open, tells nothing private), and whether
the hub publishes to MQTT (docs/mqtt.md)."""

from __future__ import annotations

from aiohttp import web

from hub.context import context
from hub.mqtt.publisher import MQTT_PUBLISHER


async def health(request: web.Request) -> web.Response:
    ctx = context(request)
    fleet = ctx.fleet
    ctx.db.execute("SELECT 1").fetchone()
    publisher = request.app.get(MQTT_PUBLISHER)
    # Publishing to MQTT: off, connecting, connected or unreachable (why: in the hub's log).
    mqtt = "off" if publisher is None else publisher.status
    return web.json_response(
        {
            "status": "ok",
            "printers": len(fleet.printers),
            "fleet_error": ctx.fleet_file.error,
            "mqtt": mqtt,
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/health", health)
