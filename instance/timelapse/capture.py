"""One job's frames: taken beside the feed loop, never in its way.

The printer's acknowledgement of a line only compares its offset with the next layer's
start (:class:`LayerFrames`); a frame that is due goes into a queue that one task empties,
fetching the snapshot with a short timeout and writing it into the job's frames folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from instance.analysis.toolpath import LayerIndex
from instance.gcode_file import GcodeLine
from instance.timelapse.camera import CameraError, snapshot
from instance.timelapse.due import IntervalFrames, LayerFrames
from instance.timelapse.notes import FrameTally

log = logging.getLogger(__name__)

# Frames waiting for the camera beyond this are skipped (counted): a slow camera never
# piles up work for after the job.
MAX_BACKLOG = 20
# How often a job whose file's layer index is not built yet asks for it again.
INDEX_RETRY = 1.0
# After the job, frames still waiting get this long in all before they count as missed.
DRAIN_WITHIN = 10.0


def frame_name(number: int) -> str:
    """The file of frame ``number`` (1-based), as ffmpeg's ``%06d.jpg`` reads them."""
    return f"{number:06d}.jpg"


def clock_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d} into the job"


# What a frame that cannot be written says (a full disk, most often).
NO_ROOM = "no room for frames"


class Capture:
    """The frames of one job, in ``frames``; :meth:`finish` once the job ended."""

    def __init__(
        self,
        mode: str,
        frames: Path,
        url: str,
        session: aiohttp.ClientSession,
        layers: Callable[[], LayerIndex | None],
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        parked: bool = False,
    ) -> None:
        self.tally = FrameTally(mode)
        self.frames = frames
        frames.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._url = url
        self._session = session
        self._layers = layers
        self._clock = clock
        self._started = clock()
        self._layer_frames: LayerFrames | None = None
        # With a park move (layer mode): the frames of layers 2 on are taken parked, at the
        # stop before their first line (``park_point``); layer 1's at its acknowledgement.
        self.parked = parked and mode == "layer"
        self._park_frames: LayerFrames | None = None
        self._park_offsets: tuple[int, ...] = ()
        # Where the line fed before the one asked about ended.
        self._park_after = 0
        self._layer_seen = False
        self._next_index_try = 0.0
        self._due: asyncio.Queue[str | None] = asyncio.Queue()
        self._taker = asyncio.create_task(self._take_frames(), name="timelapse frames")
        self._ticker: asyncio.Task[None] | None = None
        if mode == "interval":
            self._ticker = asyncio.create_task(self._tick(interval_s), name="timelapse interval")

    # ----------------------------------------------------------- when frames are due

    def line(self, line: GcodeLine) -> None:
        """The printer acknowledged ``line``: a frame is due if it began a layer."""
        frames = self._layer_frames
        if frames is None:
            if self.tally.mode != "layer":
                return
            frames = self._index_known()
            if frames is None:
                return
        layer = frames.acknowledged(line.end_offset)
        if layer is not None and not (self.parked and layer > 1):
            if not self._layer_seen:
                # The first layer this job saw begin: those before it went by unseen.
                self._layer_seen = True
                self.tally.unindexed = layer - 1
            self.due(f"layer {layer}")

    def park_point(self, line: GcodeLine) -> str | None:
        """A frame is due parked before ``line``: it is the first line of layer 2 or later."""
        frames = self._park_frames
        if frames is None:
            index = self._layers() if self._layer_frames is not None else None
            if index is None:
                return None
            self._park_offsets = index.offsets
            self._park_after = line.offset
            frames = self._park_frames = LayerFrames(index)
        after, self._park_after = self._park_after, line.end_offset
        layer = frames.acknowledged(line.end_offset)
        # Only where the layer begins with this very line (comments before it aside), not
        # a layer found already begun when the index became known.
        if layer is None or layer < 2 or self._park_offsets[layer - 1] < after:
            return None
        return f"layer {layer}"

    async def frame(self, where: str) -> None:
        """The frame of a parked head, taken now (the camera's own timeout)."""
        await self.take(where)

    def _index_known(self) -> LayerFrames | None:
        now = self._clock()
        if now < self._next_index_try:
            return None
        self._next_index_try = now + INDEX_RETRY
        index = self._layers()
        if index is None:
            return None
        self._layer_frames = LayerFrames(index)
        return self._layer_frames

    def due(self, where: str) -> None:
        if self._due.qsize() >= MAX_BACKLOG:
            self.tally.dropped += 1
        else:
            self._due.put_nowait(where)

    async def _tick(self, interval_s: float) -> None:
        frames = IntervalFrames(interval_s, self._started)
        while True:
            now = self._clock()
            if frames.due(now):
                self.due(clock_text(now - self._started))
            await asyncio.sleep(frames.wait(self._clock()))

    # ------------------------------------------------------------------ taking them

    async def _take_frames(self) -> None:
        while True:
            where = await self._due.get()
            if where is None:
                return
            await self.take(where)

    async def take(self, where: str) -> None:
        try:
            jpeg = await snapshot(self._session, self._url)
        except CameraError as error:
            self.tally.missing(where, str(error))
            return
        path = self.frames / frame_name(self.tally.frames + 1)
        try:
            await asyncio.to_thread(path.write_bytes, jpeg)
        except OSError as error:
            path.unlink(missing_ok=True)  # half a frame is no frame
            self.tally.missing(where, f"the frame could not be written: {error.strerror}", NO_ROOM)
            return
        self.tally.taken(where)

    async def finish(self) -> FrameTally:
        """Stop taking frames: those still due get ``DRAIN_WITHIN`` s, the rest are missed."""
        frames = self._layer_frames
        if self.tally.mode == "layer" and (frames is None or frames.empty):
            self.tally.extra.append(
                "the file's layers were never known (no toolpath preview of it, or nothing"
                " extruded): no layer frames; interval mode films any file"
            )
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._due.put_nowait(None)
        try:
            async with asyncio.timeout(DRAIN_WITHIN):
                await asyncio.shield(self._taker)
        except TimeoutError:
            self._taker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._taker
            while not self._due.empty():
                where = self._due.get_nowait()
                if where is not None:
                    self.tally.missing(where, "the camera was too slow at the end of the job")
        return self.tally

    def cancel(self) -> None:
        for task in (self._taker, self._ticker):
            if task is not None:
                task.cancel()
