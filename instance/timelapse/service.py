"""The printer's timelapses: a capture per job that asks for one, the video after it, retention.

Told by the printer of every acknowledged line and every job's end (its watchers); the
web context starts a job's capture right after the job starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from instance.analysis.toolpath import LayerIndex
from instance.gcode_file import GcodeLine
from instance.job_records import JobRecord, JobRecords
from instance.park import ParkMove, ParkPlan
from instance.printer import Printer
from instance.timelapse import notes, retention
from instance.timelapse.assemble import AssemblyError, assemble
from instance.timelapse.capture import Capture
from instance.timelapse.settings import Mode, TimelapseSettings

log = logging.getLogger(__name__)

FOLDER = "timelapse"
STOPPED = "the print server stopped before the video was made; the frames are kept in {}"


def video_name(job_id: int) -> str:
    return f"job-{job_id}.mp4"


class Timelapses:
    """Every timelapse of one printer: ``data_dir/timelapse/job-<id>.mp4`` and, while a job
    runs or when no video could be made, ``job-<id>/`` with its frames."""

    def __init__(
        self,
        printer: Printer,
        settings: TimelapseSettings,
        layers: Callable[[], LayerIndex | None],
        ffmpeg: str = "ffmpeg",
    ) -> None:
        self.settings = settings
        self._printer = printer
        self._park = ParkMove(settings.park) if settings.park else None
        self.records: JobRecords = printer.records
        self.folder = printer.data_dir / FOLDER
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self._layers = layers
        self._ffmpeg = ffmpeg
        self._captures: dict[int, Capture] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The videos being made now (job ids): a test or a caller can wait for them.
        self.assembling: dict[int, asyncio.Task[None]] = {}
        printer.line_watchers.append(self._line)
        printer.end_watchers.append(self._ended)
        self._recover()

    def mode_for(self, asked: bool | None) -> Mode:
        return self.settings.mode_for(asked)

    def video(self, job_id: int) -> Path:
        return self.folder / video_name(job_id)

    def frames(self, job_id: int) -> Path:
        return self.folder / f"job-{job_id}"

    # --------------------------------------------------------------- the job

    def job_started(self, job_id: int, asked: bool | None) -> Mode:
        """Start capturing for ``job_id`` if it asked for a timelapse (None: the default)."""
        mode = self.mode_for(asked)
        if mode == "off":
            return mode
        if self._session is None:
            self._session = aiohttp.ClientSession()
        capture = Capture(
            mode,
            self.frames(job_id),
            self.settings.snapshot_url,
            self._session,
            self._layers,
            self.settings.interval_s,
            parked=self._park is not None,
        )
        if self._park is not None and capture.parked:
            self._printer.park_for(job_id, ParkPlan(self._park, capture))
        self._captures[job_id] = capture
        self._save(job_id, capture.tally.record(notes.CAPTURING))
        return mode

    def _line(self, job_id: int, line: GcodeLine) -> None:
        capture = self._captures.get(job_id)
        if capture is not None:
            try:
                capture.line(line)
            except Exception:  # the feed loop goes on whatever happens here
                log.exception("timelapse: a frame could not be planned")

    def _ended(self, record: JobRecord) -> None:
        capture = self._captures.pop(record.id, None)
        if capture is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._after(record.id, capture), name=f"timelapse of job {record.id}"
        )
        self.assembling[record.id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(record.id, done))

    def _done(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.assembling.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("timelapse of job %s failed", job_id, exc_info=task.exception())

    async def _after(self, job_id: int, capture: Capture) -> None:
        tally = await capture.finish()
        record = tally.record(notes.ASSEMBLING)
        frames = self.frames(job_id)
        if tally.frames == 0:
            notes.no_video(record, "no frame was captured: no video")
            self._save(job_id, record)
            shutil.rmtree(frames, ignore_errors=True)
            return
        self._save(job_id, record)
        try:
            video = await assemble(frames, tally.frames, self.video(job_id), self._ffmpeg)
        except AssemblyError as error:
            notes.no_video(record, str(error))
            self._save(job_id, record)
            return
        notes.video_ready(record, video.path.name, video.size, video.frames, video.fps)
        self._save(job_id, record)
        await asyncio.to_thread(shutil.rmtree, frames, True)
        self.apply_retention()

    # ------------------------------------------------------------- retention

    def apply_retention(self) -> list[int]:
        """Delete the oldest videos past the printer's limit; the jobs whose video went."""
        ready = [
            (r.id, int(r.timelapse["video"]["size"]))
            for r in self.records.with_timelapse()
            if r.timelapse is not None and r.timelapse.get("state") == notes.READY
        ]
        keep = self.settings
        going = retention.to_delete(ready, keep.keep_videos, keep.keep_mb)
        limit = retention.limit_text(keep.keep_videos, keep.keep_mb)
        for job_id in going:
            record = self.records.get(job_id)
            if record is None or record.timelapse is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                self.video(job_id).unlink()
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
            notes.deleted(
                record.timelapse, f"video deleted {when} UTC to keep this printer's newest {limit}"
            )
            self._save(job_id, record.timelapse)
        return going

    # ------------------------------------------------------------------- life

    def _recover(self) -> None:
        """Timelapses a stopped print server left capturing or assembling: noted, frames kept."""
        for record in self.records.with_timelapse():
            timelapse = record.timelapse
            if timelapse is None or record.running:
                continue
            if timelapse.get("state") in (notes.CAPTURING, notes.ASSEMBLING):
                notes.no_video(timelapse, STOPPED.format(self.frames(record.id)))
                self._save(record.id, timelapse)

    def _save(self, job_id: int, record: dict[str, Any]) -> None:
        try:
            self.records.set_timelapse(job_id, record)
        except Exception:  # the record is a note: never a reason to stop
            log.exception("timelapse: the record of job %s could not be saved", job_id)

    async def wait(self) -> None:
        """Until every video being made now is made (tests, the benchmark, a stop)."""
        while self.assembling:
            await asyncio.gather(*self.assembling.values(), return_exceptions=True)

    async def stop(self) -> None:
        for capture in self._captures.values():
            capture.cancel()
        self._captures.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
