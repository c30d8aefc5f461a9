"""Reading a G-code file to print: its commands, the slicer's estimates, and progress timing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from instance.protocol.framing import command_code, strip_comment

# Large reads keep the per-line cost down to split + decode; 1 MiB is past the
# point where bigger buffers stop helping.
_CHUNK = 1 << 20
# No firmware accepts a line anywhere near this long; the cap only bounds memory
# when a file (or a binary uploaded by mistake) has no newline for megabytes.
MAX_LINE_BYTES = 64 * 1024
# Slicers put their summaries in the first or last few KiB; 64 KiB of each end
# covers PrusaSlicer's long config footer before the estimates.
_ESTIMATE_WINDOW = 64 * 1024


@dataclass(frozen=True, slots=True)
class GcodeLine:
    """One command of a file: what to send, and where it came from.

    ``number`` is the 1-based line number in the file; ``offset`` is the byte
    offset of the start of the line and ``end_offset`` the offset just after
    its newline (resume from ``end_offset`` to continue after this line).
    """

    command: str
    number: int
    offset: int
    end_offset: int


def _command_of(raw: bytes) -> str:
    if not raw or raw[0] == 0x3B:  # ";": most comment lines never get decoded
        return ""
    command = strip_comment(raw.decode("utf-8", "replace"))
    if "\x00" in command:
        # Firmware treats NUL as end of line, so the checksummed line would
        # never match what the printer sees.
        command = command.replace("\x00", "").strip()
    return command


class GcodeFile:
    """A G-code file on disk, read as a stream of commands from any line start."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._command_count: int | None = None

    def __repr__(self) -> str:
        return f"GcodeFile({str(self.path)!r}, size={self.size})"

    def line_number_at(self, offset: int) -> int:
        """The 1-based number of the line that starts at (or contains) ``offset``."""
        if not 0 <= offset <= self.size:
            raise ValueError(f"offset {offset} is outside {self.path} ({self.size} bytes)")
        newlines = 0
        with self.path.open("rb") as f:
            remaining = offset
            while remaining > 0:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                newlines += chunk.count(b"\n")
                remaining -= len(chunk)
        return newlines + 1

    def _check_line_start(self, offset: int) -> None:
        if not 0 <= offset <= self.size:
            raise ValueError(f"offset {offset} is outside {self.path} ({self.size} bytes)")
        if offset == 0:
            return
        with self.path.open("rb") as f:
            f.seek(offset - 1)
            if f.read(1) != b"\n":
                raise ValueError(f"offset {offset} is not the start of a line in {self.path}")

    def iter_commands(self, start_offset: int = 0) -> Iterator[GcodeLine]:
        """Every non-empty command from the line starting at byte ``start_offset`` on.

        Raises ValueError at once (not on first ``next``) when ``start_offset``
        is not a line start.
        """
        self._check_line_start(start_offset)
        number = self.line_number_at(start_offset)
        return self._iter_from(start_offset, number)

    def _iter_from(self, offset: int, number: int) -> Iterator[GcodeLine]:
        with self.path.open("rb") as f:
            f.seek(offset)
            pending = b""
            # While skipping the rest of an over-long line, ``long_head`` holds
            # its first MAX_LINE_BYTES and ``pending`` stays empty.
            long_head: bytes | None = None
            long_start = 0
            while chunk := f.read(_CHUNK):
                if long_head is not None:
                    # Here ``offset`` is the file position of ``chunk``.
                    cut = chunk.find(b"\n")
                    if cut < 0:
                        offset += len(chunk)
                        continue
                    end = offset + cut + 1
                    command = _command_of(long_head)
                    if command:
                        yield GcodeLine(command, number, long_start, end)
                    number += 1
                    offset = end
                    long_head = None
                    chunk = chunk[cut + 1 :]
                elif pending:
                    chunk = pending + chunk
                lines = chunk.split(b"\n")
                pending = lines.pop()
                for raw in lines:
                    end = offset + len(raw) + 1
                    if raw and raw[0] != 0x3B:
                        command = _command_of(raw)
                        if command:
                            yield GcodeLine(command, number, offset, end)
                    number += 1
                    offset = end
                if len(pending) > MAX_LINE_BYTES:
                    long_head = pending[:MAX_LINE_BYTES]
                    long_start = offset
                    offset += len(pending)
                    pending = b""
            # The file ended without a final newline.
            if long_head is not None:
                command = _command_of(long_head)
                if command:
                    yield GcodeLine(command, number, long_start, offset)
            elif pending:
                command = _command_of(pending)
                if command:
                    yield GcodeLine(command, number, offset, offset + len(pending))

    def command_count(self) -> int:
        """How many non-empty commands the file holds (counted once, then cached)."""
        if self._command_count is None:
            count = 0
            for _ in self._iter_from(0, 1):
                count += 1
            self._command_count = count
        return self._command_count


