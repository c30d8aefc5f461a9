"""Notifications: tell a webhook or an ntfy topic when a print ends or a bed needs clearing.

Targets live in the database and are managed by admins (``/api/notifications``).
Events come from the live state (``ctx.live``): a printer whose state changes to
``finished``, ``failed`` or ``bed not cleared`` (or goes ``offline`` right after
its job was interrupted) has a job that just ended. From that job:

- ``finished``: it completed;
- ``failed``: it failed, was interrupted, or was cancelled by the printer itself;
- ``bed_clear_needed``: the printer waits for someone to clear its bed.

Each target hears about one job once: the first of these it subscribed to (a
target that wants ``finished`` and ``bed_clear_needed`` gets one message for a
completed print, not two). What was sent is kept in the database, so a print
server that reconnects or a hub that restarts does not send it again; jobs that
ended more than ``RECENT`` seconds ago, or before the target was added, are not
sent at all.

Delivery runs in the background (the hub never waits for a target): ``TIMEOUT``
seconds per attempt, retried after each of ``BACKOFF`` on a connection error, a
timeout or a 5xx; the last outcome is kept with the target and shown in the API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import sqlite3
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from hub.auth.current import require_admin
from hub.context import CONTEXT, HubContext, context
from hub.errors import ApiError
from hub.fleet.live import BED_NOT_CLEARED, PrinterLive
from hub.records.audit import record as audit

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    -- Where the hub was reached when the target was added: links in messages start here.
    base_url TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    last_event TEXT,
    last_attempt REAL,
    last_ok INTEGER,
    last_error TEXT,
    last_delivered REAL
);
CREATE TABLE IF NOT EXISTS notify_sent (
    target INTEGER NOT NULL REFERENCES notify_targets (id) ON DELETE CASCADE,
    printer TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    started_at REAL NOT NULL,
    event TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (target, printer, job_id, started_at)
);
"""

KINDS = ("webhook", "ntfy")
EVENTS = ("finished", "failed", "bed_clear_needed")
# Seconds one delivery attempt may take.
TIMEOUT = 5.0
# Waits before the 1st, 2nd and 3rd retry.
BACKOFF = (1.0, 2.0, 4.0)
# A job that ended longer ago than this is old news (the hub was down meanwhile).
RECENT = 3600.0
# Records of what was sent are kept this long.
KEEP_SENT = 30 * 86400.0
MAX_TARGETS = 100
MAX_URL = 2000
MAX_NAME = 100
MAX_BODY = 16 * 1024
# Deliveries under way at once; more wait their turn.
PARALLEL = 8
# The print server's reason when a person cancelled (any other cancel came from the printer).
USER_CANCEL = "cancelled by the user"
WAITING = frozenset({"finished", "failed", BED_NOT_CLEARED})
# States in which the printer's last job is the one that just ended.
AFTER_JOB = WAITING | {"offline", "connecting"}


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    name: str
    kind: str
    url: str
    events: tuple[str, ...]
    base_url: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Notice:
    """What happened, as every kind of target is told."""

    event: str
    printer: str | None
    file: str | None
    outcome: str | None
    reason: str | None
    time: float
    url: str | None

    def payload(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "printer": self.printer,
            "file": self.file,
            "outcome": self.outcome,
            "reason": self.reason,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="seconds"),
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    # Retrying may help (no answer, a timeout, a 5xx, 408, 429).
    retry: bool
    error: str | None = None
    status: int | None = None


# ---------------------------------------------------------------- validation


