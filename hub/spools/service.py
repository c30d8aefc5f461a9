"""The spools loaded in the fleet's printers, as Spoolman knows them, and the use each
ended job owes to its spool (docs/spools.md).

:class:`SpoolService` (``app[SPOOLS]``) keeps a cache of every loaded spool, refreshed
from Spoolman in the background (every ``REFRESH_INTERVAL`` seconds, right after an
assignment and after each reported use), so :meth:`SpoolService.loaded` answers at once,
without I/O, for the dispatch check.

Use reporting reads the job archive without changing it: every ``SCAN_INTERVAL`` seconds
the service looks at the ``job_archive`` rows added since the last row it looked at (its
SQLite rowid, kept in ``spool_report_mark``; history.py's upsert keeps a job's row, so a job
fetched twice is one row, looked at once). A job with filament whose printer had a spool
in tool 0 when the job ended gets one ``pending`` row in ``spool_reports`` (written, with
the mark moved past it, in one transaction) and is then sent as ``PUT /spool/{id}/use``
``{"use_weight": grams}``. Only after Spoolman's 200 is the row marked ``sent``; no answer
leaves it ``pending`` and it is tried again after a doubling delay (at once when Spoolman
answers again); 404 makes it ``gone`` and 400/422 ``failed``, both final with the message
kept. Reports are sent one at a time by one task, so none goes out twice. (A 200 that is
lost on the way back, a timeout after Spoolman applied the use, cannot be told from one that
never arrived: that use would be sent again. Spoolman offers no idempotency key.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from hub.context import HubContext
from hub.fleet.roster import SpoolmanSite
from hub.running import cancel_all, every
from hub.spools import store
from hub.spools.client import SpoolmanClient
from hub.spools.model import (
    Spool,
    SpoolmanError,
    filament_grams,
    report_outcome,
    retry_delay,
    spool_name,
)

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 30.0
SCAN_INTERVAL = 2.0
# Reports sent per round at most (the rest wait for the next round).
BATCH = 50


@dataclass(frozen=True, slots=True)
class LoadedSpool:
    """The spool in one tool of one printer, as Spoolman last said (``checked_at``).

    ``error`` is set when the last look-up failed (Spoolman down, spool deleted): the
    other values are then the last known ones, or None when none were ever known.
    ``remaining_g`` is None when Spoolman does not know the weight left.
    """

    printer: str
    tool: int
    spool_id: int
    name: str
    material: str | None
    remaining_g: float | None
    density: float | None
    diameter: float | None
    checked_at: float
    error: str | None
    low: bool

    def grams(self, filament_mm: float) -> float:
        """The weight of ``filament_mm`` of this spool's filament; ValueError when its density
        and diameter are not known yet (``remaining_g`` is then None as well)."""
        if self.density is None or self.diameter is None:
            raise ValueError(f"spool {self.spool_id}: its filament is not known yet")
        return filament_grams(filament_mm, self.density, self.diameter)

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def is_low(remaining_g: float | None, site: SpoolmanSite | None) -> bool:
    return remaining_g is not None and site is not None and remaining_g < site.low_grams


def loaded_from(printer: str, tool: int, spool: Spool, site: SpoolmanSite | None) -> LoadedSpool:
    return LoadedSpool(
        printer=printer,
        tool=tool,
        spool_id=spool.id,
        name=spool.name,
        material=spool.material,
        remaining_g=spool.remaining_weight,
        density=spool.filament.density,
        diameter=spool.filament.diameter,
        checked_at=time.time(),
        error=None,
        low=is_low(spool.remaining_weight, site),
    )


def unchecked(printer: str, tool: int, spool_id: int, error: str) -> LoadedSpool:
    """A spool assigned but never looked up successfully."""
    return LoadedSpool(
        printer, tool, spool_id, spool_name(spool_id, None, None), None, None, None, None,
        0.0, error, False,
    )  # fmt: skip


class SpoolService:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self._session: aiohttp.ClientSession | None = None
        # (printer, tool) -> spool id, as in spool_assignments.
        self._assigned: dict[tuple[str, int], int] = {}
        self._cache: dict[tuple[str, int], LoadedSpool] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._send_lock = asyncio.Lock()
        # Spoolman's last failure when it was down (None: it answered last time).
        self.down: str | None = None

    # --- what the rest of the hub asks --------------------------------------------------

    @property
    def site(self) -> SpoolmanSite | None:
        return self.ctx.fleet.spoolman

    @property
    def enabled(self) -> bool:
        return self.site is not None

    def loaded(self, printer: str, tool: int = 0) -> LoadedSpool | None:
        """The spool loaded in ``printer``'s ``tool`` (None: none, or no Spoolman); no I/O."""
        if not self.enabled:
            return None
        spool_id = self._assigned.get((printer, tool))
        if spool_id is None:
            return None
        known = self._cache.get((printer, tool))
        if known is None or known.spool_id != spool_id:
            return unchecked(printer, tool, spool_id, "not looked up in Spoolman yet")
        low = is_low(known.remaining_g, self.site)
        return known if known.low == low else dataclasses.replace(known, low=low)

    def loaded_in(self, printer: str) -> list[LoadedSpool]:
        """Every tool's spool of ``printer``, tool by tool."""
        tools = sorted(t for (p, t) in self._assigned if p == printer)
        return [s for t in tools if (s := self.loaded(printer, t)) is not None]

    def client(self) -> SpoolmanClient:
        site = self.site
        if site is None or self._session is None:
            raise SpoolmanError(
                "off", "no Spoolman is configured (site: spoolman: in the fleet file)"
            )
        return SpoolmanClient(site.url, self._session)

    async def refresh(self, printer: str) -> None:
        """Look up every spool loaded in ``printer`` again (never raises for Spoolman)."""
        keys = [key for key in self._assigned if key[0] == printer]
        await self._refresh(keys)

    async def refresh_all(self) -> None:
        await self._refresh(list(self._assigned))

    async def _refresh(self, keys: list[tuple[str, int]]) -> None:
        if not self.enabled or not keys:
            return
        found: dict[int, Spool | SpoolmanError] = {}
        down: SpoolmanError | None = None
        for spool_id in sorted({self._assigned[k] for k in keys if k in self._assigned}):
            try:
                found[spool_id] = await self.client().spool(spool_id)
            except SpoolmanError as error:
                found[spool_id] = error
                if error.kind == "down":
                    # The others would wait as long: they keep their last values, marked.
                    down = error
                    break
        for key in keys:
            loaded = self._assigned.get(key)
            if loaded is not None:
                self._remember(key, loaded, found.get(loaded) or down or self._unknown())
        if found:
            self._answered(down)

    @staticmethod
    def _unknown() -> SpoolmanError:
        return SpoolmanError("down", "Spoolman was not asked")

    def _remember(self, key: tuple[str, int], spool_id: int, answer: Spool | SpoolmanError) -> None:
        if isinstance(answer, Spool):
            self._cache[key] = loaded_from(key[0], key[1], answer, self.site)
            return
        before = self._cache.get(key)
        if before is not None and before.spool_id == spool_id:
            self._cache[key] = dataclasses.replace(before, error=str(answer))
        else:
            self._cache[key] = unchecked(key[0], key[1], spool_id, str(answer))

    def _answered(self, error: SpoolmanError | None) -> None:
        """Whether Spoolman answered (``error`` None, or a refusal); when it answers again
        after not answering, every pending report is due at once."""
        if error is not None and error.kind == "down":
            if self.down is None:
                log.warning("%s", error)
            self.down = str(error)
        elif self.down is not None:
            log.info("Spoolman answers again")
            self.down = None
            store.retry_now(self.ctx.db)
            self._wake.set()

    async def spools(self) -> list[Spool]:
        """Spoolman's spools (not archived), for a picker."""
        try:
            found = await self.client().spools()
        except SpoolmanError as error:
            self._answered(error)
            raise
        self._answered(None)
        return found

    async def assign(self, printer: str, tool: int, spool_id: int | None, user: str) -> None:
        """Load ``spool_id`` (None: unload); SpoolmanError when Spoolman cannot confirm the
        spool exists (then nothing is stored)."""
        spool: Spool | None = None
        if spool_id is not None:
            try:
                spool = await self.client().spool(spool_id)
            except SpoolmanError as error:
                self._answered(error)
                raise
            self._answered(None)
        store.assign(self.ctx.db, printer, tool, spool_id, user)
        key = (printer, tool)
        if spool is None:
            self._assigned.pop(key, None)
            self._cache.pop(key, None)
        else:
            self._assigned[key] = spool.id
            self._cache[key] = loaded_from(printer, tool, spool, self.site)

    # --- use reporting ----------------------------------------------------------------

    def scan(self) -> int:
        """Pending reports for the jobs archived since the last scan; how many were added."""
        jobs = store.jobs_after_mark(self.ctx.db)
        if not jobs:
            return 0
        owed: list[tuple[store.EndedJob, int, float | None]] = []
        for job in jobs:
            if job.filament_mm is None or not job.filament_mm > 0:
                continue
            spool_id = store.loaded_at(self.ctx.db, job.printer, 0, job.ended_at)
            if spool_id is None:
                continue
            owed.append((job, spool_id, self._grams_now(spool_id, job.filament_mm)))
        return store.add_reports(self.ctx.db, owed, jobs[-1].row)

    def _grams_now(self, spool_id: int, filament_mm: float) -> float | None:
        """The weight from the cached filament of ``spool_id``; None when not known."""
        for known in self._cache.values():
            if known.spool_id == spool_id and known.density is not None:
                return round(known.grams(filament_mm), 3)
        return None

    async def send_due(self) -> None:
        """Send every report that is due, one at a time."""
        async with self._send_lock:
            for report in store.due_reports(self.ctx.db, time.time())[:BATCH]:
                if not self.enabled:
                    return
                if not await self._send(report):
                    return

    async def _send(self, report: store.Report) -> bool:
        """One report; False when Spoolman does not answer (the rest wait)."""
        try:
            grams = report.grams
            if grams is None:
                spool = await self.client().spool(report.spool_id)
                grams = round(
                    filament_grams(
                        report.filament_mm, spool.filament.density, spool.filament.diameter
                    ),
                    3,
                )
                store.set_grams(self.ctx.db, report.id, grams)
            if not (math.isfinite(grams) and grams > 0):
                store.mark_ended(self.ctx.db, report.id, "failed", f"nothing to report ({grams} g)")
                return True
            spool = await self.client().use_grams(report.spool_id, grams)
        except SpoolmanError as error:
            if error.status == 200:
                # Spoolman took the use and answered something odd: it must not go twice.
                store.mark_sent(self.ctx.db, report.id)
                log.warning("report %d: sent, but %s", report.id, error)
                return True
            self._answered(error)
            state = report_outcome(error.kind)
            if state == "pending":
                delay = retry_delay(report.tries + 1)
                store.mark_retry(self.ctx.db, report.id, str(error), time.time() + delay)
                return False
            store.mark_ended(self.ctx.db, report.id, state, str(error))
            log.warning("%s, job %d: use not reported: %s", report.printer, report.job_id, error)
            if state == "gone":
                self._spool_gone(report.spool_id, str(error))
            return True
        store.mark_sent(self.ctx.db, report.id)
        self._answered(None)
        for key, known in list(self._cache.items()):
            if known.spool_id == spool.id:
                self._cache[key] = loaded_from(key[0], key[1], spool, self.site)
        return True

    def _spool_gone(self, spool_id: int, error: str) -> None:
        for key, known in list(self._cache.items()):
            if known.spool_id == spool_id:
                self._cache[key] = dataclasses.replace(known, error=error)

    # --- running --------------------------------------------------------------------

    async def _report_round(self) -> None:
        if not self.enabled:
            return
        self.scan()
        await self.send_due()

    def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._assigned = {(a.printer, a.tool): a.spool_id for a in store.assignments(self.ctx.db)}
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(every(REFRESH_INTERVAL, self.refresh_all, "spools: refresh")),
            loop.create_task(
                every(SCAN_INTERVAL, self._report_round, "spools: report use", self._wake)
            ),
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        if self._session is not None:
            await self._session.close()


SPOOLS = web.AppKey("spools", SpoolService)