@dataclass(frozen=True, slots=True)
class SlicerEstimate:
    """What the slicer wrote about the file; each field None when it did not say.

    ``print_time`` is in seconds (normal mode for PrusaSlicer), ``filament_mm``
    is the total over all extruders.
    """

    slicer: str | None = None
    slicer_version: str | None = None
    print_time: float | None = None
    filament_mm: float | None = None


# (pattern, slicer name); the version is the pattern's first group.
_SLICER_MARKERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^; generated by PrusaSlicer[ -]?(\S*)", re.M | re.I), "PrusaSlicer"),
    (re.compile(r"^; generated by SuperSlicer[ -]?(\S*)", re.M | re.I), "SuperSlicer"),
    (re.compile(r"^; generated by OrcaSlicer[ -]?(\S*)", re.M | re.I), "OrcaSlicer"),
    (re.compile(r"^; generated by BambuStudio[ -]?(\S*)", re.M | re.I), "BambuStudio"),
    (re.compile(r"^; generated by Slic3r[ -]?(\S*)", re.M | re.I), "Slic3r"),
    (re.compile(r"^;Generated with Cura_SteamEngine (\S*)", re.M | re.I), "Cura"),
    (
        re.compile(r"^; G-Code generated by Simplify3D\(R\) Version (\S*)", re.M | re.I),
        "Simplify3D",
    ),
    (re.compile(r"^;\s*HEADER_BLOCK_START()", re.M), "OrcaSlicer"),
    (re.compile(r"^;FLAVOR:()", re.M), "Cura"),
)
_PRUSA_TIME = re.compile(r"^; estimated printing time \(normal mode\) = (.+)$", re.M)
_ORCA_TOTAL_TIME = re.compile(r"^; total estimated time: (.+)$", re.M)
_CURA_TIME = re.compile(r"^;TIME:(\d+(?:\.\d*)?)\s*$", re.M)
_S3D_TIME = re.compile(r"^;\s*Build time: (.+)$", re.M)
_PRUSA_FILAMENT = re.compile(r"^; filament used \[mm\] = (.+)$", re.M)
_CURA_FILAMENT = re.compile(r"^;Filament used: (.+)$", re.M)
_SLIC3R_FILAMENT = re.compile(r"^; filament used = (\d+(?:\.\d*)?)\s*mm", re.M)
_S3D_FILAMENT = re.compile(r"^;\s*Filament length: (\d+(?:\.\d*)?)\s*mm", re.M)
# (pattern, factor to mm): Cura writes metres.
_FILAMENT_PATTERNS = (
    (_PRUSA_FILAMENT, 1.0),
    (_CURA_FILAMENT, 1000.0),
    (_SLIC3R_FILAMENT, 1.0),
    (_S3D_FILAMENT, 1.0),
)
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d*)?)\s*(d|days?|h|hours?|m|mins?|minutes?|s|secs?|seconds?)\b", re.I
)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?|-?\.\d+")


def parse_duration(text: str) -> float | None:
    """Seconds in ``1d 2h 3m 4s`` or ``1 hours 2 minutes``; None when there is no duration."""
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    return sum(float(value) * _UNIT_SECONDS[unit[0].lower()] for value, unit in parts)


def _sum_numbers(text: str, scale: float = 1.0) -> float | None:
    # Multi-extruder files list one figure per extruder: "1.2m, 0.5m".
    numbers = [float(n) for n in _NUMBER.findall(text)]
    if not numbers:
        return None
    return round(sum(numbers) * scale, 3)


def _find_last(pattern: re.Pattern[str], text: str) -> str | None:
    # The footer (read last) wins over a header placeholder.
    found = pattern.findall(text)
    return found[-1] if found else None


