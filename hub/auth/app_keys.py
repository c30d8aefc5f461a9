"""Application keys: an app asks a printer for a key, a person decides in the hub.

OctoPrint's application keys workflow (OctoPrint/OctoPrint
``src/octoprint/plugins/appkeys/__init__.py``; Home Assistant's integration and
Cura's "Request" button use it) answered for a whole fleet. The app talks to the
printer's OctoPrint-compatible API; the print server relays, signed with its printer
key (hub/auth/printer_requests.py):

- ``POST /api/printers/{name}/app-keys`` ``{"app", "user"?}`` — a pending request:
  201 with the token the app polls with (shown once; the hub keeps its hash), the
  request's id and the page where it is decided. At most ``MAX_PENDING`` undecided
  requests per printer and ``MAX_PER_MINUTE`` new ones a minute (429); each lives
  ``LIFETIME`` seconds.
- ``GET /api/printers/{name}/app-keys/{token}`` — the app's poll: 202 while pending;
  once approved, 200 with the key (made now, listed with the user's keys, and never
  shown again: the request is gone, later polls are 404); 404 when denied, expired
  or unknown.

People decide on the hub's API keys page:

- ``GET /api/app-key-requests`` — the pending requests this user may decide.
- ``POST /api/app-key-requests/{id}/approve`` and ``.../deny``.

Who decides: the user the app named, or an admin; when the app named nobody, any user
who may watch the printer (the key then acts as them). The key acts as its user with
that user's rights, on that printer only (hub/auth/gate.py refuses it elsewhere).
Asking, approving, denying and the key's making are audited.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from typing import Any

from aiohttp import web

from hub.auth import tables
from hub.auth.accounts import get_user
from hub.auth.api_keys import KeyRefused, create_key
from hub.auth.credentials import token_hash
from hub.auth.current import current_user
from hub.auth.printer_requests import signed_body
from hub.auth.rights import User, may_view
from hub.bodies import json_object
from hub.context import HubContext, context
from hub.errors import ApiError
from hub.fleet.roster import FleetPrinter
from hub.records import audit

SCHEMA = tables.APP_KEY_REQUESTS

# A request waits this long for a decision, and an approved one this long for its poll.
LIFETIME = 10 * 60
MAX_PENDING = 8
MAX_PER_MINUTE = 6
MAX_BODY = 2 * 1024
MAX_APP = 64
# Where people decide: the hub page's API keys section.
DIALOG = "/#keys"


def _expire(db: sqlite3.Connection, now: float) -> None:
    db.execute("DELETE FROM app_key_requests WHERE expires < ?", (now,))


def _printer(ctx: HubContext, name: str) -> FleetPrinter:
    printer = ctx.fleet.printer(name)
    if printer is None:
        raise ApiError(404, f"no printer named {name[:64]} in the fleet")
    return printer


async def _signed_body(request: web.Request) -> tuple[FleetPrinter, bytes]:
    """The printer that signed this relay (its own name only), and the body it sent."""
    ctx = context(request)
    printer = _printer(ctx, request.match_info["name"])
    too_large = f"a key request is at most {MAX_BODY} bytes"
    raw = await signed_body(request, ctx.master_key, printer.name, MAX_BODY, too_large)
    return printer, raw


def _name(body: dict[str, Any], field: str, required: bool) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_APP:
        need = "required" if required else "optional"
        raise ApiError(400, f"'{field}' ({need}) is a string of 1-{MAX_APP} characters")
    if any(ord(c) < 32 for c in value):
        raise ApiError(400, f"'{field}' holds a control character")
    return value.strip()


async def ask(request: web.Request) -> web.Response:
    ctx = context(request)
    printer, raw = await _signed_body(request)
    body = json_object(raw)
    app = _name(body, "app", required=True)
    user = _name(body, "user", required=False)
    assert app is not None
    now = time.time()
    _expire(ctx.db, now)
    pending, recent = ctx.db.execute(
        "SELECT SUM(state = 'pending'), SUM(created > ?) FROM app_key_requests WHERE printer = ?",
        (now - 60, printer.name),
    ).fetchone()
    if (pending or 0) >= MAX_PENDING:
        raise ApiError(429, f"{printer.name} has {MAX_PENDING} key requests waiting already")
    if (recent or 0) >= MAX_PER_MINUTE:
        raise ApiError(429, f"too many key requests for {printer.name}: try again in a minute")
    token = secrets.token_urlsafe(24)
    cursor = ctx.db.execute(
        "INSERT INTO app_key_requests (token_hash, printer, app, asked_user, created, expires)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (token_hash(token), printer.name, app, user, now, now + LIFETIME),
    )
    audit.record(ctx.db, "anonymous", "app key request", printer.name,
                 f"{app} asks for a key as {user or 'whoever approves'}")  # fmt: skip
    return web.json_response(
        {"token": token, "id": cursor.lastrowid, "dialog": DIALOG, "expires_in": LIFETIME},
        status=201,
    )


def _unique_name(db: sqlite3.Connection, user: str, base: str) -> str:
    name, n = base, 1
    while db.execute(
        "SELECT 1 FROM api_keys k JOIN users u ON u.id = k.user_id WHERE u.name = ? AND k.name = ?",
        (user, name),
    ).fetchone():
        n += 1
        name = f"{base} {n}"
    return name


async def poll(request: web.Request) -> web.Response:
    ctx = context(request)
    printer, _ = await _signed_body(request)
    now = time.time()
    _expire(ctx.db, now)
    row = ctx.db.execute(
        "SELECT * FROM app_key_requests WHERE token_hash = ? AND printer = ?",
        (token_hash(request.match_info["token"]), printer.name),
    ).fetchone()
    if row is None or row["state"] == "denied":
        if row is not None:
            ctx.db.execute("DELETE FROM app_key_requests WHERE id = ?", (row["id"],))
        raise ApiError(404, "no such key request: denied, expired or never made")
    if row["state"] == "pending":
        return web.json_response({}, status=202)
    # Approved: the key is made now, handed out once, and the request is gone.
    ctx.db.execute("DELETE FROM app_key_requests WHERE id = ?", (row["id"],))
    user = row["key_user"]
    name = _unique_name(ctx.db, user, f"{row['app']} ({printer.name})"[:MAX_APP])
    try:
        _, key = create_key(ctx.db, user, name, printer=printer.name, app=row["app"])
    except KeyRefused as error:
        raise ApiError(404, f"the approved key cannot be made: {error}") from None
    return web.json_response({"api_key": key})


def sentence(row: sqlite3.Row) -> str:
    """What the person deciding reads."""
    who = row["asked_user"] or "whoever approves"
    return f"{row['app']} asks for a key to {row['printer']} as {who}"


def may_decide(ctx: HubContext, user: User, row: sqlite3.Row) -> bool:
    printer = ctx.fleet.printer(row["printer"])
    if printer is None:
        return False
    asked = row["asked_user"]
    if asked is None:
        return may_view(user, printer)
    return user.admin or asked.lower() == user.name.lower()


async def list_requests(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context(request)
    _expire(ctx.db, time.time())
    rows = ctx.db.execute(
        "SELECT * FROM app_key_requests WHERE state = 'pending' ORDER BY created"
    ).fetchall()
    shown = [
        {
            "id": row["id"],
            "printer": row["printer"],
            "app": row["app"],
            "user": row["asked_user"],
            "sentence": sentence(row),
            "created": audit.iso(row["created"]),
            "expires": audit.iso(row["expires"]),
        }
        for row in rows
        if may_decide(ctx, user, row)
    ]
    return web.json_response({"requests": shown})


def _pending(request: web.Request, user: User) -> sqlite3.Row:
    ctx = context(request)
    _expire(ctx.db, time.time())
    text = request.match_info["id"]
    row: sqlite3.Row | None = None
    if text.isdigit() and len(text) < 18:
        row = ctx.db.execute(
            "SELECT * FROM app_key_requests WHERE id = ? AND state = 'pending'", (int(text),)
        ).fetchone()
    if row is None or not may_decide(ctx, user, row):
        raise ApiError(404, f"no pending key request {text[:20]} that {user.name} may decide")
    return row


async def approve(request: web.Request) -> web.Response:
    me = current_user(request)
    ctx = context(request)
    row = _pending(request, me)
    printer = _printer(ctx, row["printer"])
    holder = get_user(ctx.db, row["asked_user"]) if row["asked_user"] else me
    if holder is None:
        raise ApiError(409, f"there is no user named {row['asked_user']}: deny the request")
    if not may_view(holder, printer):
        raise ApiError(403, f"{holder.name} has no rights on printer {printer.name}: no key")
    ctx.db.execute(
        "UPDATE app_key_requests SET state = 'approved', key_user = ?, decided_by = ? WHERE id = ?",
        (holder.name, me.name, row["id"]),
    )
    audit.record(ctx.db, me.name, "app key approve", printer.name,
                 f"{row['app']} may act as {holder.name} on {printer.name}")  # fmt: skip
    return web.json_response({"approved": row["id"], "sentence": sentence(row)})


async def deny(request: web.Request) -> web.Response:
    me = current_user(request)
    ctx = context(request)
    row = _pending(request, me)
    ctx.db.execute(
        "UPDATE app_key_requests SET state = 'denied', decided_by = ? WHERE id = ?",
        (me.name, row["id"]),
    )
    audit.record(ctx.db, me.name, "app key deny", row["printer"], sentence(row))
    return web.json_response({"denied": row["id"], "sentence": sentence(row)})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/printers/{name}/app-keys", ask)
    app.router.add_get("/api/printers/{name}/app-keys/{token}", poll)
    app.router.add_get("/api/app-key-requests", list_requests)
    app.router.add_post("/api/app-key-requests/{id}/approve", approve)
    app.router.add_post("/api/app-key-requests/{id}/deny", deny)
