"""A small real file system (tmpfs) for disk-full tests, and a filler that takes all of it."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.web.big_upload import BOUNDARY, LINE

MB = 1024 * 1024
FILLER = ".filler"


@contextlib.contextmanager
def small_volume(where: Path, size_mb: int) -> Iterator[Path]:
    """``where`` as its own tmpfs of ``size_mb`` MB (root only), unmounted whatever happens."""
    assert os.geteuid() == 0, "a tmpfs is mounted for this test: run it as root (CI does)"
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(where)],
        check=True,
    )
    try:
        yield where
    finally:
        # Lazy: a process that still has a file open there cannot keep the mount alive.
        subprocess.run(["umount", "--lazy", str(where)], check=False)


def fill(volume: Path) -> Path:
    """Write a filler file until the volume has not one byte left; the filler's path."""
    filler = volume / FILLER
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (MB, 64 * 1024, 4096, 512, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    assert os.statvfs(volume).f_bavail == 0
    return filler


def integrity(database: Path) -> str:
    """SQLite's ``PRAGMA integrity_check`` of a database file ("ok" when undamaged)."""
    db = sqlite3.connect(database)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def chunked_upload(name: str, size: int) -> Iterator[bytes]:
    """A multipart body sent without a Content-Length (chunked): no size to check up front."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = LINE * (64 * 1024 // len(LINE))
    for _ in range(size // len(block)):
        yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()
