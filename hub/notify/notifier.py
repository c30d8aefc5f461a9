"""Sending notices: following the live state for jobs that end, and delivering in the background.

Events come from the live state (``ctx.live``): a printer whose state changes to
``finished``, ``failed`` or ``bed not cleared`` (or goes ``offline`` right after
its job was interrupted) has a job that just ended. Each target hears about one
job once, the first event of it that the target subscribed to; jobs that ended
more than ``RECENT`` seconds ago, or before the target was added, are not sent.

Delivery never makes the hub wait: ``TIMEOUT`` seconds per attempt, retried after
each of ``BACKOFF`` on a connection error, a timeout or a 5xx; the last outcome is
kept with the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import HubContext
from hub.fleet.live import BED_NOT_CLEARED, PrinterLive
from hub.notify.messages import Notice, failure_text, ntfy_message
from hub.notify.targets import Target, claim, targets

# The name these lines have always had in the hub's log.
log = logging.getLogger("hub.notify.service")

# Seconds one delivery attempt may take.
TIMEOUT = 5.0
# Waits before the 1st, 2nd and 3rd retry.
BACKOFF = (1.0, 2.0, 4.0)
# A job that ended longer ago than this is old news (the hub was down meanwhile).
RECENT = 3600.0
# Records of what was sent are kept this long.
KEEP_SENT = 30 * 86400.0
# Deliveries under way at once; more wait their turn.
PARALLEL = 8
# The print server's reason when a person cancelled (any other cancel came from the printer).
USER_CANCEL = "cancelled by the user"
WAITING = frozenset({"finished", "failed", BED_NOT_CLEARED})
# States in which the printer's last job is the one that just ended.
AFTER_JOB = WAITING | {"offline", "connecting"}


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    # Retrying may help (no answer, a timeout, a 5xx, 408, 429).
    retry: bool
    error: str | None = None
    status: int | None = None


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
