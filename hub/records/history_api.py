"""The fleet's job history and statistics: ``GET /api/history``, ``/api/history.csv``,
``/api/stats``.

Every endpoint takes the same filters (``printer``, ``user``, ``outcome``, ``file``,
``since``, ``until``) and shows only jobs of printers the user may view; an admin
also sees the jobs of printers no longer in the fleet. Times filter on when a job
started: ``since`` included, ``until`` excluded, each an ISO date or a Unix time.
"""

from __future__ import annotations

import csv
import io
import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hub.auth.current import current_user
from hub.auth.rights import User, may_view
from hub.context import context
from hub.errors import ApiError
from hub.fleet.roster import Fleet
from hub.records.history import HISTORY, OUTCOMES

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10**9
MAX_EXPORT = 10**7
MAX_NAME = 200
CSV_COLUMNS = (
    "printer",
    "id",
    "file",
    "started_by",
    "started_at",
    "ended_at",
    "duration",
    "outcome",
    "reason",
    "filament_mm",
)
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_ROWS_PER_WRITE = 500
# Newest first; the same order for pages and for the CSV's batches.
NEWEST_FIRST = "started_at DESC, printer DESC, job_id DESC"
_COLUMNS = (
    "printer, job_id, file, started_by, started_at, ended_at, duration, outcome, reason,"
    " filament_mm, timelapse"
)


@dataclass(frozen=True, slots=True)
class Filters:
    # None: every printer (an admin); otherwise only these.
    printers: tuple[str, ...] | None
    user: str | None
    outcome: str | None
    file: str | None
    since: float | None
    until: float | None

    def where(self) -> tuple[str, list[object]]:
        """The SQL ``WHERE`` clause (possibly empty) and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.printers == ():
            return " WHERE 0", []
        if self.printers is not None:
            clauses.append(f"printer IN ({', '.join('?' * len(self.printers))})")
            params.extend(self.printers)
        if self.user is not None:
            clauses.append("started_by = ?")
            params.append(self.user)
        if self.outcome is not None:
            clauses.append("outcome = ?")
            params.append(self.outcome)
        if self.file is not None:
            escaped = self.file.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("file LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if self.since is not None:
            clauses.append("started_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("started_at < ?")
            params.append(self.until)
        return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def parse_time(request: web.Request, name: str) -> float | None:
    """``name`` from the query as a Unix time: an ISO date or date-time (UTC unless it says
    otherwise) or a number of seconds."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or abs(number) > 1e11:
            raise ApiError(400, f"{name} must be a date or a Unix time, not {raw[:40]!r}")
        return number
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, f"{name} must be an ISO date (2026-11-22) or a Unix time, not {raw[:40]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_whole(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _name(request: web.Request, key: str) -> str | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_NAME:
        raise ApiError(400, f"{key} is longer than {MAX_NAME} characters")
    return raw


def visible_printers(user: User, fleet: Fleet) -> tuple[str, ...] | None:
    """The printers whose jobs ``user`` may see; None: every printer, removed ones too."""
    if user.admin:
        return None
    return tuple(p.name for p in fleet.printers if may_view(user, p))


def filters(request: web.Request) -> Filters:
    user = current_user(request)
    visible = visible_printers(user, context(request).fleet)
    printer = _name(request, "printer")
    printers = visible
    if printer is not None:
        if visible is not None and printer not in visible:
            raise ApiError(404, f"no printer '{printer}' among the printers you may view")
        printers = (printer,)
    outcome = request.query.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise ApiError(400, f"outcome must be one of {', '.join(OUTCOMES)}")
    return Filters(
        printers=printers,
        user=_name(request, "user"),
        outcome=outcome,
        file=_name(request, "file"),
        since=parse_time(request, "since"),
        until=parse_time(request, "until"),
    )


