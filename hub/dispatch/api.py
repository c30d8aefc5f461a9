"""The dispatch check over HTTP: asked by print servers, overridden by admins.

- ``POST /api/printers/{name}/dispatch-check`` — a print server asks before it
  starts a file (its Print button, a slicer's upload-and-print, the queue's send),
  signed with its printer key (hub/auth/printer_requests.py). Body: ``file``,
  ``filament_mm``, ``material``, ``nozzle`` (what its analysis says, each may be
  null) and ``user``. The answer is the check (hub/dispatch/check.py) without the
  ``printer`` and ``bed`` items, which the print server checks itself. A file the
  fleet queue is sending right now was checked when the queue chose it.
- ``POST /api/printers/{name}/dispatch-override`` — an admin lets one item pass
  for the next start of one file on that printer (within ``OVERRIDE_LIFETIME``).
- ``POST /api/queue/{id}/override`` — an admin lets one item pass for one queue entry.

Every override is audited; each is for one job only.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hub.auth.current import current_user, require_admin
from hub.auth.printer_requests import signed_body
from hub.auth.rights import may_view
from hub.bodies import json_object, read_object, text_field
from hub.context import context
from hub.dispatch.check import ITEMS, OVERRIDABLE, JobSide, check, format_overrides, parse_overrides
from hub.dispatch.sources import SOURCES, Sources
from hub.errors import ApiError
from hub.fleet.live import PrinterLive
from hub.maintenance.service import MAINTENANCE
from hub.power.service import POWER
from hub.queue import dispatcher as queue_dispatcher
from hub.queue import store as queue_store
from hub.queue.match import Needs, Target
from hub.records import audit
from hub.spools.service import SPOOLS

SCHEMA = """
CREATE TABLE IF NOT EXISTS dispatch_overrides (
    id INTEGER PRIMARY KEY,
    printer TEXT NOT NULL,
    file TEXT NOT NULL,
    item TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at REAL NOT NULL,
    used_at REAL
);
"""
# An override for a Print button start is used within this many seconds, or lapses.
OVERRIDE_LIFETIME = 30 * 60
MAX_CHECK_BODY = 16 * 1024
# The items the print server checks itself.
PRINT_SERVER_ITEMS = ("printer", "bed")


def _printer(request: web.Request) -> Any:
    name = request.match_info["name"]
    printer = context(request).fleet.printer(name)
    if printer is None:
        raise ApiError(404, f"no printer named {name} in the fleet")
    return printer


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ApiError(400, f"'{name}' must be a number of at least 0, or null")
    return float(value)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise ApiError(400, f"'{name}' must be a string (at most 255 characters), or null")
    return value


def pending_overrides(db: Any, printer: str, file: str, now: float) -> dict[str, str]:
    rows = db.execute(
        "SELECT item, granted_by FROM dispatch_overrides WHERE printer = ? AND file = ?"
        " AND used_at IS NULL AND granted_at > ? ORDER BY id",
        (printer, file, now - OVERRIDE_LIFETIME),
    ).fetchall()
    return {row["item"]: row["granted_by"] for row in rows}


async def printer_check(request: web.Request) -> web.Response:
    ctx = context(request)
    printer = _printer(request)
    too_large = "the check's body is too large"
    raw = await signed_body(request, ctx.master_key, printer.name, MAX_CHECK_BODY, too_large)
    body = json_object(raw)
    file = text_field(body, "file")
    now = time.time()
    found = request.app.get(queue_dispatcher.DISPATCHER)
    if found is not None and printer.name in found.sending:
        # The queue is sending it one of its entries now: it checked when it chose it (the
        # print server may have renamed the file, so the name is not compared).
        return web.json_response({
            "printer": printer.name, "ready": True, "items": [],
            "summary": "the fleet queue checked it when it chose this printer",
        })  # fmt: skip
    overrides = pending_overrides(ctx.db, printer.name, file, now)
    nozzle = _number(body, "nozzle")
    needs = Needs(Target("printer", printer.name), (), _text(body, "material"), nozzle, None)
    job = JobSide(needs, _number(body, "filament_mm"), overrides)
    sources: Sources = request.app[SOURCES]
    if sources.spools is not None and sources.spools.enabled:
        await sources.spools.refresh(printer.name)  # asked afresh, never on an old answer
    heating = found.heating(now) if found is not None else 0
    live = ctx.live.printers.get(printer.name) or PrinterLive(printer.name)
    side = sources.side(printer, live, heating=heating)
    result = check(job, side, sources.rules(ctx.fleet), skip=PRINT_SERVER_ITEMS)
    if result.ready and overrides:
        used = [item.code for item in result.items if item.overridden_by]
        for code in used:
            ctx.db.execute(
                "UPDATE dispatch_overrides SET used_at = ? WHERE printer = ? AND file = ?"
                " AND item = ? AND used_at IS NULL",
                (now, printer.name, file, code),
            )
    if not result.ready:
        user = _text(body, "user") or "someone"
        audit.record(ctx.db, user, "dispatch held", printer.name, f"{file}: {result.summary()}")
    return web.json_response(result.to_json())


def _item(body: dict[str, Any]) -> str:
    item = text_field(body, "item")
    if item not in ITEMS:
        raise ApiError(400, f"'item' must be one of {', '.join(ITEMS)}")
    if item not in OVERRIDABLE:
        raise ApiError(
            409, f"{item} cannot be overridden: the printer must answer and its bed be confirmed"
        )
    return item


async def override_print(request: web.Request) -> web.Response:
    user = require_admin(request)
    ctx = context(request)
    printer = _printer(request)
    body = await read_object(request)
    item = _item(body)
    file = text_field(body, "file")
    now = time.time()
    ctx.db.execute(
        "INSERT INTO dispatch_overrides (printer, file, item, granted_by, granted_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (printer.name, file, item, user.name, now),
    )
    audit.record(ctx.db, user.name, "dispatch override", printer.name, f"{item} for {file}")
    return web.json_response(
        {"printer": printer.name, "file": file, "item": item, "granted_by": user.name,
         "expires_at": now + OVERRIDE_LIFETIME},
        status=201,
    )  # fmt: skip


def _queue_entry(request: web.Request) -> tuple[str, queue_store.Job | None]:
    text = request.match_info["id"]
    if not (text.isdigit() and len(text) < 18):
        return text[:20], None
    return text, queue_store.get(context(request).db, int(text))


async def override_entry(request: web.Request) -> web.Response:
    user = require_admin(request)
    ctx = context(request)
    entry, job = _queue_entry(request)
    if job is None:
        raise ApiError(404, f"no queue entry {entry}")
    body = await read_object(request)
    item = _item(body)
    if job.state != "queued":
        raise ApiError(409, f"entry {entry} is {job.state}; only a queued entry is checked")
    overrides = parse_overrides(",".join(job.overrides))
    overrides[item] = user.name
    queue_store.transition(ctx.db, job.id, ("queued",),
                           overrides=format_overrides(overrides))  # fmt: skip
    audit.record(ctx.db, user.name, "dispatch override", None,
                 f"{item} for queue entry {entry} ({job.file.name})")  # fmt: skip
    found = request.app.get(queue_dispatcher.DISPATCHER)
    if found is not None:
        found.wake.set()
    updated = queue_store.get(ctx.db, job.id)
    return web.json_response(updated.to_json() if updated else {})


async def entry_check(request: web.Request) -> web.Response:
    """``GET /api/queue/{id}/check``: the check's items for a queued entry on each printer of
    its target the user may watch."""
    user = current_user(request)
    ctx = context(request)
    entry, job = _queue_entry(request)
    found = request.app.get(queue_dispatcher.DISPATCHER)
    if job is None or found is None:
        raise ApiError(404, f"no queue entry {entry}")
    needs = queue_dispatcher.needs_of(job)
    printers = [p for p in needs.target.printers(ctx.fleet) if may_view(user, p)]
    if not printers and not user.admin:
        raise ApiError(404, f"no queue entry {entry}")
    checks = []
    for printer in printers:
        items = found.check_for(job, printer)
        checks.append({
            "printer": printer.name,
            "ready": all(i.verdict != "hold" for i in items),
            "items": [i.to_json() for i in items],
        })  # fmt: skip
    return web.json_response({"entry": entry, "state": job.state, "checks": checks})


def setup(app: web.Application) -> None:
    if SOURCES not in app:
        app[SOURCES] = Sources()

    async def find_sources(app: web.Application) -> None:
        # Every feature has set itself up by now: the check reads what the hub runs.
        found = app[SOURCES]
        found.spools = app.get(SPOOLS)
        found.maintenance = app.get(MAINTENANCE)
        found.power = app.get(POWER)

    app.on_startup.append(find_sources)
    app.router.add_post("/api/printers/{name}/dispatch-check", printer_check)
    app.router.add_post("/api/printers/{name}/dispatch-override", override_print)
    app.router.add_post("/api/queue/{id}/override", override_entry)
    app.router.add_get("/api/queue/{id}/check", entry_check)
