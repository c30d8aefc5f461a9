"""The audit log: who did what to which printer, and every change to users and keys.

:func:`record` appends one row (the users API, logins, the fleet queue, refusals
at the gate). An act the gate lets through is written by :func:`record_act` with
the outcome ``allowed`` and an act id the print server receives in the signed
identity; the print server reports what it did with that request on the hub's
events stream and :func:`settle` turns the outcome into ``done`` (2xx/3xx),
``refused`` (4xx) or ``failed`` (5xx) with the print server's status. An act whose
print server never reported stays ``allowed``. Admins read it at ``GET /api/audit``
(filters, newest first) and ``GET /api/audit.csv``; each entry carries, besides its raw
fields, a ``summary`` a person reads ("alice cancelled the print on mk3",
hub/records/audit_words.py).
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web

from hub.auth.current import require_admin
from hub.context import context
from hub.db import disk_full
from hub.errors import ApiError
from hub.records.audit_words import summary

log = logging.getLogger(__name__)
T = TypeVar("T")

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
CREATE TABLE IF NOT EXISTS audit_acts (
    entry INTEGER PRIMARY KEY REFERENCES audit(id) ON DELETE CASCADE,
    act TEXT NOT NULL UNIQUE,
    printer TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'allowed',
    status INTEGER,
    settled REAL
);
"""

ALLOWED = "allowed"

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A CSV export holds at most this many rows (newest first).
MAX_EXPORT = 100_000
# Longest text kept in one field.
MAX_FIELD = 1000


def record(
    db: sqlite3.Connection, user: str, action: str, printer: str | None, detail: str = ""
) -> int:
    """Append one row to the audit log; its id."""
    cursor = db.execute(
        "INSERT INTO audit (at, user, action, printer, detail) VALUES (?, ?, ?, ?, ?)",
        (time.time(), user[:MAX_FIELD], action[:MAX_FIELD], printer, detail[:MAX_FIELD]),
    )
    return cursor.lastrowid or 0


def record_act(db: sqlite3.Connection, user: str, action: str, printer: str, detail: str) -> str:
    """An act the gate allowed on ``printer``: a row with the outcome ``allowed``, and the
    act id the print server reports its outcome under."""
    act = secrets.token_urlsafe(16)
    entry = record(db, user, action, printer, detail)
    db.execute(
        "INSERT INTO audit_acts (entry, act, printer) VALUES (?, ?, ?)", (entry, act, printer)
    )
    return act


def outcome_of(status: int) -> str:
    if status < 400:
        return "done"
    return "refused" if status < 500 else "failed"


def settle(db: sqlite3.Connection, printer: str, act: str, status: int) -> bool:
    """What ``printer``'s print server did with act ``act`` (its HTTP status). Only that
    printer's own acts, and each only once; False when there is no such pending act."""
    cursor = db.execute(
        "UPDATE audit_acts SET outcome = ?, status = ?, settled = ?"
        " WHERE act = ? AND printer = ? AND outcome = ?",
        (outcome_of(status), status, time.time(), act, printer, ALLOWED),
    )
    return cursor.rowcount == 1


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
            clauses.append(f"a.{field} = ?")
            values.append(value)
    if query.get("since"):
        clauses.append("a.at >= ?")
        values.append(parse_time(query["since"], "since"))
    if query.get("until"):
        clauses.append("a.at < ?")
        values.append(parse_time(query["until"], "until"))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


# Acts that may start a print: the native API's, and the OctoPrint API's job and file commands.
STARTS = ("print", "octoprint job command", "octoprint file command")
# How long after a print act its job may have started, to name the file it started.
STARTED_WITHIN = 60.0


# A printer's most recent job as its print server last reported it (``last_job``):
# (file, started_by, started_at), for a print act whose job is not archived yet.
Recent = dict[str, tuple[str, str | None, float]]


def recent_jobs(request: web.Request) -> Recent:
    ctx = context(request)
    found: Recent = {}
    for printer in ctx.fleet.printers:
        last = ctx.live.get(printer.name).status.get("last_job")
        if isinstance(last, dict) and last.get("file") and last.get("started_at") is not None:
            found[printer.name] = (str(last["file"]), last.get("started_by"), last["started_at"])
    return found


