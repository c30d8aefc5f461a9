"""Fleet actions: one request pauses, resumes, cancels, preheats or cools several printers.

``POST /api/fleet/actions`` with ``{"action": "pause"|"resume"|"cancel"|"preheat"|
"cooldown", "printers": [...], "hotend": 210, "bed": 60}`` (temperatures for
``preheat`` only). Each printer is checked against the user's rights on its own: a
printer the user may not act on, and a name the fleet does not have, get the same
per-printer answer (nothing is enumerated). Every printer gets one audit entry
(``printer.pause`` …) that ends ``done``, ``refused`` or ``failed``. The print
servers are called concurrently, at most ``PARALLEL`` at once, each within
``ACTION_TIMEOUT``. Commands from the MQTT broker (hub/mqtt/commands.py) go through
:func:`act_on` too, with ``bed_clear`` besides, audited ``… (via MQTT)``. The answer
is always 200 with one result per printer, in the order asked: ``{"results":
[{"printer": "demo-1", "ok": true}, {"printer": "demo-2", "ok": false, "error": "..."}]}``;
a malformed request is a 400.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from hub.auth.current import current_user
from hub.auth.rights import User, may_act
from hub.bodies import read_object
from hub.context import HubContext, context
from hub.errors import ApiError
from hub.fleet.roster import FleetPrinter
from hub.records import audit

ACTION_TIMEOUT = aiohttp.ClientTimeout(total=8, sock_connect=3)
PARALLEL = 16
MAX_PRINTERS = 500
MAX_NAME = 100
HOTEND_MAX = 300
BED_MAX = 150
# What the print server is asked for each action: (method path, JSON body wanted).
PATHS = {
    "pause": "/api/v1/job/pause",
    "resume": "/api/v1/job/resume",
    "cancel": "/api/v1/job/cancel",
    "preheat": "/api/v1/control/temperature",
    "cooldown": "/api/v1/control/cool-down",
}
# Beyond the fleet API's actions: what other doors (MQTT commands, hub/mqtt/commands.py) may
# also ask, through the same rights check and audit.
STEPS = {**PATHS, "bed_clear": "/api/v1/bed/clear"}
NOT_ALLOWED = "no such printer, or you may not act on it"


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    printers: tuple[str, ...]
    hotend: int | None = None
    bed: int | None = None
    # How it was asked, for the audit log's detail.
    via: str = "fleet action"

    def body(self) -> dict[str, int] | None:
        if self.action != "preheat":
            return None
        body = {"hotend": self.hotend or 0}
        if self.bed is not None:
            body["bed"] = self.bed
        return body

    def detail(self) -> str:
        if self.action == "preheat":
            bed = "" if self.bed is None else f", bed {self.bed} °C"
            return f"preheat: hotend {self.hotend} °C{bed} ({self.via})"
        return f"{self.action} ({self.via})"


def _temperature(body: dict[str, Any], name: str, highest: int, required: bool) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"'{name}' is required to preheat (°C)")
        return None
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ApiError(400, f"'{name}' must be a whole number of °C")
    if not 0 <= value <= highest:
        raise ApiError(400, f"'{name}' must be between 0 and {highest} °C")
    return int(value)


def parse(body: dict[str, Any]) -> Request:
    """The request, or a 400 saying what is wrong with it."""
    unknown = set(body) - {"action", "printers", "hotend", "bed"}
    if unknown:
        raise ApiError(400, f"unknown field '{sorted(unknown)[0][:40]}'")
    action = body.get("action")
    # Not a string (e.g. an object, which is unhashable): refused as any other unknown action.
    if not isinstance(action, str) or action not in PATHS:
        raise ApiError(400, f"'action' must be one of {', '.join(PATHS)}")
    printers = body.get("printers")
    if not isinstance(printers, list) or not all(isinstance(p, str) for p in printers):
        raise ApiError(400, "'printers' must be a list of printer names")
    if not printers:
        raise ApiError(400, "'printers' is empty: choose at least one printer")
    if len(printers) > MAX_PRINTERS:
        raise ApiError(400, f"at most {MAX_PRINTERS} printers at once")
    names = tuple(dict.fromkeys(p[:MAX_NAME] for p in printers))
    if action != "preheat":
        if "hotend" in body or "bed" in body:
            raise ApiError(400, "'hotend' and 'bed' go with the preheat action only")
        return Request(action, names)
    hotend = _temperature(body, "hotend", HOTEND_MAX, True)
    bed = _temperature(body, "bed", BED_MAX, False)
    return Request(action, names, hotend, bed)


async def _call(
    ctx: HubContext, user: User, printer: FleetPrinter, asked: Request
) -> tuple[int, str | None]:
    """Ask one print server: its HTTP status (502 when it does not answer), and why not."""
    try:
        async with ctx.client.request(
            "POST", printer, STEPS[asked.action], user=user.name, json=asked.body(),
            timeout=ACTION_TIMEOUT,
        ) as answer:  # fmt: skip
            status = answer.status
            try:
                body: Any = await answer.json(content_type=None)
            except ValueError:
                body = None
    except TimeoutError:
        return 502, "its print server did not answer in time"
    except (aiohttp.ClientError, OSError) as error:
        return 502, f"its print server does not answer ({error or type(error).__name__})"
    if status < 400:
        return status, None
    message = body.get("error") if isinstance(body, dict) else None
    return status, str(message or f"its print server refused ({status})")


async def act_on(
    ctx: HubContext, user: User, name: str, asked: Request, slots: asyncio.Semaphore
) -> dict[str, Any]:
    """One printer's part of ``asked``: the rights check, the audit entry, the print server's
    answer, as ``{"printer", "ok"[, "error"]}``."""
    printer = ctx.fleet.printer(name)
    act = audit.record_act(ctx.db, user.name, f"printer.{asked.action}", name, asked.detail())
    if printer is None or not may_act(user, printer):
        audit.settle(ctx.db, name, act, 403)
        return {"printer": name, "ok": False, "error": NOT_ALLOWED}
    async with slots:
        status, problem = await _call(ctx, user, printer, asked)
    # Done; refused by the print server (nothing to pause, busy); failed (it is gone).
    audit.settle(ctx.db, name, act, status)
    if problem is None:
        return {"printer": name, "ok": True}
    return {"printer": name, "ok": False, "error": problem}


async def run_actions(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    asked = parse(await read_object(request))
    slots = asyncio.Semaphore(PARALLEL)
    results = await asyncio.gather(*(act_on(ctx, user, n, asked, slots) for n in asked.printers))
    return web.json_response({"action": asked.action, "results": list(results)})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/fleet/actions", run_actions)