def check_url(raw: Any) -> str:
    """An http(s) URL with a host, or ApiError 400 saying what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "url is required: the webhook's or the ntfy topic's http(s) URL")
    url = raw.strip()
    if len(url) > MAX_URL:
        raise ApiError(400, f"url is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ApiError(400, "url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        _port = parts.port  # a port that is not a number or out of range raises here
    except ValueError as error:
        raise ApiError(400, f"url is not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = parts.scheme or "none"
        raise ApiError(400, f"url must start with http:// or https:// (scheme {shown!r})")
    if not parts.hostname:
        raise ApiError(400, "url names no host")
    return url


def check_events(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return EVENTS
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise ApiError(400, f"events must be a non-empty list of {', '.join(EVENTS)}")
    unknown = [e for e in raw if e not in EVENTS]
    if unknown:
        raise ApiError(400, f"unknown event {unknown[0][:40]!r}; known: {', '.join(EVENTS)}")
    return tuple(e for e in EVENTS if e in raw)


def check_name(raw: Any, url: str) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return urlsplit(url).hostname or url
    if not isinstance(raw, str):
        raise ApiError(400, "name must be text")
    name = " ".join(raw.split())
    if len(name) > MAX_NAME:
        raise ApiError(400, f"name is longer than {MAX_NAME} characters")
    return name


# ---------------------------------------------------------------- messages


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def header_text(text: str) -> str:
    """``text`` fit for an HTTP header: one line, and RFC 2047 encoded when not ASCII."""
    line = "".join(c if c.isprintable() else " " for c in text)[:250]
    if line.isascii():
        return line
    encoded = base64.b64encode(line.encode("utf-8")).decode("ascii")
    return f"=?UTF-8?B?{encoded}?="


def ntfy_message(notice: Notice, duration: float | None) -> tuple[str, dict[str, str]]:
    """The text and headers (Title, Tags, Priority, Click) of an ntfy message."""
    printer = notice.printer or "a printer"
    file = notice.file or "the print"
    if notice.event == "finished":
        took = f" after {_duration(duration)}" if duration is not None else ""
        title, tags, priority = f"{printer}: print finished", "white_check_mark", "default"
        text = f"{file} finished on {printer}{took}. Clear the bed for the next job."
    elif notice.event == "failed":
        how = "was interrupted" if notice.outcome == "interrupted" else (notice.outcome or "failed")
        title, tags, priority = f"{printer}: print failed", "x", "high"
        text = f"{file} {how} on {printer}" + (f": {notice.reason}" if notice.reason else ".")
    elif notice.event == "bed_clear_needed":
        title, tags, priority = f"{printer}: clear the bed", "broom", "default"
        ended = f" ({file}, {notice.outcome})" if notice.outcome else ""
        text = f"{printer} waits for its bed to be cleared{ended}."
    else:
        title, tags, priority = "fabfleet: test", "bell", "default"
        text = "A test message from the fabfleet hub: this target works."
    headers = {"Title": header_text(title), "Tags": tags, "Priority": priority}
    if notice.url:
        headers["Click"] = header_text(notice.url)
    return text, headers


# ---------------------------------------------------------------- the store


def _target(row: sqlite3.Row) -> Target:
    return Target(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        url=row["url"],
        events=tuple(json.loads(row["events"])),
        base_url=row["base_url"],
        created_at=row["created_at"],
    )


def targets(db: sqlite3.Connection) -> list[Target]:
    return [_target(r) for r in db.execute("SELECT * FROM notify_targets ORDER BY id")]


def target_json(row: sqlite3.Row) -> dict[str, Any]:
    status = None if row["last_ok"] is None else ("delivered" if row["last_ok"] else "failed")
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "last": {
            "status": status,
            "event": row["last_event"],
            "time": row["last_attempt"],
            "error": row["last_error"],
            "delivered_at": row["last_delivered"],
        },
    }


def claim(db: sqlite3.Connection, target: Target, job: dict[str, Any], event: str) -> bool:
    """Note that ``target`` is told about ``job``; False when it was already."""
    try:
        db.execute(
            "INSERT INTO notify_sent (target, printer, job_id, started_at, event, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (target.id, job["printer"], job["id"], job["started_at"], event, time.time()),
        )
    except sqlite3.IntegrityError:
        return False
    return True


# ---------------------------------------------------------------- delivery


def _where(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _os_reason(error: BaseException | None) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "no such host name"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) if error else "no connection"


def failure_text(url: str, error: BaseException) -> str:
    """Why a message did not go out, as a person reads it (not aiohttp's wording)."""
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError) and url.startswith("https:"):
        reason = getattr(error, "os_error", None) or error
        detail = getattr(reason, "reason", None) or getattr(reason, "strerror", None) or reason
        return f"TLS error talking to {_where(url)}: {detail}"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"could not connect to {_where(url)} ({_os_reason(error.os_error)})"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return f"{_where(url)} closed the connection without an answer"
    if isinstance(error, aiohttp.InvalidURL):
        return f"{url} is not a URL the hub can send to"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"{_where(url)} sent an answer that is not HTTP ({error.message})"
    if isinstance(error, OSError):
        return f"could not connect to {_where(url)} ({_os_reason(error)})"
    return f"could not send to {_where(url)}: {error or type(error).__name__}"


