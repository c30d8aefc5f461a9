"""Spools over HTTP (docs/spools.md, docs/hub.md): Spoolman's spools for a picker, the spools
loaded in each printer, loading one (``spool assign``, audited) and the use reports.

A feature module (hub/app.py): its tables are hub/spools/store.py's, its service
``app[SPOOLS]`` (hub/spools/service.py). Without ``site: spoolman:`` in the fleet file
every GET answers ``"enabled": false`` and a change is refused with 409.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth.current import current_user
from hub.auth.rights import User, may_act, may_view
from hub.bodies import read_object
from hub.context import CONTEXT, context
from hub.errors import ApiError
from hub.fleet.roster import FleetPrinter
from hub.records import audit
from hub.running import run_with_app
from hub.spools import store
from hub.spools.model import SpoolmanError
from hub.spools.service import SPOOLS, SpoolService

SCHEMA = store.SCHEMA

NOT_CONFIGURED = "no Spoolman is configured: add site: spoolman: url: to the fleet file"
# Reports listed at most.
MAX_REPORTS = 500


def _service(request: web.Request) -> SpoolService:
    return request.app[SPOOLS]


def _site(service: SpoolService) -> dict[str, Any]:
    site = service.site
    return {
        "enabled": site is not None,
        "spoolman": site.url if site else None,
        "low_grams": site.low_grams if site else None,
        "down": service.down,
    }


def _refusal(error: SpoolmanError) -> ApiError:
    if error.kind == "missing":
        return ApiError(404, str(error))
    if error.kind == "off":
        return ApiError(409, NOT_CONFIGURED)
    return ApiError(502, str(error))


def _printer(request: web.Request, user: User) -> FleetPrinter:
    name = request.match_info["name"]
    printer = context(request).fleet.printer(name)
    if printer is None or not may_view(user, printer):
        raise ApiError(404, f"no printer '{name[:100]}' in the fleet")
    return printer


def _problems(service: SpoolService, printer: str) -> list[str]:
    """Why uses of this printer's jobs since its spool was loaded were not reported."""
    since = min(
        (a.assigned_at for a in store.assignments(service.ctx.db, printer) if a.tool == 0),
        default=None,
    )
    found = []
    for report in store.reports(service.ctx.db, [printer], limit=20):
        if report.state in ("gone", "failed") and (since is None or report.created_at >= since):
            grams = f"{report.grams:.1f} g" if report.grams is not None else "its filament"
            found.append(f"{report.file}: {grams} not reported: {report.last_error}")
    return found


def _printer_view(service: SpoolService, printer: str) -> dict[str, Any]:
    return {
        "printer": printer,
        "spools": [s.as_json() for s in service.loaded_in(printer)],
        "problems": _problems(service, printer) if service.enabled else [],
    }


async def list_spools(request: web.Request) -> web.Response:
    """Spoolman's spools (not archived), for a picker; any logged-in user."""
    current_user(request)
    service = _service(request)
    if not service.enabled:
        return web.json_response({**_site(service), "spools": []})
    try:
        spools = await service.spools()
    except SpoolmanError as error:
        raise _refusal(error) from None
    return web.json_response(
        {
            **_site(service),
            "spools": [
                {
                    "id": s.id,
                    "name": s.name,
                    "material": s.material,
                    "remaining_g": s.remaining_weight,
                    "location": s.location,
                }
                for s in spools
            ],
        }
    )


async def loaded_everywhere(request: web.Request) -> web.Response:
    """The spools loaded in every printer the user may watch (from the cache)."""
    user = current_user(request)
    service = _service(request)
    printers = [p.name for p in context(request).fleet.printers if may_view(user, p)]
    views = [_printer_view(service, name) for name in printers] if service.enabled else []
    return web.json_response({**_site(service), "printers": views})


async def printer_spools(request: web.Request) -> web.Response:
    user = current_user(request)
    printer = _printer(request, user)
    service = _service(request)
    return web.json_response({**_site(service), **_printer_view(service, printer.name)})


def _tool(request: web.Request) -> int:
    text = request.match_info["tool"]
    if not (text.isascii() and text.isdigit() and len(text) <= 2) or int(text) > store.MAX_TOOL:
        raise ApiError(
            400, f"tool must be 0 to {store.MAX_TOOL} (T0 is the first), not '{text[:20]}'"
        )
    return int(text)


async def assign_spool(request: web.Request) -> web.Response:
    """Load a spool into a printer's tool (``{"spool_id": 12}``) or unload it (``null``)."""
    user = current_user(request)
    ctx = context(request)
    printer = _printer(request, user)
    if not may_act(user, printer):
        detail = f"T{request.match_info['tool'][:10]}"
        audit.record(ctx.db, user.name, "refused spool assign", printer.name, detail)
        raise ApiError(403, f"{user.name} ({user.role}) may watch {printer.name} but not act on it")
    tool = _tool(request)
    body = await read_object(request)
    if "spool_id" not in body:
        raise ApiError(400, "'spool_id' is required: a spool's id in Spoolman, or null to unload")
    spool_id = body["spool_id"]
    if spool_id is not None and (
        isinstance(spool_id, bool) or not isinstance(spool_id, int) or not 0 < spool_id < 2**62
    ):
        raise ApiError(400, "'spool_id' must be a spool's id in Spoolman (a number) or null")
    service = _service(request)
    if not service.enabled:
        raise ApiError(409, NOT_CONFIGURED)
    try:
        await service.assign(printer.name, tool, spool_id, user.name)
    except SpoolmanError as error:
        raise _refusal(error) from None
    loaded = service.loaded(printer.name, tool)
    what = f"T{tool}: " + (f"spool {loaded.name}" if loaded else "unloaded")
    audit.record(ctx.db, user.name, "spool assign", printer.name, what)
    return web.json_response(
        {"printer": printer.name, "tool": tool, "spool": loaded.as_json() if loaded else None}
    )


async def list_reports(request: web.Request) -> web.Response:
    """The use reports of the printers the user may watch (``?printer=`` for one)."""
    user = current_user(request)
    ctx = context(request)
    wanted = request.query.get("printer")
    visible = [p.name for p in ctx.fleet.printers if may_view(user, p)]
    if wanted is not None:
        if wanted not in visible:
            raise ApiError(404, f"no printer '{wanted[:100]}' in the fleet")
        visible = [wanted]
    printers = None if user.admin and wanted is None else visible
    found = store.reports(ctx.db, printers, MAX_REPORTS)
    return web.json_response({**_site(_service(request)), "reports": [r.as_json() for r in found]})


def setup(app: web.Application) -> None:
    service = app[SPOOLS] = SpoolService(app[CONTEXT])

    run_with_app(app, service.start, service.stop)
    app.router.add_get("/api/spools", list_spools)
    app.router.add_get("/api/spools/loaded", loaded_everywhere)
    app.router.add_get("/api/spools/reports", list_reports)
    app.router.add_get("/api/printers/{name}/spools", printer_spools)
    app.router.add_put("/api/printers/{name}/spools/{tool}", assign_spool)
