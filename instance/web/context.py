"""What every handler works with: the printer, its files, their analyses, the settings."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from instance.files.analyses import DONE, PENDING, Analyser, Analysis
from instance.files.store import FileStore, StoredFile
from instance.files.toolpaths import Toolpaths
from instance.gcode_file import read_slicer_estimate
from instance.printer import HeldByCheck, Printer, PrinterError
from instance.sliced_for import read_sliced_for
from instance.timelapse.service import Timelapses
from instance.web.auth import AccessCheck
from instance.web.config import ServeConfig
from instance.web.errors import ApiError
from instance.web.hub_check import CheckHeld, HubCheck
from instance.web.overrides import Overrides

log = logging.getLogger(__name__)

# How long a start waits for a file's analysis still running before the hub is asked
# without its filament.
ANALYSIS_WAIT = 15.0


@dataclass
class Counters:
    """What /metrics reports beyond the core's own counters."""

    uploads: int = 0
    uploads_refused: int = 0
    upload_bytes: int = 0


@dataclass
class ServerContext:
    config: ServeConfig
    printer: Printer
    store: FileStore
    analyser: Analyser
    access: AccessCheck
    started_at: float = field(default_factory=time.time)
    # OctoPrint clients select a file, then start "the job".
    selected: str | None = None
    counters: Counters = field(default_factory=Counters)
    printer_stopped: bool = False
    # Set by instance.web.toolpath_api when its routes are added.
    toolpaths: Toolpaths | None = None
    # Feed-rate, flow and babystep set during the job (printer_api, the page's Tune box).
    overrides: Overrides = field(default_factory=Overrides)
    # The hub's dispatch check, asked before every start (None: a print server alone).
    hub_check: HubCheck | None = None
    # The printer's timelapses (None: no camera snapshot URL, docs/timelapse.md).
    timelapse: Timelapses | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def begin(self, action: Coroutine[object, object, None], name: str) -> None:
        """Start a printer action that may take long (pause, cancel) and return once it is under
        way; a refusal (wrong state) is raised here, where the request can report it."""
        task = asyncio.create_task(action, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._action_done)
        await asyncio.sleep(0)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    def _action_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        # A refusal (PrinterError) was already answered to the request that asked.
        if error is not None and not isinstance(error, PrinterError):
            log.warning("%s did not complete: %s", task.get_name(), error)

    def printing(self, name: str) -> bool:
        """Whether the stored file ``name`` is the one being printed."""
        job = self.printer.job
        return job is not None and Path(job.file.path) == self.store.directory / name

    def analysis(self, stored: StoredFile) -> Analysis:
        return self.analyser.get(stored)

    def filament_of(self, stored: StoredFile) -> float | None:
        """The file's filament in mm from its analysis (every tool), if it has one."""
        analysis = self.analysis(stored)
        if analysis.status != DONE or analysis.octoprint is None:
            return None
        tools = analysis.octoprint.get("filament")
        if not isinstance(tools, dict):
            return None
        lengths = [tool.get("length") for tool in tools.values() if isinstance(tool, dict)]
        numbers = [float(n) for n in lengths if isinstance(n, int | float)]
        return sum(numbers) if numbers else None

    async def analysed_filament(self, stored: StoredFile) -> float | None:
        """The file's filament once its analysis is done, waiting up to ANALYSIS_WAIT s for
        one still running (a Print pressed right after the upload); None when none comes."""
        deadline = time.monotonic() + ANALYSIS_WAIT
        while True:
            found = self.filament_of(stored)
            if found is not None or self.analysis(stored).status != PENDING:
                return found
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.2)

    async def start_print(self, name: str, user: str, timelapse: bool | None = None) -> int:
        """Print a stored file; the job's id (PrinterError when the printer cannot, or the
        hub's dispatch check holds it: the file stays, nothing starts). ``timelapse``: the
        job's choice (None: the printer's default)."""
        if timelapse and self.timelapse is None:
            raise ApiError(400, "this printer has no camera snapshot URL: no timelapse")
        path = self.store.path(name)
        stored = self.store.stat(name)
        filament = self.filament_of(stored)
        if self.hub_check is not None:
            self.printer.check_startable()
            asked = filament
            if asked is None:
                # The slicer's own figure, else the analysis of a file just uploaded.
                asked = read_slicer_estimate(path).filament_mm
            if asked is None:
                asked = await self.analysed_filament(stored)
            sliced = read_sliced_for(path)
            try:
                # The material only: a file sliced for another nozzle is often printed so on
                # purpose from the printer itself (docs/dispatch-check.md); the queue checks it.
                await self.hub_check.ask(name, asked, user, sliced.material)
            except CheckHeld as held:
                raise HeldByCheck(f"held by the dispatch check: {held}", held.items) from None
        job_id = await self.printer.start_print(path, started_by=user, filament_mm=filament)
        if self.timelapse is not None:
            # Before any line is acknowledged: start_print only queued them.
            self.timelapse.job_started(job_id, timelapse)
        self.selected = name
        return job_id


CONTEXT = web.AppKey("fabfleet context", ServerContext)


def context(request: web.Request) -> ServerContext:
    return request.app[CONTEXT]


def job_record_json(record: Any) -> dict[str, Any]:
    """A JobRecord as the API shows it."""
    duration = None if record.ended_at is None else round(record.ended_at - record.started_at, 3)
    return {
        "id": record.id,
        "file": record.file_name,
        "file_size": record.file_size,
        "started_by": record.started_by,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "duration": duration,
        "outcome": None if record.outcome is None else record.outcome.value,
        "reason": record.reason,
        "filament_mm": record.filament_mm,
        "timelapse": record.timelapse,
        "last_line": record.last_line,
        "resumed_from": record.resumed_from,
    }
