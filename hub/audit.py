"""The audit log: who did what to which printer, and every change to users and keys.

:func:`record` appends one row (the gate, the users API, logins, the fleet
queue). Admins read it at ``GET /api/audit`` (filters, newest first) and
``GET /api/audit.csv``.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from datetime import UTC, datetime

from aiohttp import web

from hub.auth import require_admin
from hub.context import context
from hub.errors import ApiError

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    printer TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS audit_user ON audit(user, at);
CREATE INDEX IF NOT EXISTS audit_printer ON audit(printer, at);
"""

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A CSV export holds at most this many rows (newest first).
MAX_EXPORT = 100_000
# Longest text kept in one field.
MAX_FIELD = 1000


def record(
    db: sqlite3.Connection, user: str, action: str, printer: str | None, detail: str = ""
) -> None:
    """Append one row to the audit log."""
    db.execute(
        "INSERT INTO audit (at, user, action, printer, detail) VALUES (?, ?, ?, ?, ?)",
        (time.time(), user[:MAX_FIELD], action[:MAX_FIELD], printer, detail[:MAX_FIELD]),
    )


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str, what: str) -> float:
    """Unix seconds or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, f"{what} must be an ISO 8601 time or Unix seconds, not '{text[:40]}'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _count(text: str | None, what: str, default: int, highest: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{what} must be a whole number, not '{text[:40]}'") from None
    if not 0 <= value <= highest:
        raise ApiError(400, f"{what} must be between 0 and {highest}")
    return value


def _filters(query: dict[str, str]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    values: list[object] = []
    for field in ("user", "printer", "action"):
        value = query.get(field)
        if value:
            clauses.append(f"{field} = ?")
            values.append(value)
    if query.get("since"):
        clauses.append("at >= ?")
        values.append(parse_time(query["since"], "since"))
    if query.get("until"):
        clauses.append("at < ?")
        values.append(parse_time(query["until"], "until"))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def _entry(row: sqlite3.Row) -> dict[str, object]:
    return {
        "id": row["id"],
        "time": iso(row["at"]),
        "at": row["at"],
        "user": row["user"],
        "action": row["action"],
        "printer": row["printer"],
        "detail": row["detail"],
    }


async def list_audit(request: web.Request) -> web.Response:
    require_admin(request)
    db = context(request).db
    query = dict(request.query)
    where, values = _filters(query)
    limit = _count(query.get("limit"), "limit", DEFAULT_LIMIT, MAX_LIMIT)
    offset = _count(query.get("offset"), "offset", 0, 2**62)
    total = db.execute(f"SELECT count(*) FROM audit{where}", values).fetchone()[0]
    rows = db.execute(
        f"SELECT * FROM audit{where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        [*values, limit, offset],
    ).fetchall()
    return web.json_response({"entries": [_entry(r) for r in rows], "total": total})


def _cell(value: object) -> str:
    """A spreadsheet must not run a cell as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_csv(request: web.Request) -> web.Response:
    require_admin(request)
    db = context(request).db
    where, values = _filters(dict(request.query))
    rows = db.execute(
        f"SELECT * FROM audit{where} ORDER BY at DESC, id DESC LIMIT ?", [*values, MAX_EXPORT]
    ).fetchall()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "user", "action", "printer", "detail"])
    for row in rows:
        writer.writerow(
            [iso(row["at"]), *(_cell(row[f]) for f in ("user", "action", "printer", "detail"))]
        )
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="fabfleet-audit.csv"'},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/audit", list_audit)
    app.router.add_get("/api/audit.csv", export_csv)