class Notifier:
    """Sends notices in the background and follows the live state for events."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Per printer: (state, (id, ended_at) of its last job) at the last update.
        self._previous: dict[str, tuple[str, tuple[Any, Any] | None]] = {}
        self._parallel = asyncio.Semaphore(PARALLEL)
        self._unsubscribe: Any = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Its own session: nothing of the hub's signed identity ever goes to a target.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT),
                headers={"User-Agent": "fabfleet-hub"},
            )
        return self._session

    async def attempt(self, target: Target, notice: Notice, duration: float | None) -> Attempt:
        """One try at telling ``target``."""
        if target.kind == "ntfy":
            text, headers = ntfy_message(notice, duration)
            body = text.encode("utf-8")
            headers["Content-Type"] = "text/plain; charset=utf-8"
        else:
            body = json.dumps(notice.payload()).encode("utf-8")
            headers = {"Content-Type": "application/json"}
        try:
            async with (
                self._parallel,
                self.session.post(
                    target.url, data=body, headers=headers, allow_redirects=False
                ) as answer,
            ):
                if 200 <= answer.status < 300:
                    return Attempt(ok=True, retry=False, status=answer.status)
                retry = answer.status >= 500 or answer.status in (408, 429)
                return Attempt(
                    ok=False, retry=retry, status=answer.status,
                    error=f"the target answered {answer.status} {answer.reason or ''}".strip(),
                )  # fmt: skip
        except TimeoutError:
            return Attempt(ok=False, retry=True, error=f"timed out after {TIMEOUT:g} s (no answer)")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            return Attempt(ok=False, retry=True, error=failure_text(target.url, error))

    def record(self, target: Target, event: str, result: Attempt, attempts: int) -> None:
        now = time.time()
        error = None
        if not result.ok:
            error = result.error or "not delivered"
            if attempts > 1:
                error = f"{error} ({attempts} attempts)"
        self.ctx.db.execute(
            "UPDATE notify_targets SET last_event = ?, last_attempt = ?, last_ok = ?,"
            " last_error = ?, last_delivered = CASE WHEN ? THEN ? ELSE last_delivered END"
            " WHERE id = ?",
            (event, now, int(result.ok), error, int(result.ok), now, target.id),
        )
        if not result.ok:
            log.warning("notification %s to %r failed: %s", event, target.name, error)

    async def deliver(
        self, target: Target, notice: Notice, duration: float | None, retries: int
    ) -> Attempt:
        """Try, then retry up to ``retries`` times with backoff; record the outcome."""
        result = await self.attempt(target, notice, duration)
        tries = 1
        for wait in BACKOFF[:retries]:
            if result.ok or not result.retry:
                break
            await asyncio.sleep(wait)
            result = await self.attempt(target, notice, duration)
            tries += 1
        self.record(target, notice.event, result, tries)
        return result

    def send(self, target: Target, notice: Notice, duration: float | None) -> None:
        """Deliver in the background, with retries."""
        task = asyncio.get_running_loop().create_task(
            self.deliver(target, notice, duration, len(BACKOFF)),
            name=f"notify {target.name}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ events

    def notice_for(self, event: str, job: dict[str, Any], target: Target) -> Notice:
        printer = self.ctx.fleet.printer(job["printer"])
        url = target.base_url + (printer.path.lstrip("/") if printer is not None else "")
        return Notice(
            event=event,
            printer=job["printer"],
            file=job.get("file") if isinstance(job.get("file"), str) else None,
            outcome=job.get("outcome") if isinstance(job.get("outcome"), str) else None,
            reason=job.get("reason") if isinstance(job.get("reason"), str) else None,
            time=float(job["ended_at"]),
            url=url or None,
        )

    def job_ended(self, printer: str, state: str, job: dict[str, Any]) -> None:
        """Tell every target that wants to hear about ``job`` (ended; ``state`` is now)."""
        events: list[str] = []
        outcome = job.get("outcome")
        if outcome == "completed":
            events.append("finished")
        elif outcome in ("failed", "interrupted") or (
            outcome == "cancelled" and job.get("reason") != USER_CANCEL
        ):
            events.append("failed")
        if state in WAITING:
            events.append("bed_clear_needed")
        ended = job.get("ended_at")
        started = job.get("started_at")
        if (
            not events
            or not isinstance(ended, int | float)
            or not isinstance(started, int | float)
            or not isinstance(job.get("id"), int)
            or time.time() - ended > RECENT
        ):
            return
        job = {**job, "printer": printer}
        duration = job.get("duration")
        took = float(duration) if isinstance(duration, int | float) else None
        for target in targets(self.ctx.db):
            if target.created_at > ended:
                continue
            event = next((e for e in events if e in target.events), None)
            if event is None or not claim(self.ctx.db, target, job, event):
                continue
            self.send(target, self.notice_for(event, job, target), took)

    async def newest_job(self, printer: str, state: str) -> None:
        """The state says a job ended but not which (the print server restarted): ask it."""
        fleet_printer = self.ctx.fleet.printer(printer)
        if fleet_printer is None:
            return
        try:
            async with self.ctx.client.request(
                "GET", fleet_printer, "/api/v1/history", params={"limit": "1"}
            ) as answer:
                body = await answer.json(content_type=None) if answer.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            log.info("%s: the last job could not be read for notifications: %s", printer, error)
            return
        jobs = body.get("jobs") if isinstance(body, dict) else None
        newest = jobs[0] if isinstance(jobs, list) and jobs else None
        if isinstance(newest, dict) and newest.get("ended_at") is not None:
            self.job_ended(printer, state, newest)

    def changed(self, live: PrinterLive) -> None:
        """A live update: look at the last job when the state or the last job changed (a
        short job may start and end between two updates)."""
        last = live.status.get("last_job")
        seen = (
            live.state,
            (last.get("id"), last.get("ended_at")) if isinstance(last, dict) else None,
        )
        before = self._previous.get(live.name)
        self._previous[live.name] = seen
        if seen == before or not live.online or live.state not in AFTER_JOB:
            return
        try:
            if isinstance(last, dict) and last.get("ended_at") is not None:
                self.job_ended(live.name, live.state, last)
            elif live.state in WAITING:
                task = asyncio.get_running_loop().create_task(
                    self.newest_job(live.name, live.state)
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:
            # Called inside the live state's update: it must never raise.
            log.exception("%s: notifications for this change failed", live.name)

    # ------------------------------------------------------------ running

    def start(self) -> None:
        self.ctx.db.execute("DELETE FROM notify_sent WHERE sent_at < ?", (time.time() - KEEP_SENT,))
        self._unsubscribe = self.ctx.live.subscribe(self.changed)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()


NOTIFIER = web.AppKey("notifier", Notifier)


# ---------------------------------------------------------------- the API


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
    target = _target(_row(ctx.db, request.match_info["id"]))
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

    async def start(app: web.Application) -> None:
        notifier.start()

    async def stop(app: web.Application) -> None:
        await notifier.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
    app.router.add_get("/api/notifications", list_targets)
    app.router.add_post("/api/notifications", add_target)
    app.router.add_delete("/api/notifications/{id}", remove_target)
    app.router.add_post("/api/notifications/{id}/test", test_target)
