"""The maintenance feature: counters and service tasks per printer (docs/maintenance.md).

- ``GET /api/maintenance``: every printer the user may view, its counters and tasks;
- ``POST /api/printers/{name}/maintenance/{task}/done``: mark a task done (may act;
  audited "maintenance done"); an optional JSON body ``{"note": "..."}``;
- ``GET /api/printers/{name}/maintenance/log``: the printer's service log;
- ``GET /maintenance``: the page; ``GET /metrics``: the hub's Prometheus metrics.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth.current import current_user
from hub.auth.request_keys import USER
from hub.auth.rights import User, may_act, may_view
from hub.bodies import read_object
from hub.context import CONTEXT, context
from hub.errors import ApiError
from hub.fleet.roster import FleetPrinter
from hub.maintenance import metrics
from hub.maintenance.service import MAINTENANCE, MaintenanceError, MaintenanceService
from hub.maintenance.store import SCHEMA
from hub.records import audit
from hub.running import run_with_app
from hub.web.error_page import EXPIRED, SESSION_COOKIE
from hub.web.pages import NO_CACHE, PAGE

__all__ = ["SCHEMA", "setup"]

MAX_NOTE = 1000
LOG_LIMIT = 100


def _viewable(request: web.Request, user: User, name: str) -> FleetPrinter:
    printer = context(request).fleet.printer(name)
    if printer is None or not may_view(user, printer):
        raise ApiError(404, f"no printer named '{name[:64]}' that {user.name} may watch")
    return printer


def printer_view(service: MaintenanceService, printer: FleetPrinter, user: User) -> dict[str, Any]:
    reading = service.readings.get(printer.name)
    return {
        "name": printer.name,
        "may_act": may_act(user, printer),
        "counters": None if reading is None else reading.to_json(),
        "error": service.errors.get(printer.name),
        "tasks": [state.to_json() for state in service.states(printer.name)],
    }


async def list_maintenance(request: web.Request) -> web.Response:
    user = current_user(request)
    service = request.app[MAINTENANCE]
    printers = [p for p in context(request).fleet.printers if may_view(user, p)]
    return web.json_response(
        {"printers": [printer_view(service, p, user) for p in printers]},
        headers={"Cache-Control": "no-store"},
    )


async def mark_done(request: web.Request) -> web.Response:
    user = current_user(request)
    printer = _viewable(request, user, request.match_info["name"])
    if not may_act(user, printer):
        raise ApiError(
            403, f"{user.name} ({user.role}) may watch {printer.name} but not service it"
        )
    note = ""
    if request.can_read_body:
        body = await read_object(request)
        raw = body.get("note", "")
        if not isinstance(raw, str) or len(raw) > MAX_NOTE:
            raise ApiError(400, f"'note' must be text of at most {MAX_NOTE} characters")
        note = raw.strip()
    service = request.app[MAINTENANCE]
    task = request.match_info["task"]
    try:
        done = await service.mark_done(printer, task, user.name, note)
    except MaintenanceError as error:
        raise ApiError(error.status, error.message) from None
    c = done.counters
    detail = (
        f"{task}; print {c.print_seconds / 3600:.1f} h, filament {c.filament_mm / 1000:.1f} m,"
        f" {c.jobs_total} jobs, travel {c.move_mm / 1e6:.2f} km"
        + (f"; note: {note}" if note else "")
    )
    audit.record(context(request).db, user.name, "maintenance done", printer.name, detail)
    return web.json_response(
        {"done": done.to_json(), "printer": printer_view(service, printer, user)}
    )


async def service_log(request: web.Request) -> web.Response:
    user = current_user(request)
    printer = _viewable(request, user, request.match_info["name"])
    entries = request.app[MAINTENANCE].log(printer.name, LOG_LIMIT)
    return web.json_response(
        {"printer": printer.name, "log": [done.to_json() for done in entries]},
        headers={"Cache-Control": "no-store"},
    )


async def page(request: web.Request) -> web.StreamResponse:
    if request.get(USER) is None:
        expired = SESSION_COOKIE in request.cookies
        raise web.HTTPFound(f"login?reason={EXPIRED}" if expired else "login")
    return web.FileResponse(PAGE / "maintenance.html", headers=NO_CACHE)


def setup(app: web.Application) -> None:
    service = app[MAINTENANCE] = MaintenanceService(app[CONTEXT])

    run_with_app(app, service.start, service.stop)
    app.router.add_get("/api/maintenance", list_maintenance)
    # A task's name may hold a "/" ("Check X/Y belts"), encoded or not.
    app.router.add_post("/api/printers/{name}/maintenance/{task:.+}/done", mark_done)
    app.router.add_get("/api/printers/{name}/maintenance/log", service_log)
    app.router.add_get("/maintenance", page)
    metrics.add_routes(app)
