"""What `fabfleet backup` costs on the host, without Docker: the hub database's online copy
while a writer keeps inserting, the archive written (gzip), and `restore`'s check of it.

A synthetic hub: a WAL database of ``--rows`` audit-like rows, and ``--files`` G-code files
of ``--file-mb`` each (real slicer-like lines, which compress as G-code does). Each run
reports the online copy's time and how many inserts the writer made meanwhile against
the same time before (does the copy stall the hub?), the archive's write time and size, and
the time to verify it. Ranges over ``--runs`` runs (the host is shared and noisy).

    python -m bench.backup_archive [--runs 3] [--rows 300000] [--files 10] [--file-mb 8]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from orchestrator.backup.archive import ArchiveWriter, verify
from orchestrator.backup.manifest import Manifest
from orchestrator.backup.sqlite_copy import copy_database


def _gcode(megabytes: int) -> bytes:
    lines = []
    size = 0
    i = 0
    while size < megabytes * 1_000_000:
        line = f"G1 X{100 + (i * 7) % 90:.3f} Y{100 + (i * 13) % 90:.3f} E{i * 0.0123:.5f}\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode()


def _hub(folder: Path, rows: int) -> Path:
    path = folder / "hub.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, at REAL, user TEXT, line TEXT)")
    db.execute("BEGIN")
    rows_made = (
        (time.time(), f"user{i % 40}", f"print part-{i}.gcode on printer p{i % 100}")
        for i in range(rows)
    )
    db.executemany("INSERT INTO audit (at, user, line) VALUES (?, ?, ?)", rows_made)
    db.execute("COMMIT")
    db.close()
    return path


class _Writer(threading.Thread):
    """Inserts one row per transaction, as the hub writes, counting them."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.db.execute("INSERT INTO audit (at, user, line) VALUES (?, 'w', 'session')",
                            (time.time(),))  # fmt: skip
            self.count += 1

    def inserted_during(self, seconds: float) -> int:
        before = self.count
        time.sleep(seconds)
        return self.count - before


def _run(rows: int, files: int, file_mb: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as temp:
        folder = Path(temp)
        hub = _hub(folder, rows)
        gcode = _gcode(file_mb)
        for i in range(files):
            (folder / f"{i}.gcode").write_bytes(gcode)
        writer = _Writer(hub)
        writer.start()
        time.sleep(0.3)
        start = time.monotonic()
        counted = writer.count
        copy_database(hub, folder / "copy.sqlite")
        copy_s = time.monotonic() - start
        during = (writer.count - counted) / copy_s
        alone = writer.inserted_during(copy_s) / copy_s
        writer.stop.set()
        writer.join()
        writer.db.close()
        manifest = Manifest("bench", "now", "bench", str(folder), [], timelapses=True)
        archive = folder / "bench.fabfleet"
        start = time.monotonic()
        with ArchiveWriter(archive, manifest) as out:
            out.add_file("state/hub-data/hub.sqlite", folder / "copy.sqlite")
            for i in range(files):
                out.add_file(f"printers/p/files/{i}.gcode", folder / f"{i}.gcode")
            out.finish()
        write_s = time.monotonic() - start
        start = time.monotonic()
        verify(archive)
        verify_s = time.monotonic() - start
        source_mb = ((folder / "copy.sqlite").stat().st_size + files * len(gcode)) / 1e6
        return {
            "database_mb": (folder / "copy.sqlite").stat().st_size / 1e6,
            "online_copy_s": copy_s,
            "inserts_per_s_during_copy": during,
            "inserts_per_s_alone": alone,
            "source_mb": source_mb,
            "archive_mb": archive.stat().st_size / 1e6,
            "write_s": write_s,
            "write_mb_per_s": source_mb / write_s,
            "verify_s": verify_s,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--file-mb", type=int, default=8)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    runs = [_run(arguments.rows, arguments.files, arguments.file_mb) for _ in range(arguments.runs)]
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"{key:28} {min(values):10.2f} to {max(values):10.2f}")
    if arguments.json:
        arguments.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