def head_and_tail(path: str | os.PathLike[str]) -> str:
    """The file's first and last ``_ESTIMATE_WINDOW`` bytes as text (where slicers write
    what they know), whole lines only, newlines as ``\n``."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        if size <= 2 * _ESTIMATE_WINDOW:
            text = f.read().decode("utf-8", "replace")
        else:
            head = f.read(_ESTIMATE_WINDOW)
            f.seek(size - _ESTIMATE_WINDOW)
            tail = f.read()
            # Drop the partial lines at the cuts so no half line can match.
            head = head[: head.rfind(b"\n") + 1]
            tail = tail[tail.find(b"\n") + 1 :]
            text = (head + tail).decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def read_slicer_estimate(path: str | os.PathLike[str]) -> SlicerEstimate:
    """The slicer's name, print time and filament, read from the file's head and tail only."""
    text = head_and_tail(path)
    slicer = version = None
    for pattern, name in _SLICER_MARKERS:
        match = pattern.search(text)
        if match:
            slicer, version = name, (match.group(1) or None)
            break

    print_time: float | None = None
    for pattern in (_PRUSA_TIME, _ORCA_TOTAL_TIME, _S3D_TIME):
        found = _find_last(pattern, text)
        if found is not None and (print_time := parse_duration(found)) is not None:
            break
    if print_time is None and (found := _find_last(_CURA_TIME, text)) is not None:
        print_time = float(found)

    filament: float | None = None
    for pattern, scale in _FILAMENT_PATTERNS:
        if (found := _find_last(pattern, text)) is not None:
            filament = _sum_numbers(found, scale)
            break

    return SlicerEstimate(slicer, version, print_time, filament)


def parse_m73(command: str) -> tuple[float | None, float | None]:
    """(percent done, remaining seconds) from an ``M73`` progress command, else (None, None).

    ``P``/``R`` are the normal-mode figures; the silent-mode ``Q``/``S`` are
    used only when neither P nor R is present.
    """
    if command_code(command) != "M73":
        return None, None
    params: dict[str, float] = {}
    for match in re.finditer(r"([A-Za-z])\s*(-?\d+(?:\.\d*)?|-?\.\d+)", command[3:]):
        params[match.group(1).upper()] = float(match.group(2))
    percent, remaining = params.get("P"), params.get("R")
    if percent is None and remaining is None:
        percent, remaining = params.get("Q"), params.get("S")
    return percent, (remaining * 60.0 if remaining is not None else None)


class ProgressClock:
    """Print time and time remaining for one job, not counting time spent paused.

    Every method takes ``now`` (seconds, any monotonic-enough clock) so the
    clock is deterministic under test.
    """

    # Below this fraction of the file, the actual/estimated speed ratio is
    # mostly heat-up and homing; it is blended in as progress grows.
    SPEED_RATIO_RAMP = 0.1

    def __init__(self) -> None:
        self._started_at: float | None = None
        self._start_fraction = 0.0
        self._paused_since: float | None = None
        self.paused_total = 0.0
        self._m73_remaining: float | None = None
        self._m73_elapsed = 0.0
        self.m73_percent: float | None = None

    @property
    def started(self) -> bool:
        return self._started_at is not None

    @property
    def paused(self) -> bool:
        return self._paused_since is not None

    def start(self, now: float, *, fraction_done: float = 0.0) -> None:
        """Begin timing; ``fraction_done`` is where a resumed job starts in the file."""
        self._started_at = now
        self._start_fraction = fraction_done
        self._paused_since = None
        self.paused_total = 0.0
        self._m73_remaining = None
        self._m73_elapsed = 0.0
        self.m73_percent = None

    def pause(self, now: float) -> None:
        if self._started_at is not None and self._paused_since is None:
            self._paused_since = now

    def resume(self, now: float) -> None:
        if self._paused_since is not None:
            self.paused_total += max(0.0, now - self._paused_since)
            self._paused_since = None

    def elapsed(self, now: float) -> float:
        """Seconds spent printing since start, paused time excluded."""
        if self._started_at is None:
            return 0.0
        paused = self.paused_total
        if self._paused_since is not None:
            paused += max(0.0, now - self._paused_since)
        return max(0.0, now - self._started_at - paused)

    def note_m73(self, now: float, percent: float | None, remaining: float | None) -> None:
        """Remember the latest ``M73`` figures sent to the printer (remaining in seconds)."""
        if percent is not None:
            self.m73_percent = percent
        if remaining is not None:
            self._m73_remaining = remaining
            self._m73_elapsed = self.elapsed(now)

    def eta(
        self,
        now: float,
        fraction_done: float,
        slicer_remaining: float | None,
        slicer_total: float | None,
    ) -> float | None:
        """Seconds of printing left, or None while there is nothing to go on.

        In order of preference: the latest ``M73 R`` (counted down by the print
        time since it was sent); ``slicer_remaining`` as given; the slicer's
        total for the part not yet printed, scaled by how fast this print runs
        against that estimate; linear extrapolation of elapsed time.
        """
        elapsed = self.elapsed(now)
        if self._m73_remaining is not None:
            return max(0.0, self._m73_remaining - (elapsed - self._m73_elapsed))
        if slicer_remaining is not None:
            return max(0.0, slicer_remaining)
        fraction = min(max(fraction_done, 0.0), 1.0)
        if fraction >= 1.0:
            return 0.0
        progressed = fraction - self._start_fraction
        if slicer_total is not None and slicer_total > 0:
            ratio = 1.0
            expected = slicer_total * progressed
            if expected > 0 and elapsed > 0:
                weight = min(1.0, progressed / self.SPEED_RATIO_RAMP)
                ratio = 1.0 + (elapsed / expected - 1.0) * weight
            return slicer_total * (1.0 - fraction) * ratio
        if progressed <= 0 or elapsed <= 0:
            return None
        return elapsed * (1.0 - fraction) / progressed
