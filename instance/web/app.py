"""The web application: middlewares, every route, the health check and a placeholder index."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from instance.web import (
    acts,
    appkeys_api,
    counters_api,
    events,
    files_api,
    history_api,
    links,
    me_api,
    metrics,
    octoprint_api,
    openapi,
    printer_api,
    toolpath_api,
)
from instance.web.context import CONTEXT, ServerContext, context
from instance.web.errors import error_response, json_errors


async def health(request: web.Request) -> web.Response:
    ctx = context(request)
    if ctx.printer_stopped:
        return error_response(503, "the printer service has stopped")
    return web.json_response(
        {
            "status": "ok",
            "printer": ctx.config.printer,
            "state": ctx.printer.state.value,
            "connected": ctx.printer.link.ready,
        }
    )


PAGE = Path(__file__).parent / "page"


async def index(request: web.Request) -> web.FileResponse:
    """The printer's page; it finds everything else by URLs relative to itself."""
    return web.FileResponse(PAGE / "index.html", headers={"Cache-Control": "no-cache"})


async def api_root(request: web.Request) -> web.Response:
    ctx = context(request)
    raise web.HTTPFound(links.path(request, ctx.config.base_path, "/api/v1/openapi.json"))


def build_app(ctx: ServerContext) -> web.Application:
    # Outermost, acts.report_acts sees every answer's status, refusals included.
    app = web.Application(middlewares=[acts.report_acts, json_errors, ctx.access.__call__])
    app[CONTEXT] = ctx
    stream = events.install(app, ctx)
    ctx.analyser.on_done = stream.file_analysed
    app.router.add_get("/api/health", health)
    app.router.add_get("/", index)
    app.router.add_static("/page/", PAGE, append_version=False)
    app.router.add_get("/api/v1", api_root)
    app.router.add_get("/api/v1/", api_root)
    for module in (
        printer_api,
        me_api,
        files_api,
        toolpath_api,
        history_api,
        counters_api,
        octoprint_api,
        appkeys_api,
        metrics,
        openapi,
    ):
        module.add_routes(app)
    return app
