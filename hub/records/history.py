"""The fleet's job archive: every ended job of every printer, kept in the hub's database.

Each print server keeps its own history (``GET /api/v1/history``, docs/web-api.md).
The hub copies it into ``job_archive``: at start, when a printer's live state
leaves a busy state (its job just ended) or its print server answers again, and
every ``SYNC_INTERVAL`` seconds. A job is known by (printer, job id, start time)
and written with an upsert, so a job fetched twice is stored once, and a print
server whose own history was reset (a new volume numbers its jobs from 1 again)
does not overwrite the jobs archived before. A printer removed from the fleet or
offline keeps its archived jobs.

Only ended jobs are archived (a running job is the dashboard's business). Jobs
on one printer run one after the other, so everything started before the newest
archived job is archived already: each sync asks only for jobs started since then.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import CONTEXT, HubContext
from hub.fleet.live import BUSY, PrinterLive
from hub.running import cancel_all, every

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_archive (
    printer TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    file TEXT NOT NULL,
    started_by TEXT,
    duration REAL,
    outcome TEXT NOT NULL,
    reason TEXT,
    filament_mm REAL,
    archived_at REAL NOT NULL,
    timelapse INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (printer, job_id, started_at)
);
CREATE INDEX IF NOT EXISTS job_archive_by_start ON job_archive (started_at);
CREATE INDEX IF NOT EXISTS job_archive_by_user ON job_archive (started_by, started_at);
"""

OUTCOMES = ("completed", "cancelled", "failed", "interrupted")
SYNC_INTERVAL = 60.0
# Jobs asked for per request while catching up.
PAGE = 500
# A print server that keeps sending full pages past this many jobs is not believed.
MAX_PAGES = 2000
# The longest text kept of a file name, user or reason (a print server is trusted, not blindly).
MAX_TEXT = 1000


@dataclass(frozen=True, slots=True)
class ArchivedJob:
    printer: str
    job_id: int
    started_at: float
    ended_at: float
    file: str
    started_by: str | None
    duration: float | None
    outcome: str
    reason: str | None
    filament_mm: float | None
    # The print server recorded a timelapse for it (its video is served there).
    timelapse: bool = False


@dataclass(slots=True)
class SyncStatus:
    """How the last copy of one printer's history went."""

    printer: str
    synced_at: float | None = None
    error: str | None = None
    jobs_added: int = 0


@dataclass(frozen=True, slots=True)
class _Seen:
    """What one live update said that matters here."""

    state: str
    online: bool
    # (id, ended_at) of the print server's last job.
    last_job: tuple[Any, Any] | None


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_job(printer: str, raw: Any) -> ArchivedJob | None:
    """One entry of a print server's history; None when it is still running or not a job."""
    if not isinstance(raw, dict):
        return None
    job_id = raw.get("id")
    started = _number(raw.get("started_at"))
    ended = _number(raw.get("ended_at"))
    outcome = raw.get("outcome")
    file = _text(raw.get("file"))
    if (
        not isinstance(job_id, int)
        or isinstance(job_id, bool)
        or not 0 <= job_id < 2**62
        or started is None
        or ended is None
        or outcome not in OUTCOMES
        or file is None
    ):
        return None
    duration = _number(raw.get("duration"))
    return ArchivedJob(
        printer=printer,
        job_id=job_id,
        started_at=started,
        ended_at=ended,
        file=file,
        started_by=_text(raw.get("started_by")),
        duration=duration if duration is not None else max(0.0, ended - started),
        outcome=str(outcome),
        reason=_text(raw.get("reason")),
        filament_mm=_number(raw.get("filament_mm")),
        timelapse=isinstance(raw.get("timelapse"), dict),
    )


def store(db: sqlite3.Connection, jobs: list[ArchivedJob]) -> int:
    """Upsert ``jobs``; how many were new."""
    now = time.time()
    added = 0
    db.execute("BEGIN")
    try:
        for job in jobs:
            known = db.execute(
                "SELECT 1 FROM job_archive WHERE printer = ? AND job_id = ? AND started_at = ?",
                (job.printer, job.job_id, job.started_at),
            ).fetchone()
            added += known is None
            db.execute(
                "INSERT INTO job_archive (printer, job_id, started_at, ended_at, file, started_by,"
                " duration, outcome, reason, filament_mm, archived_at, timelapse)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (printer, job_id, started_at) DO UPDATE SET"
                " ended_at = excluded.ended_at, file = excluded.file,"
                " started_by = excluded.started_by, duration = excluded.duration,"
                " outcome = excluded.outcome, reason = excluded.reason,"
                " filament_mm = excluded.filament_mm, timelapse = excluded.timelapse",
                (
                    job.printer, job.job_id, job.started_at, job.ended_at, job.file,
                    job.started_by, job.duration, job.outcome, job.reason, job.filament_mm, now,
                    int(job.timelapse),
                ),
            )  # fmt: skip
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return added


