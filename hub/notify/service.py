"""Notifications' feature module: the admin's API (``/api/notifications``) and start-up.

Tell a webhook or an ntfy topic when a print ends or a bed needs clearing. From the
job that just ended:

- ``finished``: it completed;
- ``failed``: it failed, was interrupted, or was cancelled by the printer itself;
- ``bed_clear_needed``: the printer waits for someone to clear its bed.

Each target hears about one job once: the first of these it subscribed to (a
target that wants ``finished`` and ``bed_clear_needed`` gets one message for a
completed print, not two). The parts: targets and what was sent
(hub/notify/targets.py), the messages (hub/notify/messages.py), following the live
state and delivering in the background (hub/notify/notifier.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from urllib.parse import urlsplit

from aiohttp import web

from hub.auth.current import require_admin
from hub.context import CONTEXT, context
from hub.errors import ApiError
from hub.notify import targets
from hub.notify.messages import Notice
from hub.notify.notifier import NOTIFIER, Notifier
from hub.notify.targets import (
    EVENTS,
    KINDS,
    MAX_TARGETS,
    check_events,
    check_name,
    check_url,
    target_json,
    target_of,
)
from hub.records.audit import record as audit
from hub.running import run_with_app

SCHEMA = targets.SCHEMA
MAX_BODY = 16 * 1024


def _row(db: sqlite3.Connection, raw_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = None
    if raw_id.isdigit() and len(raw_id) < 19:
        row = db.execute("SELECT * FROM notify_targets WHERE id = ?", (int(raw_id),)).fetchone()
    if row is None:
        raise ApiError(404, f"no notification target {raw_id[:40]!r}")
    return row


def _base_url(request: web.Request) -> str:
    """Where the admin reached the hub: the page's origin as the browser sends it (it keeps
    a port the proxy's ``Host`` may drop), else the forwarded or direct host."""
    origin = request.headers.get("Origin", "")
    parts = urlsplit(origin)
    if parts.scheme in ("http", "https") and parts.netloc and not parts.path:
        return f"{parts.scheme}://{parts.netloc}/"
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    if scheme not in ("http", "https") or not host or any(c.isspace() for c in host):
        return ""
    return f"{scheme}://{host}/"


async def list_targets(request: web.Request) -> web.Response:
    require_admin(request)
    rows = context(request).db.execute("SELECT * FROM notify_targets ORDER BY id").fetchall()
    return web.json_response(
        {"targets": [target_json(r) for r in rows], "kinds": KINDS, "events": EVENTS}
    )


async def add_target(request: web.Request) -> web.Response:
    admin = require_admin(request)
    raw = b""
    while len(raw) <= MAX_BODY and (piece := await request.content.read(MAX_BODY + 1)):
        raw += piece
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the body must be JSON of at most {MAX_BODY // 1024} KiB")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object: {"kind", "url", "events", "name"}')
    kind = body.get("kind")
    if kind not in KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(KINDS)}")
    url = check_url(body.get("url"))
    events = check_events(body.get("events"))
    name = check_name(body.get("name"), url)
    db = context(request).db
    if db.execute("SELECT COUNT(*) FROM notify_targets").fetchone()[0] >= MAX_TARGETS:
        raise ApiError(409, f"there are {MAX_TARGETS} targets already; remove one first")
    cursor = db.execute(
        "INSERT INTO notify_targets (name, kind, url, events, base_url, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, kind, url, json.dumps(events), _base_url(request), time.time(), admin.name),
    )
    row = db.execute("SELECT * FROM notify_targets WHERE id = ?", (cursor.lastrowid,)).fetchone()
    audit(db, admin.name, "notification target added", None, f"{name} ({kind}): {url}")
    return web.json_response(target_json(row), status=201)


async def remove_target(request: web.Request) -> web.Response:
    admin = require_admin(request)
    db = context(request).db
    row = _row(db, request.match_info["id"])
    db.execute("DELETE FROM notify_targets WHERE id = ?", (row["id"],))
    audit(db, admin.name, "notification target removed", None, row["name"])
    return web.json_response({"removed": row["id"]})


async def test_target(request: web.Request) -> web.Response:
    """Send a test message now (one attempt) and say how it went."""
    require_admin(request)
    ctx = context(request)
    target = target_of(_row(ctx.db, request.match_info["id"]))
    notice = Notice("test", None, None, None, None, time.time(), target.base_url or None)
    result = await request.app[NOTIFIER].deliver(target, notice, None, retries=0)
    row = _row(ctx.db, str(target.id))
    if not result.ok:
        return web.json_response(
            {"error": f"the test did not arrive: {result.error}", "target": target_json(row)},
            status=502,
        )
    return web.json_response({"delivered": True, "target": target_json(row)})


def setup(app: web.Application) -> None:
    notifier = app[NOTIFIER] = Notifier(app[CONTEXT])

    run_with_app(app, notifier.start, notifier.stop)
    app.router.add_get("/api/notifications", list_targets)
    app.router.add_post("/api/notifications", add_target)
    app.router.add_delete("/api/notifications/{id}", remove_target)
    app.router.add_post("/api/notifications/{id}/test", test_target)