def started_file(db: sqlite3.Connection, row: sqlite3.Row, recent: Recent) -> str | None:
    """The file a print act started: from the fleet history, or the printer's latest job."""
    if row["action"] not in STARTS or not row["printer"] or row["outcome"] not in ("done", None):
        return None
    start, end = row["at"] - 1, row["at"] + STARTED_WITHIN
    try:
        found = db.execute(
            "SELECT file FROM job_archive WHERE printer = ? AND started_by = ?"
            " AND started_at >= ? AND started_at < ? ORDER BY started_at LIMIT 1",
            (row["printer"], row["user"], start, end),
        ).fetchone()
    except sqlite3.OperationalError:  # a database without the fleet history
        found = None
    if found:
        return str(found[0])
    latest = recent.get(row["printer"])
    if latest and latest[1] == row["user"] and start <= float(latest[2]) < end:
        return latest[0]
    return None


def _entry(row: sqlite3.Row, db: sqlite3.Connection, recent: Recent) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": row["id"],
        "time": iso(row["at"]),
        "at": row["at"],
        "user": row["user"],
        "action": row["action"],
        "printer": row["printer"],
        "detail": row["detail"],
        "outcome": row["outcome"],
        "status": row["status"],
    }
    entry["summary"] = summary(entry, started_file(db, row, recent))
    return entry


# Every row with its act's outcome (NULL for what is not an act through the gate).
ROWS = "SELECT a.*, x.outcome, x.status FROM audit a LEFT JOIN audit_acts x ON x.entry = a.id"


async def list_audit(request: web.Request) -> web.Response:
    require_admin(request)
    db = context(request).db
    query = dict(request.query)
    where, values = _filters(query)
    limit = _count(query.get("limit"), "limit", DEFAULT_LIMIT, MAX_LIMIT)
    offset = _count(query.get("offset"), "offset", 0, 2**62)
    total = db.execute(f"SELECT count(*) FROM audit a{where}", values).fetchone()[0]
    recent = recent_jobs(request)
    rows = db.execute(
        f"{ROWS}{where} ORDER BY a.at DESC, a.id DESC LIMIT ? OFFSET ?",
        [*values, limit, offset],
    ).fetchall()
    return web.json_response({"entries": [_entry(r, db, recent) for r in rows], "total": total})


def _cell(value: object) -> str:
    """A spreadsheet must not run a cell as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def export_csv(request: web.Request) -> web.Response:
    require_admin(request)
    db = context(request).db
    where, values = _filters(dict(request.query))
    recent = recent_jobs(request)
    rows = db.execute(
        f"{ROWS}{where} ORDER BY a.at DESC, a.id DESC LIMIT ?", [*values, MAX_EXPORT]
    ).fetchall()
    out = io.StringIO()
    writer = csv.writer(out)
    fields = ("user", "action", "printer", "detail", "outcome", "status")
    writer.writerow(["time", *fields, "summary"])
    for row in rows:
        said = _entry(row, db, recent)["summary"]
        writer.writerow([iso(row["at"]), *(_cell(row[f]) for f in fields), _cell(said)])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="fabfleet-audit.csv"'},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/audit", list_audit)
    app.router.add_get("/api/audit.csv", export_csv)


def kept(
    db: sqlite3.Connection, user: str, action: str, printer: str | None, detail: str = ""
) -> int | None:
    """:func:`record`, or on a full disk the line in the hub's log instead (None)."""
    return _unless_full(
        lambda: record(db, user, action, printer, detail), f"{user} {action} {printer}: {detail}"
    )


def act_kept(
    db: sqlite3.Connection, user: str, action: str, printer: str, detail: str
) -> str | None:
    """:func:`record_act`, or on a full disk the line in the hub's log and no act id (None)."""
    return _unless_full(
        lambda: record_act(db, user, action, printer, detail),
        f"{user} {action} {printer}: {detail}",
    )


def _unless_full(write: Callable[[], T], line: str) -> T | None:
    """``write`` an audit row; on a full disk the hub's log holds ``line`` instead.

    What is audited goes on (docs/hub.md, "A full disk"): a printer must stay
    controllable when the hub's disk fills (a cancel, a pause), so the gate lets an act
    through with no act id, and the dispatcher sends what it marked sent.
    """
    try:
        return write()
    except sqlite3.OperationalError as error:
        if not disk_full(error):
            raise
        log.error("the disk is full, not in the audit log: %s", line)
        return None
