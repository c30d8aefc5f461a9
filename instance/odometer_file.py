"""The odometer's file in the print server's data dir: ``counters.json``.

Written whole and atomically (a temporary file, fsync, rename, fsync of the
directory), so a power cut leaves the old file or the new one, never half of one.
A file that cannot be read is moved aside to ``counters.json.bad-<time>`` and
reported (``OdometerFile.problem``, the log, ``GET /api/v1/counters``); counting
starts again from zero beside it rather than on top of a guess. A file of a newer
format than this release knows is refused (``FormatRefused``: the print server does
not start) and left as it is (docs/upgrades.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

from instance.odometer import FORMAT, Odometer, OdometerFileError
from instance.stored_format import version_of

log = logging.getLogger(__name__)

FILE_NAME = "counters.json"
# The longest a change waits to be written (besides job end and shutdown).
FLUSH_EVERY = 30.0


class OdometerFile:
    """Loads the odometer from ``data_dir`` and writes it back when it changed."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.problem: str | None = None
        # The job a previous process left running (folded in as interrupted), if any.
        self.interrupted_job: int | None = None
        self.odometer = self._load()
        self._written = -1

    def _load(self) -> Odometer:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return Odometer(time.time())
        except (OSError, UnicodeDecodeError) as error:
            return self._set_aside(str(error))
        try:
            document = json.loads(text)
        except ValueError as error:
            return self._set_aside(str(error))
        if isinstance(document, dict):
            # A newer release's counters are refused, never set aside and counted over.
            version_of(document, self.path, "counters file", FORMAT)
        try:
            odometer, self.interrupted_job = Odometer.from_json(document)
        except (ValueError, OdometerFileError) as error:
            return self._set_aside(str(error))
        return odometer

    def _set_aside(self, why: str) -> Odometer:
        kept = self.path.with_name(f"{FILE_NAME}.bad-{int(time.time())}")
        try:
            os.replace(self.path, kept)
            where = f"kept as {kept.name}"
        except OSError as error:
            where = f"and could not be moved aside ({error.strerror})"
        self.problem = (
            f"the counters file {self.path} could not be read ({why}); it was {where}"
            " and counting started again from zero"
        )
        log.error("%s", self.problem)
        return Odometer(time.time())

    def save(self, *, force: bool = False) -> None:
        """Write the odometer if it changed since the last write (or ``force``)."""
        odometer = self.odometer
        if not force and odometer.changes == self._written:
            return
        changes = odometer.changes
        data = (json.dumps(odometer.to_json(), indent=1) + "\n").encode("utf-8")
        temporary = self.path.with_name(f".{FILE_NAME}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as error:
            log.error("the counters could not be written to %s: %s", self.path, error)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        self._written = changes
