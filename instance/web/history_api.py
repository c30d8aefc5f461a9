"""Job history in the native API: filtered lists, one job, its temperatures, CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from instance.job_records import JobOutcome, JobRecord
from instance.timelapse import notes
from instance.web import bodies
from instance.web.context import context, job_record_json
from instance.web.errors import ApiError

CSV_COLUMNS = (
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
MAX_LIMIT = 10000


def _time(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, f"query parameter {name!r} must be an ISO date (2026-11-22) or a Unix time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _search(request: web.Request, default_limit: int) -> list[dict[str, Any]]:
    ctx = context(request)
    raw_outcome = request.query.get("outcome") or None
    outcome = None
    if raw_outcome is not None:
        try:
            outcome = JobOutcome(raw_outcome)
        except ValueError:
            known = ", ".join(o.value for o in JobOutcome)
            raise ApiError(400, f"outcome must be one of {known}") from None
    records = ctx.printer.records.search(
        outcome=outcome,
        file_name=request.query.get("file") or None,
        since=_time(request, "since"),
        until=_time(request, "until"),
        limit=bodies.query_whole(request, "limit", default_limit, low=1, high=MAX_LIMIT),
        offset=bodies.query_whole(request, "offset", 0, low=0, high=2**31),
    )
    return [job_record_json(record) for record in records]


async def list_history(request: web.Request) -> web.Response:
    return web.json_response({"jobs": _search(request, 50)})


async def export_csv(request: web.Request) -> web.Response:
    jobs = _search(request, MAX_LIMIT)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for job in jobs:
        row = dict(job)
        for key in ("started_at", "ended_at"):
            if row[key] is not None:
                row[key] = datetime.fromtimestamp(row[key], UTC).isoformat(timespec="seconds")
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="job-history.csv"'},
    )


def _job_id(request: web.Request) -> int:
    raw = request.match_info["job"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, f"no job {raw!r}")
    return int(raw)


def _recorded(request: web.Request) -> JobRecord:
    """The job the path names; 404 unless it is recorded."""
    job_id = _job_id(request)
    record = context(request).printer.records.get(job_id)
    if record is None:
        raise ApiError(404, f"no job {job_id} is recorded")
    return record


async def get_job_record(request: web.Request) -> web.Response:
    ctx = context(request)
    record = _recorded(request)
    job_id = record.id
    body = job_record_json(record)
    body["warnings"] = [
        {"at": w.at, "kind": w.kind, "message": w.message, "line": w.line, "text": w.text}
        for w in ctx.printer.records.warnings(job_id)
    ]
    return web.json_response(body)


async def get_job_temperatures(request: web.Request) -> web.Response:
    ctx = context(request)
    samples = ctx.printer.records.temperatures(_recorded(request).id)
    if samples is None:
        return web.json_response({"times": [], "series": {}})
    return web.json_response(
        {
            "times": samples.times(),
            "series": {name: samples.values(name) for name in samples.series},
        }
    )


async def get_job_timelapse(request: web.Request) -> web.StreamResponse:
    """The job's timelapse video (MP4, with range requests), or why there is none."""
    ctx = context(request)
    record = _recorded(request)
    job_id = record.id
    timelapse = record.timelapse
    if timelapse is None or ctx.timelapse is None:
        raise ApiError(404, f"job {job_id} has no timelapse")
    state = timelapse.get("state")
    if state != notes.READY:
        said = "; ".join(str(note) for note in timelapse.get("notes", []))
        raise ApiError(404, f"job {job_id}'s timelapse is {state}" + (f": {said}" if said else ""))
    path = ctx.timelapse.video(job_id)
    if not path.is_file():
        raise ApiError(404, f"job {job_id}'s timelapse video is missing from the print server")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "video/mp4",
            "Content-Disposition": f'inline; filename="{ctx.config.printer}-job-{job_id}.mp4"',
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/history", list_history)
    app.router.add_get("/api/v1/history.csv", export_csv)
    app.router.add_get("/api/v1/history/{job}", get_job_record)
    app.router.add_get("/api/v1/history/{job}/temperatures", get_job_temperatures)
    app.router.add_get("/api/v1/history/{job}/timelapse.mp4", get_job_timelapse)
