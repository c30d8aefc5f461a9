"""G-code analyses: run in the background after each upload, kept beside the files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instance.files.analyse_worker import EXIT_DONE, EXIT_UNAVAILABLE
from instance.files.store import FileStore, StoredFile, UnknownFile
from instance.files.worker_process import run_module

log = logging.getLogger(__name__)

ANALYSIS_DIR = ".analysis"
THUMBNAILS_SUFFIX = ".thumbnails"
# A 1 GB file at the analyser's promised speed takes about a minute.
ANALYSIS_TIMEOUT = 1800.0

PENDING = "pending"
DONE = "done"
FAILED = "failed"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Analysis:
    """Where a file's analysis stands, and its result once done."""

    status: str
    octoprint: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    analysed_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "analysed_at": self.analysed_at,
        }


@dataclass
class _Queue:
    names: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    waiting: set[str] = field(default_factory=set)


class Analyser:
    """One analysis at a time, in a niced subprocess; results stored as JSON per file.

    A stored result names the file's size and modification time: a file
    replaced since is analysed again rather than shown with a stale result.
    """

    def __init__(
        self,
        store: FileStore,
        *,
        on_done: Callable[[str], None] | None = None,
        timeout: float = ANALYSIS_TIMEOUT,
    ) -> None:
        self.store = store
        self.directory = store.directory / ANALYSIS_DIR
        self.directory.mkdir(exist_ok=True, mode=0o700)
        self.timeout = timeout
        self.on_done = on_done
        self._queue = _Queue()
        self._running: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name="file analysis")
        for stored in self.store.list():
            analysis = self._read(stored)
            # "unavailable": the analyser may have been installed since.
            if analysis is None or analysis.status == UNAVAILABLE:
                self.submit(stored.name)
        self._remove_orphans()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def submit(self, name: str) -> None:
        if name not in self._queue.waiting:
            self._queue.waiting.add(name)
            self._queue.names.put_nowait(name)

    def forget(self, name: str) -> None:
        self._queue.waiting.discard(name)
        with contextlib.suppress(FileNotFoundError):
            self._record_path(name).unlink()
        shutil.rmtree(self._thumbnails_path(name), ignore_errors=True)

    def thumbnail(self, stored: StoredFile, index: int) -> Path | None:
        """The file's ``index``-th embedded preview (PNG or JPEG), once analysed."""
        if self.get(stored).status != DONE:
            return None
        for kind in ("png", "jpg"):
            path = self._thumbnails_path(stored.name) / f"{index}.{kind}"
            if path.is_file():
                return path
        return None

    def get(self, stored: StoredFile) -> Analysis:
        if stored.name in self._queue.waiting or stored.name == self._running:
            return Analysis(PENDING)
        return self._read(stored) or Analysis(PENDING)

    @property
    def idle(self) -> bool:
        """Nothing waits to be analysed and nothing is being analysed."""
        return not self._queue.waiting and self._running is None

    # ---------------------------------------------------------------- worker

    def _record_path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _thumbnails_path(self, name: str) -> Path:
        return self.directory / f"{name}{THUMBNAILS_SUFFIX}"

    def _read(self, stored: StoredFile) -> Analysis | None:
        try:
            record = json.loads(self._record_path(stored.name).read_text(encoding="utf-8"))
            if record["size"] != stored.size or record["mtime"] != stored.modified:
                return None
            return Analysis(
                record["status"],
                record.get("octoprint"),
                record.get("analysis"),
                record.get("error"),
                record.get("analysed_at"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    async def _work(self) -> None:
        while True:
            name = await self._queue.names.get()
            if name not in self._queue.waiting:
                continue
            self._queue.waiting.discard(name)
            self._running = name
            try:
                await self._analyse(name)
            except Exception:
                log.exception("analysis of %s failed", name)
            finally:
                self._running = None
            if self.on_done is not None:
                self.on_done(name)

    async def _analyse(self, name: str) -> None:
        try:
            stored = self.store.stat(name)
        except (UnknownFile, OSError):
            return
        out = self.directory / f"{name}.result"
        returncode, errors = await run_module(
            "instance.files.analyse_worker",
            str(self.store.directory / name),
            str(out),
            seconds=self.timeout,
            late=f"the analysis took longer than {self.timeout:.0f} s",
        )
        record: dict[str, Any] = {
            "size": stored.size,
            "mtime": stored.modified,
            "analysed_at": time.time(),
        }
        if returncode == EXIT_DONE:
            try:
                payload = json.loads(out.read_text(encoding="utf-8"))
                record.update(
                    status=DONE, octoprint=payload["octoprint"], analysis=payload["analysis"]
                )
            except (OSError, ValueError, KeyError) as error:
                record.update(status=FAILED, error=f"unreadable analysis result: {error}")
        else:
            message = errors.decode("utf-8", "replace").strip().splitlines()
            record.update(
                status=UNAVAILABLE if returncode == EXIT_UNAVAILABLE else FAILED,
                error=message[-1] if message else f"analyser exited {returncode}",
            )
        new_thumbnails = out.with_name(out.name + THUMBNAILS_SUFFIX)
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        if name in self._queue.waiting:
            # Replaced meanwhile: analysed again next.
            shutil.rmtree(new_thumbnails, ignore_errors=True)
            return
        shutil.rmtree(self._thumbnails_path(name), ignore_errors=True)
        if new_thumbnails.is_dir():
            new_thumbnails.rename(self._thumbnails_path(name))
        temporary = self.directory / f"{name}.json.tmp"
        temporary.write_text(json.dumps(record), encoding="utf-8")
        os.replace(temporary, self._record_path(name))

    def _remove_orphans(self) -> None:
        names = {stored.name for stored in self.store.list()}
        for path in self.directory.iterdir():
            stem = path.name.removesuffix(".json").removesuffix(THUMBNAILS_SUFFIX)
            leftover = path.name.endswith((".tmp", ".result", f".result{THUMBNAILS_SUFFIX}"))
            if leftover or stem not in names:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        path.unlink()
