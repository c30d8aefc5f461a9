"""The hub's maintenance service: reads every print server's counters and says which
service tasks are due (docs/maintenance.md).

Counters are read at start, every ``READ_EVERY`` seconds and when a printer's job ends;
the last reading of each printer is kept in memory, so :meth:`MaintenanceService.overdue`
and :meth:`MaintenanceService.due` answer at once, without I/O.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import HubContext
from hub.fleet.live import BUSY, PrinterLive
from hub.fleet.roster import FleetPrinter
from hub.fleet.service_tasks import ServiceTask
from hub.maintenance import store
from hub.maintenance.counters import Counters, CountersError, parse_counters
from hub.maintenance.due import TaskState, assess, tasks_for
from hub.maintenance.store import Done
from hub.running import cancel_all, every

log = logging.getLogger(__name__)

READ_EVERY = 60.0
READ_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=3)


class MaintenanceError(Exception):
    """A service request that cannot be done; ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MaintenanceService:
    """Counters per printer, service records, and the state of every task."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.readings: dict[str, Counters] = {}
        self.errors: dict[str, str] = {}
        self._done = store.last_done(ctx.db)
        self._starts = store.starts(ctx.db)
        self._busy: dict[str, bool] = {}
        # Printers whose counters are being read now.
        self._reading: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None

    # ------------------------------------------------------------ reading

    async def read(self, printer: FleetPrinter) -> Counters | None:
        """Read ``printer``'s counters now; None (and ``errors[name]``) when it cannot."""
        self._reading.add(printer.name)
        try:
            return await self._read(printer)
        finally:
            self._reading.discard(printer.name)

    async def _read(self, printer: FleetPrinter) -> Counters | None:
        try:
            async with self.ctx.client.request(
                "GET", printer, "/api/v1/counters", timeout=READ_TIMEOUT
            ) as answer:
                if answer.status != 200:
                    raise CountersError(f"GET /api/v1/counters answered {answer.status}")
                body = await answer.json(content_type=None)
            counters = parse_counters(body, time.time())
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            message = str(error) or type(error).__name__
            if self.errors.get(printer.name) != message:
                log.warning("%s: the counters could not be read: %s", printer.name, message)
            self.errors[printer.name] = message
            return None
        self.errors.pop(printer.name, None)
        self.readings[printer.name] = counters
        if printer.name not in self._starts:
            # A new printer: its tasks count from here.
            try:
                store.record_start(self.ctx.db, printer.name, counters)
                self._starts[printer.name] = counters
            except sqlite3.Error:
                log.exception("%s: the first counters could not be stored", printer.name)
        return counters

    async def read_all(self) -> None:
        printers = self.ctx.fleet.printers
        names = {p.name for p in printers}
        for name in list(self.readings):
            if name not in names:
                self.readings.pop(name)
        await asyncio.gather(*(self.read(p) for p in printers))

    def changed(self, live: PrinterLive) -> None:
        """A live update: a printer whose job just ended, or one not read yet that answers
        (new in the fleet), is read at once. Never raises."""
        try:
            busy = live.state in BUSY
            was = self._busy.get(live.name)
            self._busy[live.name] = busy
            printer = self.ctx.fleet.printer(live.name)
            unread = live.online and live.name not in self.readings
            if (
                printer is not None
                and ((was and not busy) or unread)
                and live.name not in self._reading
            ):
                task = asyncio.get_running_loop().create_task(self.read(printer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:
            log.exception("%s: reading the counters after a change failed", live.name)

    def start(self) -> None:
        self._unsubscribe = self.ctx.live.subscribe(self.changed)
        self._loop_task = asyncio.get_running_loop().create_task(
            every(READ_EVERY, self.read_all, "reading the fleet's counters"), name="read counters"
        )

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await cancel_all([*self._tasks, self._loop_task])

    # ------------------------------------------------------------- states

    def tasks(self, printer: FleetPrinter) -> list[ServiceTask]:
        return tasks_for(self.ctx.fleet, printer)

    def states(self, name: str) -> list[TaskState]:
        """Every task of printer ``name`` with its state, from the cached counters."""
        printer = self.ctx.fleet.printer(name)
        if printer is None:
            return []
        now = self.readings.get(name)
        found = []
        for task in self.tasks(printer):
            done = self._done.get((name, task.task))
            baseline = done.counters if done is not None else self._starts.get(name)
            found.append(assess(task, name, now, baseline))
        return found

    def overdue(self, printer: str) -> list[str]:
        """A sentence per overdue task of ``printer`` (none for an unknown printer)."""
        return [s.sentence for s in self.states(printer) if s.state == "overdue"]

    def due(self, printer: str) -> list[str]:
        """A sentence per task of ``printer`` that is due or overdue."""
        return [s.sentence for s in self.states(printer) if s.state in ("due", "overdue")]

    # --------------------------------------------------------------- done

    async def mark_done(self, printer: FleetPrinter, task: str, user: str, note: str) -> Done:
        """Record ``task`` done on ``printer`` now, with its counters read afresh (the last
        reading when its print server does not answer)."""
        if task not in {t.task for t in self.tasks(printer)}:
            known = ", ".join(repr(t.task) for t in self.tasks(printer)) or "none"
            raise MaintenanceError(
                404, f"{printer.name} has no service task {task[:100]!r}; its tasks: {known}"
            )
        counters = await self.read(printer)
        if counters is None:
            # A printer being serviced may well be switched off: its counters have not
            # moved since the last reading, which is taken as of now.
            last = self.readings.get(printer.name)
            if last is None:
                why = self.errors.get(printer.name, "no answer")
                raise MaintenanceError(
                    503,
                    f"{printer.name}'s counters were never read ({why}); the task is not"
                    " marked done, try again when its print server answers",
                )
            counters = replace(last, at=time.time())
        done = store.record_done(self.ctx.db, printer.name, task, user, counters, note)
        self._done[(printer.name, task)] = done
        return done

    def log(self, printer: str, limit: int = 100) -> list[Done]:
        return store.log_of(self.ctx.db, printer, limit)


MAINTENANCE = web.AppKey("maintenance", MaintenanceService)
