"""The files directory: streamed, checked uploads stored atomically; list, open, delete."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from instance.files.gcode_check import GcodeCheck
from instance.files.names import BadFileName, is_stored_name, numbered, safe_name

MB = 1024 * 1024
# Written to disk in pieces this big: few thread hand-offs, little memory.
_WRITE_BATCH = MB
# Free disk is re-checked after this many bytes of an upload.
_DISK_CHECK_EVERY = 64 * MB
_MAX_CLASH_NUMBER = 999
UPLOADS_DIR = ".uploads"

InUse = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A stored G-code file."""

    name: str
    size: int
    modified: float


class FileStoreError(Exception):
    """A file request that cannot be honoured; the message says why."""


class UnknownFile(FileStoreError):
    pass


class FileInUse(FileStoreError):
    pass


class UploadTooLarge(FileStoreError):
    pass


class DiskFull(FileStoreError):
    pass


# The errors of a write that found no room: the file system is full, or the user's quota is.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def room_checked() -> Iterator[None]:
    """A write that runs out of disk (ENOSPC) on the way raises DiskFull, saying so."""
    try:
        yield
    except OSError as error:
        if error.errno not in NO_ROOM:
            raise
        raise DiskFull(
            "the disk filled up while the file was being stored; nothing was kept."
            f" Free space on the print server's volume and upload it again ({error.strerror})"
        ) from None


class FileStore:
    """Every G-code file of this printer, flat in one directory.

    Uploads go to a temporary file inside the directory (same file system),
    are fsynced, then linked or renamed into place: a reader never sees half a
    file, and a crash leaves only a temporary file, removed at the next start.
    """

    def __init__(self, directory: Path, *, max_bytes: int, reserve_bytes: int = 64 * MB) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes
        self.uploads = self.directory / UPLOADS_DIR
        self.uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
        for leftover in self.uploads.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    # ----------------------------------------------------------------- reading

    def list(self) -> list[StoredFile]:
        files: list[StoredFile] = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                info = entry.stat(follow_symlinks=False)
                files.append(StoredFile(entry.name, info.st_size, info.st_mtime))
        files.sort(key=lambda f: f.name.casefold())
        return files

    def path(self, name: str) -> Path:
        """The stored file called ``name`` exactly; UnknownFile otherwise."""
        if not is_stored_name(name):
            raise UnknownFile(f"no file {name!r}")
        path = self.directory / name
        if not path.is_file() or path.is_symlink():
            raise UnknownFile(f"no file {name!r}")
        return path

    def stat(self, name: str) -> StoredFile:
        info = self.path(name).stat()
        return StoredFile(name, info.st_size, info.st_mtime)

    def disk(self) -> tuple[int, int]:
        """(free, total) bytes of the files' file system."""
        usage = shutil.disk_usage(self.directory)
        return usage.free, usage.total

    # ----------------------------------------------------------------- writing

    def begin_upload(self, expected_size: int | None = None) -> PendingUpload:
        """A temporary file to stream an upload into; refused up front when it cannot fit."""
        if expected_size is not None:
            self._check_size(expected_size)
            self._check_disk(expected_size)
        else:
            self._check_disk(0)
        with room_checked():
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by PendingUpload
                dir=self.uploads, prefix="upload-", suffix=".part", delete=False
            )
        return PendingUpload(self, handle)

    def store(self, upload: PendingUpload, raw_name: str, *, overwrite: bool, in_use: InUse) -> str:
        """Move a finished upload into place; the name it was stored under.

        Without ``overwrite`` a clash is resolved as ``name (2).gcode``; with
        it, the old file is replaced, unless it is being printed.
        """
        try:
            name = safe_name(raw_name)
        except BadFileName:
            upload.discard()
            raise
        temporary = upload.path
        try:
            with room_checked():
                if overwrite:
                    if in_use(name):
                        raise FileInUse(f"{name} is being printed: it cannot be replaced now")
                    os.replace(temporary, self.directory / name)
                else:
                    name = self._link_unique(temporary, name)
                    temporary.unlink()
        except BaseException:
            upload.discard()
            raise
        self._sync_directory()
        return name

    def delete(self, name: str, *, in_use: InUse) -> None:
        path = self.path(name)
        if in_use(name):
            raise FileInUse(f"{name} is being printed: it cannot be deleted now")
        path.unlink()
        self._sync_directory()

    def _link_unique(self, temporary: Path, name: str) -> str:
        # link() never replaces an existing file: two uploads of one name both survive.
        candidate = name
        for n in range(2, _MAX_CLASH_NUMBER + 2):
            try:
                os.link(temporary, self.directory / candidate)
                return candidate
            except FileExistsError:
                candidate = numbered(name, n)
        raise FileInUse(f"too many files are called {name}")

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise UploadTooLarge(
                f"the file is larger than the limit of {self.max_bytes // MB} MB (--max-upload-mb)"
            )

    def _check_disk(self, more: int) -> None:
        free = shutil.disk_usage(self.uploads).free
        if free - more < self.reserve_bytes:
            raise DiskFull(
                f"not enough free disk space for this upload ({free // MB} MB free,"
                f" {self.reserve_bytes // MB} MB are kept in reserve)"
            )

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class PendingUpload:
    """An upload being streamed to a temporary file: size, content and disk checked on the way."""

    def __init__(self, store: FileStore, handle: IO[bytes]) -> None:
        self._store = store
        self._handle = handle
        self.path = Path(handle.name)
        self.size = 0
        self.check = GcodeCheck()
        self._batch = bytearray()
        self._next_disk_check = _DISK_CHECK_EVERY
        self._open = True

    async def write(self, chunk: bytes) -> None:
        """Add a chunk; raises (and leaves the temporary file for ``discard``) when refused."""
        self.size += len(chunk)
        self._store._check_size(self.size)
        self.check.feed(chunk)
        self._batch += chunk
        if len(self._batch) >= _WRITE_BATCH:
            await self._write_batch()
        if self.size >= self._next_disk_check:
            self._next_disk_check += _DISK_CHECK_EVERY
            self._store._check_disk(0)

    async def finish(self) -> None:
        """Every byte arrived: the last checks, then the data is made durable."""
        self.check.finish()
        await self._write_batch()
        handle = self._handle
        with room_checked():
            await asyncio.to_thread(_flush_and_sync, handle)
        handle.close()
        self._open = False

    def discard(self) -> None:
        """Forget the upload: nothing of it stays on disk."""
        if self._open:
            # Closing flushes what is buffered; on a full disk that fails too, and
            # the file goes anyway.
            with contextlib.suppress(OSError):
                self._handle.close()
            self._open = False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _write_batch(self) -> None:
        if not self._batch:
            return
        data, self._batch = bytes(self._batch), bytearray()
        # A disk under writeback pressure can stall a write: never on the event loop.
        with room_checked():
            await asyncio.to_thread(self._handle.write, data)


def _flush_and_sync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())
