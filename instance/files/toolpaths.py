"""Toolpath previews of the stored files: built on first request in a niced process, kept on disk.

Each preview lives in ``.toolpath/`` beside the files as ``<name>.fftp`` (the
packed preview), ``<name>.fftp.gz`` (the same, as sent to browsers) and
``<name>.json`` (the source's size and modification time, and the layer
index or the reason the file cannot be previewed). A file replaced since its
preview was built gets a new one; the record is written last, so a crash
leaves no half preview that looks whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instance.analysis.toolpath import VERSION, LayerIndex
from instance.files.store import FileStore, StoredFile, UnknownFile
from instance.files.worker_process import run_module

log = logging.getLogger(__name__)

TOOLPATH_DIR = ".toolpath"
BUILD_TIMEOUT = 1800.0


class PreviewUnavailable(Exception):
    """The file cannot be previewed (not G-code text, or the build failed): the reason."""


@dataclass(frozen=True, slots=True)
class Preview:
    """A built preview: its packed bytes on disk and the tag that names this version."""

    packed: Path
    gzipped: Path
    etag: str
    index: LayerIndex


def etag_of(stored: StoredFile) -> str:
    return f'"{stored.size}-{int(stored.modified * 1e6)}-v{VERSION}"'


class Toolpaths:
    """Every stored file's preview: one build at a time, never on the event loop."""

    def __init__(self, store: FileStore, *, timeout: float = BUILD_TIMEOUT) -> None:
        self.store = store
        self.directory = store.directory / TOOLPATH_DIR
        self.directory.mkdir(exist_ok=True, mode=0o700)
        self.timeout = timeout
        self._building: dict[str, asyncio.Task[Preview]] = {}
        self._one_at_a_time = asyncio.Lock()
        # The last record read, by name: the running job's index is asked for every second.
        self._indexes: dict[str, tuple[str, LayerIndex | None]] = {}

    async def preview(self, stored: StoredFile) -> Preview:
        """The file's preview, built first if it has none or an outdated one."""
        found = self._read(stored)
        if found is not None:
            return found
        # Shielded: a browser that goes away does not waste the build for the next one.
        return await asyncio.shield(self._start(stored))

    def index(self, stored: StoredFile) -> LayerIndex | None:
        """The layer index when the preview is built (a build is started otherwise)."""
        tag = etag_of(stored)
        cached = self._indexes.get(stored.name)
        if cached is not None and cached[0] == tag:
            return cached[1]
        try:
            found = self._read(stored)
        except PreviewUnavailable:
            self._indexes[stored.name] = (tag, None)  # not asked of the disk again
            return None
        if found is None:
            # Not awaited: a state message after the build carries the layer.
            with contextlib.suppress(RuntimeError):  # no event loop (a synchronous caller)
                self._start(stored)
            return None
        self._indexes[stored.name] = (tag, found.index)
        return found.index

    def prepare(self, name: str) -> None:
        """Build the preview of a new or replaced file before anyone asks for it; forget the
        preview of a file that is gone."""
        try:
            stored = self.store.stat(name)
        except (UnknownFile, OSError):
            self.forget(name)
            return
        self.index(stored)

    def forget(self, name: str) -> None:
        self._indexes.pop(name, None)
        for path in self._paths(name):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def remove_orphans(self) -> None:
        """Drop the previews of files deleted or renamed while nobody asked for them."""
        names = {stored.name for stored in self.store.list()}
        for path in self.directory.iterdir():
            stem = path.name
            for suffix in (".tmp", ".json", ".gz", ".fftp"):
                stem = stem.removesuffix(suffix)
            if stem not in names or path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    path.unlink()

    # ---------------------------------------------------------------- private

    def _start(self, stored: StoredFile) -> asyncio.Task[Preview]:
        task = self._building.get(stored.name)
        if task is None:
            task = asyncio.create_task(self._build(stored), name=f"toolpath {stored.name}")
            self._building[stored.name] = task
            task.add_done_callback(lambda done: self._finished(stored.name, done))
        return task

    def _paths(self, name: str) -> tuple[Path, Path, Path]:
        base = self.directory / name
        return (
            base.with_name(name + ".fftp"),
            base.with_name(name + ".fftp.gz"),
            base.with_name(name + ".json"),
        )

    def _finished(self, name: str, task: asyncio.Task[Preview]) -> None:
        if self._building.get(name) is task:
            del self._building[name]
        if not task.cancelled() and isinstance(task.exception(), Exception):
            # Retrieved here so a build nobody awaits any more is not reported as lost.
            log.debug("toolpath of %s: %s", name, task.exception())

    def _read(self, stored: StoredFile) -> Preview | None:
        """The stored preview if it is of this version of the file; PreviewUnavailable if the
        file was found not to be previewable."""
        packed, gzipped, record_path = self._paths(stored.name)
        try:
            record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if record.get("etag") != etag_of(stored):
            return None
        if record.get("error"):
            raise PreviewUnavailable(str(record["error"]))
        try:
            index = LayerIndex(
                tuple(int(n) for n in record["offsets"]), tuple(float(z) for z in record["z"])
            )
        except (KeyError, TypeError, ValueError):
            return None
        if not gzipped.is_file():
            return None
        return Preview(packed, gzipped, record["etag"], index)

    async def _build(self, stored: StoredFile) -> Preview:
        async with self._one_at_a_time:
            found = self._read(stored)
            if found is not None:
                return found
            return await self._run_worker(stored)

    async def _run_worker(self, stored: StoredFile) -> Preview:
        packed, _, record_path = self._paths(stored.name)
        source = self.store.directory / stored.name
        returncode, errors = await run_module(
            "instance.analysis.toolpath",
            str(source),
            str(packed),
            seconds=self.timeout,
            late=f"building the preview took longer than {self.timeout:.0f} s",
        )
        record: dict[str, Any] = {"etag": etag_of(stored)}
        index_path = packed.with_name(packed.name + ".json")
        if returncode == 0:
            try:
                record.update(json.loads(index_path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as error:
                record["error"] = f"unreadable preview: {error}"
        else:
            lines = errors.decode("utf-8", "replace").strip().splitlines()
            record["error"] = lines[-1] if lines else f"the preview exited {returncode}"
        with contextlib.suppress(FileNotFoundError):
            index_path.unlink()
        if etag_of(self._current(stored)) != record["etag"]:
            # Replaced or deleted while it was read: nothing of it is kept.
            self.forget(stored.name)
            raise PreviewUnavailable(f"{stored.name} changed while its preview was built")
        temporary = record_path.with_name(record_path.name + ".tmp")
        temporary.write_text(json.dumps(record), encoding="utf-8")
        os.replace(temporary, record_path)
        found = self._read(stored)
        if found is None:
            raise PreviewUnavailable(f"the preview of {stored.name} could not be stored")
        return found

    def _current(self, stored: StoredFile) -> StoredFile:
        try:
            return self.store.stat(stored.name)
        except Exception:
            return StoredFile(stored.name, -1, 0.0)
