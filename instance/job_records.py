"""The durable record of every print job, from start to outcome, crash- and unplug-proof."""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import struct
import threading
import time
import zlib
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from instance.stored_format import backup_database
from instance.temperature_history import TemperatureSamples

log = logging.getLogger(__name__)

DB_NAME = "jobs.sqlite3"
LOCK_NAME = "instance.lock"
SCHEMA_VERSION = 4
# The progress mark a job about to start writes first (renamed to its job's once recorded).
NEW_MARK = "job-new.mark"
# SQLite's primary result code for "database or disk is full".
_SQLITE_FULL = 13

REASON_SERVER_STOPPED = "print server stopped unexpectedly"
REASON_PRINTER_RESET = "printer reset"


def reason_disconnected(why: str) -> str:
    """The ``reason`` for a job interrupted because the printer went away (said once, when
    ``why`` is already the link's own "printer disconnected: …")."""
    prefix = "printer disconnected: "
    return prefix + why.removeprefix(prefix)


class JobOutcome(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as recorded. ``ended_at``/``outcome`` are None while it runs.

    ``last_line``/``last_offset`` are the last line the printer acknowledged:
    its 1-based number in the file and the byte offset to resume from (the
    caller passes ``GcodeLine.end_offset``). ``resumed_from`` is the id of the
    interrupted job this one continues; ``start_offset`` where in the file it
    began.
    """

    id: int
    file_name: str
    file_size: int
    started_at: float
    ended_at: float | None
    outcome: JobOutcome | None
    reason: str | None
    last_line: int | None
    last_offset: int | None
    resumed_from: int | None
    start_offset: int = 0
    # Who started it (the API's user, "console" for the command line), and the
    # filament it used (the file's total scaled by how much of it was printed).
    started_by: str | None = None
    filament_mm: float | None = None
    # The job's timelapse (docs/timelapse.md): state, frames, video, notes; None: none asked.
    timelapse: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class JobWarning:
    """Something that went wrong during a job without ending it (or that ended it).

    ``kind`` is ``tail`` (the firmware ran or refused a line its drain cut),
    ``stall`` (no line acknowledged for too long); ``line`` the last file line
    acknowledged before it; ``text`` the firmware's own words when known.
    """

    at: float
    kind: str
    message: str
    line: int | None = None
    text: str | None = None


class JobRecordsError(Exception):
    """The job record store cannot be used; the message says why and what to do."""


class DataDirInUse(JobRecordsError):
    pass


class JobDatabaseUnreadable(JobRecordsError):
    pass


class RecordsDiskFull(JobRecordsError):
    """The data dir's disk is full: a write to the job records found no room."""


# Less free than this, and the job database cannot be opened: the disk is full.
NEARLY_FULL = 1024 * 1024
DISK_FULL_AT_START = (
    "the print server's disk is full: its job database cannot be opened (it is left as it"
    " is). Free space on its volume; its container starts it again by itself"
)
DISK_FULL_START = (
    "the print server's disk is full: the job could not be recorded, so it was not started."
    " Free space on its volume (delete files or old timelapses) and start it again"
)


def no_room(error: BaseException) -> bool:
    """``error`` says the disk (or the quota) is full: SQLite's SQLITE_FULL, or ENOSPC."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF == _SQLITE_FULL
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True, slots=True)
class _End:
    """A job's end kept in memory while the disk is full, shown as if recorded."""

    ended_at: float
    outcome: JobOutcome
    reason: str | None
    last_line: int | None
    last_offset: int | None
    filament_mm: float | None


_Statements = list[tuple[str, tuple[object, ...]]]


# The progress mark: magic, job id, line, offset, then a CRC-32 of those bytes
# so a half-written record (power loss) reads as torn rather than as progress.
_MARK_MAGIC = b"FFJM"
_MARK_HEAD = struct.Struct("<4sqqq")
_MARK_SIZE = _MARK_HEAD.size + 4
_NO_VALUE = -1

_COLUMNS = (
    "id, file_name, file_size, started_at, ended_at, outcome, reason,"
    " last_line, last_offset, resumed_from, start_offset, started_by, filament_mm, timelapse"
)


def _pack_mark(job_id: int, line: int, offset: int) -> bytes:
    head = _MARK_HEAD.pack(_MARK_MAGIC, job_id, line, offset)
    return head + zlib.crc32(head).to_bytes(4, "little")


def _read_mark(path: Path, job_id: int) -> tuple[int | None, int | None, float] | None:
    """(line, offset, time of last write) from a mark file, or None if missing or torn."""
    try:
        with path.open("rb") as f:
            data = f.read(_MARK_SIZE)
            mtime = os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None
    if len(data) != _MARK_SIZE:
        return None
    head = data[: _MARK_HEAD.size]
    if zlib.crc32(head).to_bytes(4, "little") != data[_MARK_HEAD.size :]:
        return None
    magic, mark_job, line, offset = _MARK_HEAD.unpack(head)
    if magic != _MARK_MAGIC or mark_job != job_id:
        return None
    return (
        None if line == _NO_VALUE else line,
        None if offset == _NO_VALUE else offset,
        mtime,
    )


def _timelapse(raw: object) -> dict[str, Any] | None:
    """The timelapse column read back; None when absent or not an object."""
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _lock_data_dir(data_dir: Path) -> int:
    """An exclusive flock on the data dir's lock file, held by the returned fd.

    The kernel drops the lock when the process dies, however it dies, so it
    can never go stale; the pid written inside is only for the message.
    """
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise DataDirInUse(
            f"data dir {data_dir} is in use by another fabfleet-instance (pid {owner});"
            " stop it first, or give this instance its own data dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    # Only for the message above: a full disk leaves it empty ("unknown"), nothing more.
    with contextlib.suppress(OSError):
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class JobRecords:
    """Every job's record in ``data_dir/jobs.sqlite3``, plus a progress mark per running job.

    Start and finish are committed with fsync. Per-line progress goes to a
    32-byte mark file with one ``pwrite`` and no fsync: the page cache outlives
    a killed process, and a SQLite commit per line would cost far more than
    the host's budget. The mark is also saved to SQLite every
    ``save_interval`` seconds as a fallback for a torn mark.

    Not safe for use from several threads at once without the caller's own
    serialisation of ``mark_progress`` for one job.
    """

    def __init__(self, data_dir: Path | str, *, save_interval: float = 5.0) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Job history names files and times: nobody else on the host needs it.
        os.chmod(self.data_dir, 0o700)
        self.db_path = self.data_dir / DB_NAME
        self.save_interval = save_interval
        self._lock_fd: int | None = _lock_data_dir(self.data_dir)
        self._db_lock = threading.Lock()
        self._marks: dict[int, int] = {}
        self._progress: dict[int, tuple[int, int]] = {}
        # Writes the full disk refused, oldest first (with the job whose end each is, if
        # one), and the ends among them: written in order once there is room again.
        self._waiting: builtins.list[tuple[int | None, _Statements]] = []
        self._ends: dict[int, _End] = {}
        # The latest timelapse state of a job while one waits: shown as if written.
        self._timelapses: dict[int, str] = {}
        self._last_save = time.monotonic()
        try:
            self._db = self._open_db()
        except BaseException:
            self._release_lock()
            raise

    # -- set-up ------------------------------------------------------------

    def _unreadable(self, exc: BaseException) -> JobDatabaseUnreadable:
        return JobDatabaseUnreadable(
            f"job database {self.db_path} cannot be read ({exc}); it has been left as it is."
            " Move it aside to start a new, empty job history, or restore it from a backup."
        )

    def _open_db(self) -> sqlite3.Connection:
        # Created here, not by SQLite, so that it is never world-readable even
        # for a moment; SQLite gives its -wal and -shm files the same mode.
        fd = os.open(self.db_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        try:
            db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from exc
        try:
            self._prepare(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            # WAL needs its shared-memory file: on a full disk it cannot be made, and the
            # database is fine.
            if shutil.disk_usage(self.data_dir).free < NEARLY_FULL:
                raise RecordsDiskFull(f"{DISK_FULL_AT_START} ({exc})") from exc
            raise self._unreadable(exc) from exc
        except BaseException:
            db.close()
            raise
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        # Reading the header first fails on a file that is not a database,
        # before anything (journal mode included) could write to it.
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JobRecordsError(
                f"job database {self.db_path} was written by a newer fabfleet"
                f" (schema {version}, this one knows {SCHEMA_VERSION}); it has been left as it"
                " is: upgrade fabfleet"
            )
        db.execute("PRAGMA journal_mode=WAL").fetchone()
        db.execute("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            if db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
                # An earlier release's records: copied aside before any step changes them.
                backup_database(db, self.db_path, version)
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS jobs ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " file_name TEXT NOT NULL,"
                " file_size INTEGER NOT NULL,"
                " started_at REAL NOT NULL,"
                " ended_at REAL,"
                " outcome TEXT,"
                " reason TEXT,"
                " last_line INTEGER,"
                " last_offset INTEGER,"
                " resumed_from INTEGER,"
                " start_offset INTEGER NOT NULL DEFAULT 0,"
                " progress_saved_at REAL,"
                " temperatures BLOB)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS jobs_running ON jobs (ended_at)")
            if version < 2:
                # Version 1 databases gain the columns; new ones get them here too.
                db.execute("ALTER TABLE jobs ADD COLUMN started_by TEXT")
                db.execute("ALTER TABLE jobs ADD COLUMN filament_mm REAL")
            if version < 3:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS job_warnings ("
                    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " job_id INTEGER NOT NULL REFERENCES jobs (id),"
                    " at REAL NOT NULL,"
                    " kind TEXT NOT NULL,"
                    " message TEXT NOT NULL,"
                    " line INTEGER,"
                    " text TEXT)"
                )
                db.execute("CREATE INDEX IF NOT EXISTS job_warnings_job ON job_warnings (job_id)")
            if version < 4:
                db.execute("ALTER TABLE jobs ADD COLUMN timelapse TEXT")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        # A damaged table shows up here rather than in the middle of a print.
        db.execute("SELECT count(*) FROM jobs").fetchone()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        """Release the data dir; running jobs stay open for the next owner's ``recover``."""
        for fd in self._marks.values():
            os.close(fd)
        self._marks.clear()
        with self._db_lock:
            self._db.close()
        self._release_lock()

    def __enter__(self) -> JobRecords:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def _mark_path(self, job_id: int) -> Path:
        return self.data_dir / f"job-{job_id}.mark"

    def _commit(self, statements: _Statements, *, durable: bool) -> sqlite3.Cursor:
        """Run ``statements`` in one transaction; the last statement's cursor.

        Writes kept while the disk was full go first: they are never overtaken.
        RecordsDiskFull when the disk is (still) full; nothing of ``statements`` is written.
        """
        with self._db_lock:
            self._write_waiting()
            if self._waiting:
                raise RecordsDiskFull("the disk is still full")
            return self._transaction(statements, durable=durable)

    def _transaction(self, statements: _Statements, *, durable: bool) -> sqlite3.Cursor:
        db = self._db
        try:
            if durable:
                db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.cursor()
                for sql, params in statements:
                    cursor = db.execute(sql, params)
                db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled a full disk's transaction back by itself.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                if durable:
                    db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            if no_room(exc):
                raise RecordsDiskFull(str(exc)) from exc
            raise self._unreadable(exc) from exc
        return cursor

    def _write_waiting(self) -> None:
        """Write what the full disk refused, in order, as far as there is room (lock held)."""
        while self._waiting:
            job_id, statements = self._waiting[0]
            try:
                self._transaction(statements, durable=True)
            except RecordsDiskFull:
                return
            self._waiting.pop(0)
            if job_id is not None and self._ends.pop(job_id, None) is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._mark_path(job_id).unlink()
                log.info("job %s: its record is written now that the disk has room", job_id)
        self._timelapses.clear()

    def _commit_or_keep(self, statements: _Statements, *, durable: bool) -> bool:
        """Commit, or keep ``statements`` to write once the disk has room; False when kept."""
        try:
            self._commit(statements, durable=durable)
        except RecordsDiskFull as exc:
            with self._db_lock:
                self._waiting.append((None, statements))
            log.warning("the disk is full (%s): a job record waits in memory", exc)
            return False
        return True

    @property
    def waiting(self) -> int:
        """Writes waiting for room on the disk (0: everything is on disk)."""
        return len(self._waiting)

    def write_waiting(self) -> int:
        """Try again to write what a full disk refused; how many writes still wait."""
        with self._db_lock:
            self._write_waiting()
            return len(self._waiting)

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> builtins.list[Any]:
        with self._db_lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from exc

    def start(
        self,
        file_name: str,
        file_size: int,
        now: float,
        *,
        resumed_from: int | None = None,
        start_offset: int = 0,
        started_by: str | None = None,
    ) -> int:
        """Record a job's start (durably) and open its progress mark; the job's id."""
        if resumed_from is not None and self.get(resumed_from) is None:
            raise ValueError(f"resumed_from={resumed_from} is not a recorded job id")
        # The mark's block is taken before the record: a job that starts always has room
        # for its progress, and a disk too full for it records nothing.
        new_mark = self.data_dir / NEW_MARK
        try:
            fd = os.open(new_mark, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise (RecordsDiskFull(DISK_FULL_START) if no_room(exc) else exc) from exc
        try:
            os.pwrite(fd, _pack_mark(0, _NO_VALUE, _NO_VALUE), 0)
            cursor = self._commit(
                [
                    (
                        "INSERT INTO jobs (file_name, file_size, started_at, resumed_from,"
                        " start_offset, started_by) VALUES (?, ?, ?, ?, ?, ?)",
                        (file_name, file_size, now, resumed_from, start_offset, started_by),
                    )
                ],
                durable=True,
            )
            job_id = cursor.lastrowid
            assert job_id is not None
            os.rename(new_mark, self._mark_path(job_id))
        except BaseException as exc:
            os.close(fd)
            new_mark.unlink(missing_ok=True)
            if no_room(exc) or isinstance(exc, RecordsDiskFull):
                raise RecordsDiskFull(DISK_FULL_START) from exc
            raise
        os.pwrite(fd, _pack_mark(job_id, _NO_VALUE, _NO_VALUE), 0)
        self._marks[job_id] = fd
        return job_id

    def mark_progress(self, job_id: int, line: int, offset: int) -> None:
        """Note the last acknowledged line: one ``pwrite``, no fsync, no SQLite (mostly)."""
        try:
            fd = self._marks[job_id]
        except KeyError:
            raise ValueError(f"job {job_id} is not running here") from None
        head = _MARK_HEAD.pack(_MARK_MAGIC, job_id, line, offset)
        os.pwrite(fd, head + zlib.crc32(head).to_bytes(4, "little"), 0)
        self._progress[job_id] = (line, offset)
        if time.monotonic() - self._last_save >= self.save_interval:
            self.save_progress()

    def save_progress(self) -> None:
        """Copy every running job's latest mark into SQLite (not fsynced)."""
        self._last_save = time.monotonic()
        if not self._progress:
            return
        now = time.time()
        with contextlib.suppress(RecordsDiskFull):  # the marks hold it; the next save copies it
            self._commit(
                [
                    (
                        "UPDATE jobs SET last_line = ?, last_offset = ?, progress_saved_at = ?"
                        " WHERE id = ? AND ended_at IS NULL",
                        (line, offset, now, job_id),
                    )
                    for job_id, (line, offset) in self._progress.items()
                ],
                durable=False,
            )

    def _drop_mark(self, job_id: int) -> None:
        fd = self._marks.pop(job_id, None)
        if fd is not None:
            os.close(fd)
        self._progress.pop(job_id, None)
        with contextlib.suppress(FileNotFoundError):
            self._mark_path(job_id).unlink()

    def finish(
        self,
        job_id: int,
        outcome: JobOutcome | str,
        reason: str | None,
        now: float,
        last_line: int | None = None,
        last_offset: int | None = None,
        filament_mm: float | None = None,
    ) -> JobRecord:
        """Record how a job ended (durably). A job already ended keeps its first outcome.

        Without ``last_line``/``last_offset`` the latest progress mark is used.
        """
        outcome = JobOutcome(outcome)
        if last_line is None and last_offset is None and job_id in self._progress:
            last_line, last_offset = self._progress[job_id]
        statements: _Statements = [
            (
                "UPDATE jobs SET ended_at = ?, outcome = ?, reason = ?,"
                " last_line = coalesce(?, last_line), last_offset = coalesce(?, last_offset),"
                " filament_mm = ? WHERE id = ? AND ended_at IS NULL",
                (now, outcome.value, reason, last_line, last_offset, filament_mm, job_id),
            )
        ]
        try:
            changed = self._commit(statements, durable=True).rowcount
        except RecordsDiskFull:
            return self._keep_end(
                job_id, statements, _End(now, outcome, reason, last_line, last_offset, filament_mm)
            )
        record = self.get(job_id)
        if record is None:
            raise ValueError(f"no job {job_id} is recorded")
        if changed or record.ended_at is not None:
            self._drop_mark(job_id)
        return record

    def _keep_end(self, job_id: int, statements: _Statements, end: _End) -> JobRecord:
        """The disk is full: the end waits in memory, shown as recorded, written on room.

        The mark file stays until then: a process that dies first leaves the job to
        ``recover`` as interrupted at its last acknowledged line, never lost.
        """
        record = self.get(job_id)
        if record is None:
            raise ValueError(f"no job {job_id} is recorded")
        if record.ended_at is not None:
            return record
        with self._db_lock:
            self._waiting.append((job_id, statements))
            self._ends[job_id] = end
        fd = self._marks.pop(job_id, None)
        if fd is not None:
            os.close(fd)
        self._progress.pop(job_id, None)
        log.warning(
            "the disk is full: job %s ended %s, its record waits in memory until there is room",
            job_id,
            end.outcome.value,
        )
        return self._shown(record)

    def _shown(self, record: JobRecord) -> JobRecord:
        """``record`` with its end and timelapse when they still wait for room on the disk."""
        timelapse = self._timelapses.get(record.id)
        if timelapse is not None:
            record = replace(record, timelapse=_timelapse(timelapse))
        end = self._ends.get(record.id)
        if end is None or record.ended_at is not None:
            return record
        return replace(
            record,
            ended_at=end.ended_at,
            outcome=end.outcome,
            reason=end.reason,
            last_line=end.last_line if end.last_line is not None else record.last_line,
            last_offset=end.last_offset if end.last_offset is not None else record.last_offset,
            filament_mm=end.filament_mm,
        )

    def recover(self, now: float) -> builtins.list[JobRecord]:
        """Close every job left running by a previous process as interrupted; those records.

        Each gets the last acknowledged line from its mark (or the last SQLite
        save when the mark is missing or torn) and, as ``ended_at``, the last
        sign of life: the mark's last write, not the time of this recovery.
        Jobs started by this JobRecords are left alone.
        """
        rows = self._query(
            "SELECT id, started_at, last_line, last_offset FROM jobs WHERE ended_at IS NULL"
        )
        statements: _Statements = []
        recovered: builtins.list[int] = []
        ends: dict[int, _End] = {}
        for job_id, started_at, saved_line, saved_offset in rows:
            if job_id in self._marks:
                continue
            ended_at = now
            line, offset = saved_line, saved_offset
            mark = _read_mark(self._mark_path(job_id), job_id)
            if mark is not None:
                line, offset, written_at = mark
                ended_at = min(now, max(float(started_at), written_at))
            statements.append(
                (
                    "UPDATE jobs SET ended_at = ?, outcome = ?, reason = ?, last_line = ?,"
                    " last_offset = ? WHERE id = ? AND ended_at IS NULL",
                    (
                        ended_at,
                        JobOutcome.INTERRUPTED.value,
                        REASON_SERVER_STOPPED,
                        line,
                        offset,
                        job_id,
                    ),
                )
            )
            recovered.append(job_id)
            ends[job_id] = _End(
                ended_at, JobOutcome.INTERRUPTED, REASON_SERVER_STOPPED, line, offset, None
            )
        try:
            if statements:
                self._commit(statements, durable=True)
        except RecordsDiskFull:
            # Started on a full disk: the ends wait in memory like a finished job's.
            with self._db_lock:
                for statement, (job_id, end) in zip(statements, ends.items(), strict=True):
                    self._waiting.append((job_id, [statement]))
                    self._ends[job_id] = end
            log.warning("the disk is full: %d interrupted jobs wait to be recorded", len(ends))
        else:
            for job_id in recovered:
                self._drop_mark(job_id)
        self._remove_stray_marks()
        records = [self.get(job_id) for job_id in recovered]
        return [record for record in records if record is not None]

    def _remove_stray_marks(self) -> None:
        for path in self.data_dir.glob("job-*.mark"):
            try:
                job_id = int(path.stem.removeprefix("job-"))
            except ValueError:
                continue
            if job_id in self._marks or job_id in self._ends:
                continue
            record = self.get(job_id)
            if record is None or not record.running:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def attach_temperatures(self, job_id: int, samples: TemperatureSamples) -> None:
        """Store the job's own temperature series (packed float32, compressed)."""
        self._keep_unless_written(
            [("UPDATE jobs SET temperatures = ? WHERE id = ?", (samples.to_blob(), job_id))],
            job_id,
        )

    def _keep_unless_written(self, statements: _Statements, job_id: int) -> bool:
        """Commit (not fsynced), or keep for when the disk has room (False); ValueError for
        an unknown job."""
        if self.get(job_id) is None:
            raise ValueError(f"no job {job_id} is recorded")
        return self._commit_or_keep(statements, durable=False)

    def set_timelapse(self, job_id: int, timelapse: dict[str, Any]) -> None:
        """Keep the job's timelapse state (frames, video, notes) with its record."""
        text = json.dumps(timelapse)
        if not self._keep_unless_written(
            [("UPDATE jobs SET timelapse = ? WHERE id = ?", (text, job_id))], job_id
        ):
            with self._db_lock:
                self._timelapses[job_id] = text

    def with_timelapse(self) -> builtins.list[JobRecord]:
        """Every job that has a timelapse record, oldest first."""
        rows = self._query(f"SELECT {_COLUMNS} FROM jobs WHERE timelapse IS NOT NULL ORDER BY id")
        return [self._shown(self._record(row)) for row in rows]

    # -- reading -------------------------------------------------------------

    @staticmethod
    def _record(row: Any) -> JobRecord:
        (
            job_id,
            file_name,
            file_size,
            started_at,
            ended_at,
            outcome,
            reason,
            last_line,
            last_offset,
            resumed_from,
            start_offset,
            started_by,
            filament_mm,
            timelapse,
        ) = row
        return JobRecord(
            id=int(job_id),
            file_name=str(file_name),
            file_size=int(file_size),
            started_at=float(started_at),
            ended_at=None if ended_at is None else float(ended_at),
            outcome=None if outcome is None else JobOutcome(outcome),
            reason=None if reason is None else str(reason),
            last_line=None if last_line is None else int(last_line),
            last_offset=None if last_offset is None else int(last_offset),
            resumed_from=None if resumed_from is None else int(resumed_from),
            start_offset=int(start_offset),
            started_by=None if started_by is None else str(started_by),
            filament_mm=None if filament_mm is None else float(filament_mm),
            timelapse=_timelapse(timelapse),
        )

    def add_warning(self, job_id: int, warning: JobWarning) -> None:
        """Keep ``warning`` with the job (durably: it explains what the print shows)."""
        self._commit_or_keep(
            [
                (
                    "INSERT INTO job_warnings (job_id, at, kind, message, line, text)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        warning.at,
                        warning.kind,
                        warning.message,
                        warning.line,
                        warning.text,
                    ),
                )
            ],
            durable=True,
        )

    def warnings(self, job_id: int) -> builtins.list[JobWarning]:
        """The job's warnings, oldest first."""
        rows = self._query(
            "SELECT at, kind, message, line, text FROM job_warnings WHERE job_id = ? ORDER BY id",
            (job_id,),
        )
        return [
            JobWarning(
                float(at),
                str(kind),
                str(message),
                None if line is None else int(line),
                None if text is None else str(text),
            )
            for at, kind, message, line, text in rows
        ]

    def get(self, job_id: int) -> JobRecord | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return self._shown(self._record(rows[0])) if rows else None

    def list(self, limit: int = 50) -> builtins.list[JobRecord]:
        """The newest ``limit`` jobs, newest first."""
        rows = self._query(f"SELECT {_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        return [self._shown(self._record(row)) for row in rows]

    def search(
        self,
        *,
        outcome: JobOutcome | None = None,
        file_name: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[JobRecord]:
        """Jobs newest first: by outcome, by a part of the file name, started in [since, until)."""
        where: builtins.list[str] = []
        params: builtins.list[object] = []
        if outcome is not None:
            where.append("outcome = ?")
            params.append(JobOutcome(outcome).value)
        if file_name:
            escaped = file_name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("file_name LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if since is not None:
            where.append("started_at >= ?")
            params.append(since)
        if until is not None:
            where.append("started_at < ?")
            params.append(until)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM jobs{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self._shown(self._record(row)) for row in rows]

    def journal_mode(self) -> str:
        """SQLite's journal mode for the job database (``wal``)."""
        return str(self._query("PRAGMA journal_mode")[0][0])

    def temperatures(self, job_id: int) -> TemperatureSamples | None:
        """The job's temperature series, if one was attached."""
        rows = self._query("SELECT temperatures FROM jobs WHERE id = ?", (job_id,))
        if not rows or rows[0][0] is None:
            return None
        blob = rows[0][0]
        assert isinstance(blob, bytes)
        return TemperatureSamples.from_blob(blob)
