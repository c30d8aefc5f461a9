"""One file being printed: feeding its lines, and where it stands."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain

from instance.eta import HEAT_WAITS, RemainingTime
from instance.gcode_file import GcodeFile, GcodeLine, ProgressClock, SlicerEstimate, parse_m73
from instance.job_records import JobRecords
from instance.machine_state import MachineState
from instance.protocol.framing import command_code
from instance.temperature_history import JobTemperatureSeries

# Lines handed to the link beyond those in flight: enough to refill the window
# at once, few enough that a pause takes back what was not sent yet.
FEED_AHEAD = 8
# An M73 with the normal mode's time remaining (PrusaSlicer writes silent-mode Q/S lines too).
_NORMAL_MODE_R = re.compile(r"[Rr]\s*\d")


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What a user sees of a running job."""

    file_name: str
    bytes_done: int
    bytes_total: int
    lines_done: int
    lines_total: int
    elapsed: float
    remaining: float | None
    last_line: int | None

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0


class PrintJob:
    """Streams a G-code file's commands into a sender and follows their acknowledgements."""

    def __init__(
        self,
        job_id: int,
        file: GcodeFile,
        records: JobRecords,
        estimate: SlicerEstimate,
        *,
        start_offset: int = 0,
        machine: MachineState | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = job_id
        self.file = file
        self.file_name = file.path.name
        self._records = records
        self.estimate = estimate
        self._clock = clock
        self.machine = machine or MachineState()
        self.start_offset = start_offset
        self.lines_total = file.command_count()
        self._lines: Iterator[GcodeLine] = file.iter_commands(start_offset)
        self._exhausted = False
        self.outstanding = 0
        self.last_acked: GcodeLine | None = None
        self._lines_done = 0
        self._next_offset = start_offset
        # Lines handed to the sender and not acknowledged yet: (number, a heat-up wait).
        self._in_flight: deque[tuple[int, bool]] = deque()
        self.feeding = True
        # Where to stop before a line for a park move (the timelapse's; None: never), the
        # line held back until the park is over, and the stop still ahead after a take-back.
        self.park_point: Callable[[GcodeLine], str | None] | None = None
        self.held: tuple[GcodeLine, str] | None = None
        self._hold_at: tuple[int, str] | None = None
        self.progress_clock = ProgressClock()
        self.progress_clock.start(clock(), fraction_done=start_offset / max(1, file.size))
        self.remaining_time = RemainingTime(estimate.print_time, start_offset / max(1, file.size))
        self.temperatures = JobTemperatureSeries(time.time())
        if start_offset:
            self._lines_done = self._count_commands_before(start_offset)

    # ------------------------------------------------------------ streaming

    def feed(self, send: Callable[[str, object], None], queued: int) -> None:
        """Top the sender's queue up to ``FEED_AHEAD`` unsent lines."""
        if not self.feeding or self.held is not None:
            return
        lines = self._lines
        while queued < FEED_AHEAD:
            line = next(lines, None)
            if line is None:
                self._exhausted = True
                return
            if self._holds(line):
                return
            send(line.command, line)
            heat_wait = line.command[:1] in "Mm" and command_code(line.command) in HEAT_WAITS
            self._in_flight.append((line.number, heat_wait))
            self.outstanding += 1
            self._next_offset = line.end_offset
            queued += 1

    def _holds(self, line: GcodeLine) -> bool:
        """Whether ``line`` waits for a park move (kept in ``held``)."""
        hold_at = self._hold_at
        where: str | None = None
        if hold_at is not None and hold_at[0] == line.offset:
            where = hold_at[1]
        elif self.park_point is not None:
            where = self.park_point(line)
        if where is None:
            return False
        self._hold_at = (line.offset, where)
        self.held = (line, where)
        return True

    def release(self) -> None:
        """The park move is over: the held line is the next one sent (once, with no second
        park: a take-back during the park already put it back in the file's way)."""
        held = self.held
        self.held = self._hold_at = None
        if held is not None:
            self._lines = chain([held[0]], self._lines)

    def acknowledged(self, line: GcodeLine) -> None:
        """The printer processed ``line``."""
        self.outstanding -= 1
        self.last_acked = line
        self._lines_done += 1
        self.machine.apply(line.command)
        self._records.mark_progress(self.id, line.number, line.end_offset)
        now = self._clock()
        print_time = self.progress_clock.elapsed(now)
        code = command_code(line.command)
        self.remaining_time.acknowledged(print_time, code)
        in_flight = self._in_flight
        while in_flight and in_flight[0][0] <= line.number:
            in_flight.popleft()
        if code == "M73":
            percent, remaining = parse_m73(line.command)
            self.progress_clock.note_m73(now, percent, remaining)
            if remaining is not None and _NORMAL_MODE_R.search(line.command, 3):
                # The silent mode's figures (Q/S, printed beside P/R) are not this pace.
                self.remaining_time.note_m73(print_time, remaining)

    def take_back(self, withdrawn: list[tuple[str, object]]) -> list[tuple[str, object]]:
        """Lines the sender had not written yet go back to the file; others are returned."""
        others: list[tuple[str, object]] = []
        first: GcodeLine | None = None
        for command, tag in withdrawn:
            if isinstance(tag, GcodeLine):
                if first is None:
                    first = tag
                self.outstanding -= 1
            else:
                others.append((command, tag))
        if first is not None:
            while self._in_flight and self._in_flight[-1][0] >= first.number:
                self._in_flight.pop()
            self._next_offset = first.offset
            self._lines = self.file.iter_commands(first.offset)
            self._exhausted = False
        elif self.held is not None:
            self._lines = self.file.iter_commands(self.held[0].offset)
        # A stop not reached yet stays in ``_hold_at``: the line is held again when fed again.
        self.held = None
        return others

    @property
    def complete(self) -> bool:
        """Every line of the file was sent and acknowledged."""
        return self._exhausted and self.outstanding == 0

    @property
    def resume_offset(self) -> int:
        """The file offset of the first line not yet handed to the sender."""
        return self._next_offset

    # ------------------------------------------------------------- progress

    def progress(self) -> JobProgress:
        now = self._clock()
        last = self.last_acked
        done = last.end_offset if last is not None else self.start_offset
        fraction = done / self.file.size if self.file.size else 1.0
        remaining = self.remaining_time.estimate(
            self.progress_clock.elapsed(now),
            fraction,
            # The next line the printer will acknowledge waits for a heater.
            heating=bool(self._in_flight) and self._in_flight[0][1],
        )
        if remaining is None:
            # Nothing from the slicer: the time so far, extrapolated.
            remaining = self.progress_clock.eta(now, fraction, None, None)
        return JobProgress(
            file_name=self.file_name,
            bytes_done=done,
            bytes_total=self.file.size,
            lines_done=self._lines_done,
            lines_total=self.lines_total,
            elapsed=self.progress_clock.elapsed(now),
            remaining=remaining,
            last_line=last.number if last is not None else None,
        )

    def _count_commands_before(self, offset: int) -> int:
        count = 0
        for line in self.file.iter_commands(0):
            if line.offset >= offset:
                break
            count += 1
        return count
