"""The archive file: written atomically (0600, a temp file renamed), read back only once
every member matches the manifest.

Members are plain files under relative names; the manifest is the last one. A reader
checks names, the format's version and every digest before anyone writes a byte.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from orchestrator.backup.manifest import NAME, Manifest, ManifestError, Member, parse

ARCHIVE_MODE = 0o600
CHUNK = 1 << 20
COMPRESS_LEVEL = 6
GZIP_MAGIC = b"\x1f\x8b"


class ArchiveError(Exception):
    """The archive cannot be written or read; the message says why, in the user's words."""


class _Hashing:
    """A file object that counts and digests what is read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


class ArchiveWriter:
    """Members added one by one into a temp file beside ``path``; :meth:`finish` writes the
    manifest and renames it into place. Leaving the ``with`` block any other way (an error,
    a full disk, Ctrl-C) removes the temp file: there is never a half-written archive."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self._temp: str | None = None
        self._tar: tarfile.TarFile | None = None
        self._names: set[str] = set()

    def __enter__(self) -> ArchiveWriter:
        directory = self.path.parent
        try:
            fd, self._temp = tempfile.mkstemp(
                dir=directory, prefix=f".{self.path.name}.", suffix=".partial"
            )
        except OSError as error:
            raise ArchiveError(f"cannot write in {directory}: {error.strerror or error}") from None
        os.fchmod(fd, ARCHIVE_MODE)
        out = os.fdopen(fd, "wb")
        self._tar = tarfile.open(fileobj=out, mode="w:gz", compresslevel=COMPRESS_LEVEL)
        self._out = out
        return self

    def __exit__(self, *exc: object) -> None:
        if self._temp is not None:  # not finished: drop what was written
            with contextlib.suppress(Exception):
                if self._tar is not None:
                    self._tar.close()
            with contextlib.suppress(Exception):
                self._out.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
            self._temp = None

    def add(self, name: str, source: IO[bytes], size: int, mode: int) -> None:
        """Member ``name``: ``size`` bytes read from ``source``, its digest noted."""
        assert self._tar is not None
        check_name(name)
        if name in self._names:
            raise ArchiveError(f"{name} was added twice")
        self._names.add(name)
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = mode & 0o777
        info.mtime = int(time.time())
        hashing = _Hashing(source)
        self._tar.addfile(info, hashing)  # type: ignore[arg-type,unused-ignore]
        self.manifest.files.append(Member(name, size, hashing.digest.hexdigest(), info.mode))

    def add_file(self, name: str, path: Path, mode: int | None = None) -> None:
        with path.open("rb") as source:
            info = os.fstat(source.fileno())
            self.add(name, source, info.st_size, info.st_mode if mode is None else mode)

    def add_bytes(self, name: str, data: bytes, mode: int = 0o600) -> None:
        self.add(name, io.BytesIO(data), len(data), mode)

    def finish(self) -> None:
        """The manifest last, everything flushed and synced, then the archive's name."""
        assert self._tar is not None
        assert self._temp is not None
        data = self.manifest.to_json().encode()
        info = tarfile.TarInfo(NAME)
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        self._tar.addfile(info, io.BytesIO(data))
        self._tar.close()
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        os.replace(self._temp, self.path)
        self._temp = None
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_destination(path: Path) -> None:
    """That a file (the archive, the fleet file) can be written at ``path``: its folder exists
    and takes a new file."""
    if path.is_dir():
        raise ArchiveError(f"{path} is a directory; give the archive's file name")
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
    except OSError as error:
        raise ArchiveError(f"cannot write in {path.parent}: {error.strerror or error}") from None
    os.close(fd)
    os.unlink(temp)


def check_name(name: str) -> None:
    """A member's name: relative, plain, no way out of where it is extracted."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or str(path) != name:
        raise ArchiveError(f"the archive names a file '{name[:100]}' that it may not hold")


@dataclass(frozen=True, slots=True)
class Verified:
    """An archive whose every member matches its manifest."""

    path: Path
    manifest: Manifest

    def members(self) -> Iterator[tuple[Member, IO[bytes]]]:
        """Each file with its content, in the archive's order (read a second time)."""
        by_name = {m.path: m for m in self.manifest.files}
        with _opened(self.path) as tar:
            for info in tar:
                if info.name == NAME:
                    continue
                source = tar.extractfile(info)
                assert source is not None
                yield by_name[info.name], source


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tarfile.TarFile]:
    """The archive's members in order; gzip's own checks (its CRC, its end) read to the end."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise ArchiveError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArchiveError(f"{path} is a directory, not a backup") from None
    except PermissionError:
        raise ArchiveError(f"{path}: permission denied") from None
    with raw, gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
        try:
            tar = tarfile.open(fileobj=unpacked, mode="r|")  # noqa: SIM115 (closed below)
        except (tarfile.ReadError, gzip.BadGzipFile, EOFError, zlib.error) as error:
            raw.seek(0)
            if raw.read(2) == GZIP_MAGIC:  # gzip, but not a whole tar in it
                raise ArchiveError(f"{path} is truncated or damaged ({error})") from None
            raise ArchiveError(f"{path} is not a fabfleet backup (not a gzipped tar)") from None
        try:
            with tar:
                yield tar
            while unpacked.read(CHUNK):
                pass
        except (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ArchiveError(
                f"{path} is truncated or damaged ({error or 'it ends early'})"
            ) from None


def verify(path: Path) -> Verified:
    """Read the whole archive once: every member a plain file with a safe name, the manifest
    of a format this release reads, and every size and SHA-256 as it says."""
    found: dict[str, tuple[int, str]] = {}
    manifest_text: bytes | None = None
    with _opened(path) as tar:
        for info in tar:
            check_name(info.name)
            if not info.isfile():
                raise ArchiveError(f"{path} holds {info.name}, which is not a plain file")
            source = tar.extractfile(info)
            assert source is not None
            if info.name == NAME:
                manifest_text = source.read(CHUNK)
                continue
            digest = hashlib.sha256()
            size = 0
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            found[info.name] = (size, digest.hexdigest())
    if manifest_text is None:
        raise ArchiveError(
            f"{path} has no manifest: it is not a fabfleet backup, or it is cut short"
        )
    try:
        manifest = parse(manifest_text)
    except ManifestError as error:
        raise ArchiveError(f"{path}: {error}") from None
    listed = {m.path: (m.size, m.sha256) for m in manifest.files}
    for name in sorted(set(listed) | set(found)):
        if name not in found:
            raise ArchiveError(f"{path} lacks {name}, which its manifest lists")
        if name not in listed:
            raise ArchiveError(f"{path} holds {name}, which its manifest does not list")
        if found[name] != listed[name]:
            raise ArchiveError(
                f"{path}: {name} does not match its checksum; the archive is damaged"
            )
    return Verified(path, manifest)
