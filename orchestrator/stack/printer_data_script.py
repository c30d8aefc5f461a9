"""Run inside a running print server's container (``python3 -c``, standard library only):
its data directory as a tar on stdout, the job records copied with SQLite's online backup.

Its source is sent as it is, so it imports nothing of fabfleet: the image may be of another
release than the host's ``fabfleet``.
"""

import os
import sqlite3
import sys
import tarfile
import tempfile

DATA = "/data"
DATABASE = "jobs.sqlite3"
# Never copied: the print server's lock, SQLite's side files (the copy holds their
# content), uploads still arriving and files half-written.
SKIPPED_NAMES = ("instance.lock", "jobs.sqlite3-wal", "jobs.sqlite3-shm", "jobs.sqlite3-journal")
SKIPPED_SUFFIXES = (".tmp", ".part")
SKIPPED_FOLDERS = ("files/.uploads",)


def skipped(relative: str, without: tuple[str, ...]) -> bool:
    """Whether the file at ``relative`` (to /data) stays out of the archive."""
    name = relative.rsplit("/", 1)[-1]
    folders = SKIPPED_FOLDERS + without
    if relative in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES):
        return True
    return any(relative == f or relative.startswith(f + "/") for f in folders)


def copy_database(scratch: str) -> str | None:
    """The job records copied page by page while the print server may be writing."""
    source_path = os.path.join(DATA, DATABASE)
    if not os.path.exists(source_path):
        return None
    copy_path = os.path.join(scratch, DATABASE)
    source = sqlite3.connect(source_path, timeout=30)
    try:
        target = sqlite3.connect(copy_path)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    return copy_path


def main(without: tuple[str, ...]) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        copy = copy_database(scratch)
        with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as tar:
            if copy is not None:
                tar.add(copy, arcname=DATABASE)
            for folder, directories, files in os.walk(DATA):
                directories.sort()
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    relative = os.path.relpath(path, DATA)
                    if relative == DATABASE or skipped(relative, without):
                        continue
                    if not os.path.isfile(path) or os.path.islink(path):
                        continue
                    try:
                        tar.add(path, arcname=relative, recursive=False)
                    except FileNotFoundError:  # deleted meanwhile (an old analysis)
                        continue


if __name__ == "__main__":
    main(tuple(sys.argv[1:]))
