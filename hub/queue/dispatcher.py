"""The fleet queue's dispatcher: sends queued jobs to ready printers and follows them.

Woken whenever ``ctx.live`` changes, and every ``TICK`` seconds anyway. Each
round it first follows the entries already on a printer, then gives each
ready printer (online, idle, bed confirmed clear) the first queued entry that
fits it, in queue order (priority, then position).

- The one dispatch check (hub/dispatch/check.py) decides whether an entry may start
  on a printer: printer idle, bed clear, profile, power, spool, maintenance, heat-up
  budget, with the entry's admin overrides. A printer whose power device is known
  off is switched on first (the power service staggers and waits for the link);
  the entry stays queued meanwhile and goes in a later round.
- Staggered heat-up: with ``max_heating`` > 0 in fleet.json, a job starts only
  while fewer printers than that are heating (``PrinterLive.heating``, plus
  jobs sent in the last ``HEAT_GRACE`` seconds that have not reported heating).
- Sending is the print server's upload-and-print (``POST /api/v1/files``,
  ``print=true``) in the submitter's name. A refusal (409 busy / bed not clear,
  any 4xx or 5xx) leaves the entry queued with the reason; that printer is not
  asked again for that entry for ``REFUSAL_PAUSE`` seconds. A print server that
  stops answering before it confirmed also leaves it queued.
- Following: the printer's ``job`` (printing) and ``last_job`` (outcome) say
  how it goes. A print server unreachable for ``LOST_AFTER`` seconds mid-print
  marks the entry interrupted; it is never sent again by itself (the part may
  still be on the bed): a person requeues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import CONTEXT, HubContext
from hub.db import disk_full
from hub.dispatch.check import (
    Item,
    JobSide,
    PrinterSide,
    SiteRules,
    check,
    parse_overrides,
    printer_items,
    spool_holds,
)
from hub.dispatch.sources import Sources, sources
from hub.fleet.live import PrinterLive
from hub.fleet.roster import FleetPrinter
from hub.queue import store as queue_store
from hub.queue.match import Needs, Target, TargetError, fits
from hub.queue.store import Job
from hub.records import audit

log = logging.getLogger(__name__)

TICK = 2.0
HEAT_GRACE = 15.0
REFUSAL_PAUSE = 30.0
LOST_AFTER = 5.0
# How long after a start the hub looks for an entry it was sending on its printer.
ADOPT_WITHIN = 15.0
CAUGHT_SENDING = (
    "the hub restarted while sending it and its printer shows no sign of it; "
    "check the printer, then requeue"
)
# An upload of a large file may take minutes; only silence ends it.
SEND_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=120)
OUTCOMES = {
    "completed": "done",
    "cancelled": "cancelled",
    "failed": "failed",
    "interrupted": "interrupted",
}


def needs_of(job: Job) -> Needs:
    try:
        target = Target.parse(job.target)
    except TargetError:
        target = Target("printer", "")  # fits nothing; the API never stores one
    return Needs(target, job.tags, job.file.material, job.file.nozzle, job.file.box)


def job_side(job: Job) -> JobSide:
    """What the dispatch check needs of a queue entry."""
    return JobSide(needs_of(job), job.file.filament_mm, parse_overrides(",".join(job.overrides)))


# Entries that ask the same of a printer, with their places in the queue.
Group = tuple[JobSide, list[tuple[int, Job]]]


def group_entries(queued: list[Job]) -> list[Group]:
    """``queued`` (in queue order) grouped by what they ask: needs, filament, overrides."""
    groups: dict[tuple[object, ...], Group] = {}
    for index, job in enumerate(queued):
        wanted = job_side(job)
        key = (wanted.needs, wanted.filament_mm, tuple(sorted(wanted.overrides.items())))
        found = groups.get(key)
        if found is None:
            groups[key] = (wanted, [(index, job)])
        else:
            found[1].append((index, job))
    return list(groups.values())


# A printer item that holds every job (no override can lift it).
FIRM = ("printer", "bed")


def printer_file_name(job: Job) -> str:
    """The name a queued file gets on a printer: ``q<file id>-<name>``."""
    return f"q{job.file.id}-{job.file.name}"


@dataclass
class Dispatcher:
    ctx: HubContext
    sources: Sources = field(default_factory=Sources)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Printer → when we last sent it a job (for the heat-up stagger).
    sent_at: dict[str, float] = field(default_factory=dict)
    # Printers that reported heating since their last send.
    seen_heating: set[str] = field(default_factory=set)
    # (entry, printer) → until when not to ask that printer again.
    refused: dict[tuple[int, str], float] = field(default_factory=dict)
    # Printer → since when it has been unreachable (while an entry is on it).
    lost_since: dict[str, float] = field(default_factory=dict)
    sending: set[str] = field(default_factory=set)
    # Printer → the entry it is being switched on for.
    powering: dict[str, int] = field(default_factory=dict)
    # Printers whose spool is being looked up in Spoolman before a send.
    confirming: set[str] = field(default_factory=set)
    # Entries whose end is being read from their printer's history.
    looking: set[int] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    rounds: int = 0
    # Entry → the job its printer started, not written yet: the hub's disk was full.
    unwritten: dict[int, int] = field(default_factory=dict)
    # Entries a restart caught between "send" and the printer's answer → since when.
    unconfirmed: dict[int, float] = field(default_factory=dict)

    def poke(self, _live: PrinterLive | None = None) -> None:
        if _live is not None and _live.heating:
            self.seen_heating.add(_live.name)
        self.wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK):
                    await self.wake.wait()
            self.wake.clear()
            try:
                self.round()
            except Exception:
                log.exception("a dispatch round failed; trying again")

    def round(self) -> None:
        self.rounds += 1
        self.write_unwritten()
        self.follow()
        self.dispatch()

    # -- following jobs on printers -------------------------------------------------

    def follow(self) -> None:
        db, now = self.ctx.db, time.time()
        for job in queue_store.jobs(db, queue_store.ACTIVE):
            if job.id in self.unconfirmed and job.printer_job is None:
                self.adopt(job, now)
                continue
            if job.printer is None or job.printer_job is None:
                continue  # still being sent
            live = self.ctx.live.printers.get(job.printer)
            if live is None or not live.online:
                since = self.lost_since.setdefault(job.printer, now)
                if now - since >= LOST_AFTER:
                    self.end(job, "interrupted", f"{job.printer}'s print server stopped answering")
                continue
            self.lost_since.pop(job.printer, None)
            current = live.status.get("job") or {}
            last = live.status.get("last_job") or {}
            if current.get("id") == job.printer_job:
                if job.state == "sent":
                    queue_store.transition(db, job.id, ("sent",), state="printing", started_at=now)
            elif last.get("id") == job.printer_job and last.get("outcome"):
                self.end(job, OUTCOMES.get(last["outcome"], "failed"), last.get("reason"))
            elif (
                isinstance(last.get("id"), int)
                and last["id"] > job.printer_job
                and job.id not in self.looking
            ):
                # Ours ended while we were not looking: its record says how.
                self.looking.add(job.id)
                self.spawn(self.look_up(job))

    def adopt(self, job: Job, now: float) -> None:
        """An entry the hub was sending when it stopped: if its printer took it (its job, or
        its last one, prints the entry's file name since it was sent), it is followed as if
        the answer had come; after ``ADOPT_WITHIN`` s without a sign of it, it is interrupted
        (it may still be on its way: a person looks, then requeues). Never sent again by
        itself: the soak (docs/soak.md) found a restart mid-send printing an entry twice."""
        live = self.ctx.live.printers.get(job.printer or "")
        name = printer_file_name(job)
        if live is not None and live.online:
            current = live.status.get("job") or {}
            last = live.status.get("last_job") or {}
            since = (job.sent_at or 0.0) - 1.0
            for seen in (current, last):
                started = seen.get("started_at")
                if seen.get("file") == name and isinstance(seen.get("id"), int) and (
                    seen is current or (isinstance(started, (int, float)) and started >= since)
                ):  # fmt: skip
                    queue_store.update(self.ctx.db, job.id, printer_job=seen["id"])
                    del self.unconfirmed[job.id]
                    log.info("queue entry %d found on %s as job %d after a restart",
                             job.id, job.printer, seen["id"])  # fmt: skip
                    return
        if now - self.unconfirmed[job.id] >= ADOPT_WITHIN:
            del self.unconfirmed[job.id]
            self.end(job, "interrupted", CAUGHT_SENDING)

    def end(self, job: Job, state: str, reason: str | None) -> None:
        ended = queue_store.transition(
            self.ctx.db, job.id, queue_store.ACTIVE, state=state, ended_at=time.time(),
            reason=reason,
        )  # fmt: skip
        if ended:
            log.info("queue entry %d on %s: %s", job.id, job.printer, state)
            queue_store.release_files(self.ctx.db, self.ctx.config.data_dir)

    async def look_up(self, job: Job) -> None:
        try:
            await self._look_up(job)
        finally:
            self.looking.discard(job.id)

    async def _look_up(self, job: Job) -> None:
        printer = self.ctx.fleet.printer(job.printer or "")
        if printer is None:
            return
        path = f"/api/v1/history/{job.printer_job}"
        try:
            async with self.ctx.client.request("GET", printer, path) as answer:
                if answer.status == 404:
                    self.end(job, "interrupted", f"{printer.name} has no record of it")
                    return
                record: Any = await answer.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return
        outcome = record.get("outcome") if isinstance(record, dict) else None
        if outcome:
            self.end(job, OUTCOMES.get(outcome, "failed"), record.get("reason"))

    # -- dispatching ----------------------------------------------------------------

    def heating(self, now: float) -> int:
        """Printers heating, or just sent a job and not yet seen heating."""
        count = 0
        for name, live in self.ctx.live.printers.items():
            if (
                live.heating
                or name in self.sending
                or name in self.powering
                or name in self.confirming
                or (now - self.sent_at.get(name, 0) < HEAT_GRACE and name not in self.seen_heating)
            ):
                count += 1
        return count

    def choose(
        self,
        printer: FleetPrinter,
        queued: list[Job],
        occupied: dict[str, str],
        heating: int,
        groups: list[Group] | None = None,
    ) -> tuple[Job, bool] | None:
        """The first queued entry the dispatch check lets start on ``printer`` now, and
        whether the printer must be switched on first; None when none may.

        ``groups`` are ``queued`` grouped by :func:`group_entries` (once per round): entries
        that ask the same (copies of one file, the same target and overrides) are checked
        once per printer.
        """
        name = printer.name
        if name in self.powering or name in self.confirming:
            return None
        live = self.ctx.live.printers.get(name) or PrinterLive(name)
        power = self.sources.power_of(name)
        # Known off (the board may still answer over USB while its supply is off): the
        # queue switches it on before it sends a job.
        powers_on = (
            power is not None
            and power.known
            and power.on is False
            and self.sources.power is not None
            and live.online
        )
        rules = self.sources.rules(self.ctx.fleet)
        side = self.sources.side(
            printer, live, heating=heating, occupied_by=occupied.get(name), powers_on=powers_on
        )
        known = printer_items(side, rules)
        if any(known[code].verdict == "hold" for code in FIRM):
            return None
        holding = {code for code, item in known.items() if item.verdict == "hold"}
        best: tuple[int, Job] | None = None
        for wanted, entries in groups if groups is not None else group_entries(queued):
            if holding and holding - wanted.overrides.keys():
                continue  # a printer item holds it and is not overridden for these entries
            first = next(((i, j) for i, j in entries if (j.id, name) not in self.refused), None)
            if first is None or (best is not None and first[0] > best[0]):
                continue
            if self._lets_start(wanted, side, rules, known):
                best = first
        return None if best is None else (best[1], powers_on)

    @staticmethod
    def _lets_start(
        wanted: JobSide, side: PrinterSide, rules: SiteRules, known: dict[str, Item]
    ) -> bool:
        """The check for one entry on one printer, cheapest items first."""
        overrides = wanted.overrides
        if "spool" not in overrides and spool_holds(wanted, side, rules):
            return False
        if "profile" not in overrides and not fits(wanted.needs, side.printer):
            return False
        return check(wanted, side, rules, known=known).ready

    def dispatch(self) -> None:
        db, fleet, now = self.ctx.db, self.ctx.fleet, time.time()
        queued = queue_store.jobs(db, ("queued",))
        if not queued:
            return
        occupied = {
            j.printer: j.file.name
            for j in queue_store.jobs(db, queue_store.ACTIVE)
            if j.printer is not None
        }
        heating = self.heating(now)
        for key, until in list(self.refused.items()):
            if until < now:
                del self.refused[key]
        switch_on: list[tuple[FleetPrinter, Job]] = []
        groups = group_entries(queued)
        for printer in fleet.printers:
            if not queued:
                break
            chosen = self.choose(printer, queued, occupied, heating, groups)
            if chosen is None:
                continue
            job, power_first = chosen
            if power_first:
                # Printers already on go first; this one is switched on after the round
                # if its entry is still waiting then.
                switch_on.append((printer, job))
                continue
            queued.remove(job)
            for _wanted, entries in groups:
                entries[:] = [(i, j) for i, j in entries if j.id != job.id]
            occupied[printer.name] = job.file.name
            heating += 1
            if self.sources.spools is not None and self.sources.spools.enabled:
                # Spoolman is asked afresh before the spool is trusted with a job.
                self.confirming.add(printer.name)
                self.spawn(self.confirm_spool(job, printer))
                continue
            self.send_now(job, printer)
        for printer, job in switch_on:
            if job not in queued or (fleet.max_heating > 0 and heating >= fleet.max_heating):
                continue
            queued.remove(job)
            heating += 1
            self.powering[printer.name] = job.id
            queue_store.update(db, job.id, reason=f"switching {printer.name} on for it")
            self.spawn(self.power_on(job, printer))

    def send_now(self, job: Job, printer: FleetPrinter) -> bool:
        """Mark ``job`` sent to ``printer`` and send it; False when it is no longer queued."""
        db, now = self.ctx.db, time.time()
        if not queue_store.transition(
            db, job.id, ("queued",), state="sent", printer=printer.name, sent_at=now,
            reason=None,
        ):  # fmt: skip
            return False
        self.sending.add(printer.name)
        self.sent_at[printer.name] = now
        self.seen_heating.discard(printer.name)
        audit.kept(db, "hub", "queue dispatch", printer.name,
                   f"entry {job.id}: {job.file.name} for {job.submitted_by}")  # fmt: skip
        self.spawn(self.send(job, printer))
        return True

    async def confirm_spool(self, job: Job, printer: FleetPrinter) -> None:
        """Ask Spoolman again about ``printer``'s spool, then send ``job`` only if the check
        still lets it start (Spoolman down or the spool gone meanwhile holds it)."""
        try:
            spools = self.sources.spools
            if spools is not None:
                await spools.refresh(printer.name)
            fresh = queue_store.get(self.ctx.db, job.id)
            if fresh is None or fresh.state != "queued":
                return
            occupied = {
                j.printer: j.file.name
                for j in queue_store.jobs(self.ctx.db, queue_store.ACTIVE)
                if j.printer is not None
            }
            self.confirming.discard(printer.name)
            chosen = self.choose(printer, [fresh], occupied, self.heating(time.time()))
            if chosen is not None and not chosen[1]:
                self.send_now(fresh, printer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("confirming %s's spool for entry %d failed", printer.name, job.id)
        finally:
            self.confirming.discard(printer.name)
            self.wake.set()

    async def power_on(self, job: Job, printer: FleetPrinter) -> None:
        """Switch ``printer`` on for ``job``; the entry goes in a later round once it is up."""
        power = self.sources.power
        try:
            if power is None:
                return
            await power.ensure_on(printer.name)  # staggered, audited, waits for the link
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.refused[(job.id, printer.name)] = time.time() + REFUSAL_PAUSE
            queue_store.transition(
                self.ctx.db, job.id, ("queued",),
                reason=f"{printer.name} could not be switched on: {error}",
            )  # fmt: skip
            log.warning("switching %s on for entry %d failed: %s", printer.name, job.id, error)
        else:
            queue_store.transition(self.ctx.db, job.id, ("queued",), reason=None)
        finally:
            self.powering.pop(printer.name, None)
            self.wake.set()

    def check_for(self, job: Job, printer: FleetPrinter) -> list[Item]:
        """The dispatch check's items for ``job`` on ``printer`` now (for the queue's page)."""
        occupied = {
            j.printer: j.file.name
            for j in queue_store.jobs(self.ctx.db, queue_store.ACTIVE)
            if j.printer is not None
        }
        live = self.ctx.live.printers.get(printer.name) or PrinterLive(printer.name)
        side = self.sources.side(
            printer, live, heating=self.heating(time.time()), occupied_by=occupied.get(printer.name)
        )
        return list(check(job_side(job), side, self.sources.rules(self.ctx.fleet)).items)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def back_to_queue(self, job: Job, printer: FleetPrinter, reason: str) -> None:
        self.refused[(job.id, printer.name)] = time.time() + REFUSAL_PAUSE
        queue_store.transition(
            self.ctx.db, job.id, ("sent",), state="queued", printer=None, sent_at=None,
            reason=f"{printer.name}: {reason}",
        )  # fmt: skip
        self.sent_at.pop(printer.name, None)

    async def send(self, job: Job, printer: FleetPrinter) -> None:
        path = queue_store.file_path(self.ctx.config.data_dir, job.file.id)
        try:
            with path.open("rb") as source:
                form = aiohttp.FormData()
                form.add_field("print", "true")
                # Its own name on the printer, replaced by the next copy: copies do not pile up.
                form.add_field("overwrite", "true")
                form.add_field("file", source, filename=printer_file_name(job),
                               content_type="application/octet-stream")  # fmt: skip
                async with self.ctx.client.request(
                    "POST", printer, "/api/v1/files", user=job.submitted_by, data=form,
                    timeout=SEND_TIMEOUT,
                ) as answer:  # fmt: skip
                    text = await answer.text()
                    status = answer.status
        except FileNotFoundError:
            gone = "its file is gone from the hub"
            queue_store.transition(
                self.ctx.db, job.id, ("sent",), state="failed", ended_at=time.time(), reason=gone
            )
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            self.back_to_queue(job, printer, f"did not answer ({error or type(error).__name__})")
            return
        finally:
            self.sending.discard(printer.name)
            self.wake.set()
        body: Any = None
        with contextlib.suppress(ValueError):
            body = json.loads(text)
        if status == 201 and isinstance(body, dict) and isinstance(body.get("job"), int):
            log.info("queue entry %d printing on %s as job %d", job.id, printer.name, body["job"])
            self.unwritten[job.id] = body["job"]
            self.write_unwritten()
            return
        message = body.get("error") if isinstance(body, dict) else None
        self.back_to_queue(job, printer, f"refused ({status}): {message or text[:200]}")

    def write_unwritten(self) -> None:
        """Write which job each printer started; on a full disk a later round tries again
        (the entry stays sent, its printer occupied: nothing is sent twice)."""
        for entry, printer_job in list(self.unwritten.items()):
            try:
                queue_store.update(self.ctx.db, entry, printer_job=printer_job)
            except sqlite3.OperationalError as error:
                if not disk_full(error):
                    raise
                log.warning("the disk is full: entry %d's printer job waits to be written", entry)
                return
            del self.unwritten[entry]

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


DISPATCHER = web.AppKey("dispatcher", Dispatcher)


def setup(app: web.Application) -> None:
    ctx = app[CONTEXT]
    caught = queue_store.recover(ctx.db, ctx.config.data_dir)
    dispatcher = app[DISPATCHER] = Dispatcher(ctx, sources(app))
    dispatcher.unconfirmed = dict.fromkeys(caught, time.time())
    runner: list[asyncio.Task[None]] = []
    unsubscribe: list[Any] = []

    async def start(app: web.Application) -> None:
        unsubscribe.append(ctx.live.subscribe(dispatcher.poke))
        runner.append(asyncio.create_task(dispatcher.run(), name="queue dispatcher"))

    async def stop(app: web.Application) -> None:
        for cancel in unsubscribe:
            cancel()
        for task in runner:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dispatcher.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