def job_json(row: sqlite3.Row, fleet: Fleet) -> dict[str, Any]:
    return {
        "printer": row["printer"],
        "id": row["job_id"],
        "file": row["file"],
        "started_by": row["started_by"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
        "duration": row["duration"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "filament_mm": row["filament_mm"],
        # Its video, served by the print server through the proxy (docs/timelapse.md);
        # None when the job had no timelapse or its printer is gone.
        "timelapse": (
            f"/printers/{row['printer']}/api/v1/history/{row['job_id']}/timelapse.mp4"
            if row["timelapse"] and fleet.printer(row["printer"]) is not None
            else None
        ),
        # No longer in fleet.json (only an admin sees these).
        "removed": fleet.printer(row["printer"]) is None,
    }


async def list_history(request: web.Request) -> web.Response:
    """The jobs matching the filters, newest first, a page at a time."""
    ctx = context(request)
    chosen = filters(request)
    limit = parse_whole(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = parse_whole(request, "offset", 0, 0, MAX_OFFSET)
    where, params = chosen.where()
    rows = ctx.db.execute(
        f"SELECT {_COLUMNS} FROM job_archive{where} ORDER BY {NEWEST_FIRST} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    total = ctx.db.execute(f"SELECT COUNT(*) FROM job_archive{where}", params).fetchone()[0]
    fleet = ctx.fleet
    archive = request.app[HISTORY]
    shown = chosen.printers if chosen.printers is not None else [p.name for p in fleet.printers]
    sources = [
        {"printer": s.printer, "synced_at": s.synced_at, "error": s.error}
        for name in shown
        if (s := archive.status.get(name)) is not None
    ]
    return web.json_response(
        {
            "jobs": [job_json(row, fleet) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
            "sources": sources,
        }
    )


def csv_safe(value: object) -> object:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _iso(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def csv_lines(rows: list[sqlite3.Row], header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                csv_safe(row["printer"]),
                row["job_id"],
                csv_safe(row["file"]),
                csv_safe(row["started_by"]),
                _iso(row["started_at"]),
                _iso(row["ended_at"]),
                csv_safe(row["duration"]),
                row["outcome"],
                csv_safe(row["reason"]),
                csv_safe(row["filament_mm"]),
            ]
        )
    return out.getvalue()


async def export_csv(request: web.Request) -> web.StreamResponse:
    """Every job matching the filters as CSV (header row first), streamed."""
    ctx = context(request)
    chosen = filters(request)
    # Every matching job unless a limit is given.
    limit = parse_whole(request, "limit", -1, 1, MAX_EXPORT)
    offset = parse_whole(request, "offset", 0, 0, MAX_OFFSET)
    where, params = chosen.where()
    answer = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="fleet-history.csv"',
            "Cache-Control": "no-store",
        }
    )
    await answer.prepare(request)
    await answer.write(csv_lines([], header=True).encode("utf-8"))
    # A batch at a time, each batch where the last one stopped: memory stays flat however
    # long the history, and no cursor is held open across an await.
    after = ""
    key: tuple[object, ...] = ()
    left = limit if limit > 0 else MAX_EXPORT
    while left > 0:
        batch = min(left, CSV_ROWS_PER_WRITE)
        joiner = " AND " if where else " WHERE "
        rows = ctx.db.execute(
            f"SELECT {_COLUMNS} FROM job_archive{where}{after and joiner + after}"
            f" ORDER BY {NEWEST_FIRST} LIMIT ? OFFSET ?",
            (*params, *key, batch, offset),
        ).fetchall()
        if not rows:
            break
        await answer.write(csv_lines(rows, header=False).encode("utf-8"))
        left -= len(rows)
        offset = 0
        last = rows[-1]
        after = "(started_at, printer, job_id) < (?, ?, ?)"
        key = (last["started_at"], last["printer"], last["job_id"])
    await answer.write_eof()
    return answer


_FIGURES = (
    "COUNT(*) AS jobs,"
    " SUM(outcome = 'completed') AS completed,"
    " SUM(outcome = 'failed') AS failed,"
    " SUM(outcome = 'cancelled') AS cancelled,"
    " SUM(outcome = 'interrupted') AS interrupted,"
    " TOTAL(duration) AS seconds,"
    " TOTAL(filament_mm) AS filament_mm"
)


def figures(row: sqlite3.Row) -> dict[str, Any]:
    jobs = int(row["jobs"] or 0)
    completed = int(row["completed"] or 0)
    return {
        "jobs": jobs,
        "completed": completed,
        "failed": int(row["failed"] or 0),
        "cancelled": int(row["cancelled"] or 0),
        "interrupted": int(row["interrupted"] or 0),
        "success_rate": round(completed / jobs, 4) if jobs else None,
        "print_hours": round(float(row["seconds"]) / 3600, 3),
        "filament_m": round(float(row["filament_mm"]) / 1000, 3),
    }


async def stats(request: web.Request) -> web.Response:
    """Per printer, per user and in total: jobs by outcome, success rate, hours, filament."""
    ctx = context(request)
    chosen = filters(request)
    where, params = chosen.where()
    by_printer = ctx.db.execute(
        f"SELECT printer, {_FIGURES} FROM job_archive{where} GROUP BY printer ORDER BY printer",
        params,
    ).fetchall()
    by_user = ctx.db.execute(
        f"SELECT started_by, {_FIGURES} FROM job_archive{where}"
        " GROUP BY started_by ORDER BY started_by",
        params,
    ).fetchall()
    total = ctx.db.execute(f"SELECT {_FIGURES} FROM job_archive{where}", params).fetchone()
    fleet = ctx.fleet
    return web.json_response(
        {
            "since": chosen.since,
            "until": chosen.until,
            "printers": [
                {
                    "printer": row["printer"],
                    "removed": fleet.printer(row["printer"]) is None,
                    **figures(row),
                }
                for row in by_printer
            ],
            "users": [{"user": row["started_by"], **figures(row)} for row in by_user],
            "total": figures(total),
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/history", list_history)
    app.router.add_get("/api/history.csv", export_csv)
    app.router.add_get("/api/stats", stats)