def newest_start(db: sqlite3.Connection, printer: str) -> float | None:
    row = db.execute(
        "SELECT MAX(started_at) FROM job_archive WHERE printer = ?", (printer,)
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


class SyncError(Exception):
    """A print server's history could not be read; the message says why."""


class HistoryArchive:
    """Copies every printer's history into ``job_archive``; one sync per printer at a time."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.status: dict[str, SyncStatus] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._previous: dict[str, _Seen] = {}
        self._tasks: set[asyncio.Task[SyncStatus]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    async def fetch(self, printer: str, since: float | None) -> list[ArchivedJob]:
        """Every ended job of ``printer`` started at or after ``since`` (all when None)."""
        fleet_printer = self.ctx.fleet.printer(printer)
        if fleet_printer is None:
            raise SyncError("not in the fleet")
        found: list[ArchivedJob] = []
        for page in range(MAX_PAGES):
            query = {"limit": str(PAGE), "offset": str(page * PAGE)}
            if since is not None:
                query["since"] = repr(since)
            try:
                async with self.ctx.client.request(
                    "GET", fleet_printer, "/api/v1/history", params=query
                ) as answer:
                    if answer.status != 200:
                        raise SyncError(f"GET /api/v1/history answered {answer.status}")
                    body = await answer.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                raise SyncError(str(error) or type(error).__name__) from None
            raw_jobs = body.get("jobs") if isinstance(body, dict) else None
            if not isinstance(raw_jobs, list):
                raise SyncError("GET /api/v1/history did not answer {'jobs': [...]}")
            found.extend(job for raw in raw_jobs if (job := parse_job(printer, raw)) is not None)
            if len(raw_jobs) < PAGE:
                break
        return found

    async def sync(self, printer: str) -> SyncStatus:
        """Copy ``printer``'s jobs not archived yet; its status (never raises for I/O)."""
        lock = self._locks.setdefault(printer, asyncio.Lock())
        status = self.status.setdefault(printer, SyncStatus(printer))
        async with lock:
            try:
                jobs = await self.fetch(printer, newest_start(self.ctx.db, printer))
                status.jobs_added = store(self.ctx.db, jobs)
                status.synced_at = time.time()
                status.error = None
                if status.jobs_added:
                    log.info("%s: %d jobs archived", printer, status.jobs_added)
            except SyncError as error:
                if status.error != str(error):
                    log.warning("%s: the job history could not be read: %s", printer, error)
                status.error = str(error)
            except sqlite3.Error as error:
                log.exception("%s: archiving jobs failed", printer)
                status.error = f"the hub's database: {error}"
        return status

    async def sync_all(self) -> None:
        names = [p.name for p in self.ctx.fleet.printers]
        for name in list(self.status):
            if name not in names:
                self.status.pop(name)
        await asyncio.gather(*(self.sync(name) for name in names))

    def soon(self, printer: str) -> None:
        """Sync one printer in the background."""
        task = asyncio.get_running_loop().create_task(self.sync(printer), name=f"sync {printer}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[SyncStatus]) -> None:
        self._tasks.discard(task)

    def changed(self, live: PrinterLive) -> None:
        """A live update: a job that just ended, or a print server that answers again (or
        no longer does: its status says so at once)."""
        # Called inside the live state's update: it must never raise.
        try:
            last = live.status.get("last_job")
            ended = (last.get("id"), last.get("ended_at")) if isinstance(last, dict) else None
            now = _Seen(live.state, live.online, ended)
            before = self._previous.get(live.name)
            self._previous[live.name] = now
            if before is None:
                return
            # A short job may start and end between two events: its last job tells.
            if (
                (before.state in BUSY and now.state not in BUSY)
                or now.online != before.online
                or (now.last_job != before.last_job and now.last_job is not None)
            ):
                self.soon(live.name)
        except Exception:
            log.exception("%s: archiving after a change failed", live.name)

    def start(self) -> None:
        self._unsubscribe = self.ctx.live.subscribe(self.changed)
        self._loop_task = asyncio.get_running_loop().create_task(
            every(SYNC_INTERVAL, self.sync_all, "archiving the fleet's jobs"), name="archive jobs"
        )

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await cancel_all([*self._tasks, self._loop_task])


HISTORY = web.AppKey("job archive", HistoryArchive)


def setup(app: web.Application) -> None:
    archive = app[HISTORY] = HistoryArchive(app[CONTEXT])

    async def start(app: web.Application) -> None:
        archive.start()

    async def stop(app: web.Application) -> None:
        await archive.stop()

    app.on_startup.append(start)
    # Before the shared client session closes (also on_cleanup).
    app.on_cleanup.insert(0, stop)
