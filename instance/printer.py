"""One printer as its users see it: state, the job, temperatures, manual control."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path

from instance.after_job import AfterJobPolicy
from instance.data_format import upgrade_data_dir
from instance.gcode_file import GcodeFile, GcodeLine, read_slicer_estimate
from instance.job import PrintJob
from instance.job_records import (
    REASON_PRINTER_RESET,
    JobOutcome,
    JobRecord,
    JobRecords,
    JobWarning,
    reason_disconnected,
)
from instance.link import CommandFailed, LinkSettings, PrinterLink, TransportOpener
from instance.machine_state import MachineState, heater_target
from instance.odometer import JobShare, Reading
from instance.odometer_file import FLUSH_EVERY, OdometerFile
from instance.park import ParkPlan
from instance.protocol.connection import Event
from instance.protocol.events import (
    Acknowledged,
    Halted,
    LinkLost,
    PrinterReset,
    Ready,
    Stalled,
    TailExecuted,
)
from instance.protocol.framing import command_code
from instance.protocol.replies import (
    ActionCommand,
    FirmwareInfo,
    PositionReport,
    TemperatureReport,
)
from instance.resume import ResumeError, ResumePlan, plan_resume
from instance.scripts import JobScripts
from instance.stored_format import FormatRefused
from instance.temperature_history import TemperatureHistory

log = logging.getLogger(__name__)

TERMINAL_LINES = 1000
# A firmware that announced AUTOREPORT_TEMP but sent no report this long after M155
# is polled with M105 instead.
AUTOREPORT_GRACE = 5.0
# With no policy given: nothing after a job, heaters off after a stalled link.
# A cancel breaks a heat-up wait with M108. Marlin's M108 only ends a wait that has
# begun (it clears wait_for_heatup, which M109/M190 set when they start), so one
# that arrives while the M109 is still behind moves in the firmware's buffers is
# lost: it is sent again this often, this many times at most, until the queue drains.
CANCEL_BREAK_EVERY = 2.0
CANCEL_BREAKS = 30
STALL_ONLY = AfterJobPolicy(heaters="off", fans="keep")
# While the device is gone, the countdown in ``error`` is brought up to date this often.
DEVICE_CHECK_EVERY = 1.0
# Job records a full disk refused are tried again this often (docs/print-server.md).
RECORDS_RETRY = 5.0
RECORDS_WAIT = (
    "the print server's disk is full: the job's record waits in memory and is written"
    " as soon as there is room again (free space on its volume)"
)


class PrinterState(enum.StrEnum):
    OFFLINE = "offline"
    CONNECTING = "connecting"
    READY = "ready"
    PRINTING = "printing"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    FINISHED = "finished"
    FAILED = "failed"
    BED_NOT_CLEARED = "bed not cleared"


_BUSY = {
    PrinterState.PRINTING,
    PrinterState.PAUSING,
    PrinterState.PAUSED,
    PrinterState.CANCELLING,
}


class PrinterError(RuntimeError):
    """A request the printer cannot honour now; the message says why."""


class HeldByCheck(PrinterError):
    """The hub's dispatch check holds the start: nothing started, the file stays.
    ``items`` are the check's holding items (``item``, ``text``, ``overridable``)."""

    def __init__(self, message: str, items: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.items = items


@dataclass(frozen=True, slots=True)
class PrinterSettings:
    """Everything one print server needs to know about its printer."""

    link: LinkSettings
    data_dir: Path
    scripts: JobScripts = field(default_factory=JobScripts)
    temperature_interval: float = 1.0
    ready_timeout: float = 30.0
    # Heaters and fans after every job (docs/print-server.md#after-a-job); None: left
    # as the file or the cancel script left them, except that a job failed by a
    # stalled link turns the heaters off once the printer answers again.
    after_job: AfterJobPolicy | None = None
    # How to open the port; None: from ``link.port`` (tests pass the simulator here).
    opener: TransportOpener | None = None
    # Seconds the device may be gone (cannot be opened, closed under us) before the
    # printer gives up (``device_gone`` is set; the print server then exits); 0: never.
    device_gone_timeout: float = 0.0


@dataclass(slots=True)
class Prompt:
    """A question the firmware asked (``//action:prompt_*``), answered with M876."""

    text: str
    choices: list[str] = field(default_factory=list)


class Printer:
    """The printer service: owns the link, the job and the records."""

    def __init__(self, settings: PrinterSettings) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Refused, untouched, when a newer release wrote it (docs/upgrades.md).
        upgrade_data_dir(self.data_dir)
        self.records = JobRecords(self.data_dir)
        # The printer's lifetime counters (docs/maintenance.md), saved in counters.json.
        try:
            self.odometer_file = OdometerFile(self.data_dir)
        except FormatRefused:
            self.records.close()
            raise
        self.odometer = self.odometer_file.odometer
        self.link = PrinterLink(
            settings.link, self._on_event, opener=settings.opener, line_log=self._log_line
        )
        self.terminal: deque[tuple[float, str, str]] = deque(maxlen=TERMINAL_LINES)
        # Lines ever logged: tells a reader of ``terminal`` how many are new.
        self.terminal_count = 0
        self.temperatures = TemperatureHistory()
        self.heaters: dict[str, tuple[float, float | None]] = {}
        self.position: dict[str, float] | None = None
        self.firmware: FirmwareInfo | None = None
        self.capabilities: dict[str, bool] = {}
        self.job: PrintJob | None = None
        self.last_job: JobRecord | None = None
        self.prompt: Prompt | None = None
        self.machine = MachineState()
        self.paused_with = MachineState()
        self.error: str | None = None
        # Why the print paused by itself, or what went wrong in it without ending it.
        self.notice: str | None = None
        self.job_warnings: list[JobWarning] = []
        # A policy to carry out once the printer answers again (after a stall).
        self._after_job_on_connect: AfterJobPolicy | None = None
        self._autoreport_since: float | None = None
        self._autoreport_works = False
        self._bed_file = self.data_dir / "bed.json"
        self.bed_clear = self._load_bed_clear()
        self._state = PrinterState.CONNECTING
        self._listeners: list[Callable[[], None]] = []
        # Told of every file line the printer acknowledged (job id, line) and of every
        # job's end (its record): the timelapse follows jobs so (instance/timelapse/).
        self.line_watchers: list[Callable[[int, GcodeLine], None]] = []
        self.end_watchers: list[Callable[[JobRecord], None]] = []
        # The park move of the running job (its timelapse's, docs/timelapse.md), and the
        # park under way.
        self._park_plan: ParkPlan | None = None
        self._parking: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._poll_pending = False
        # Paused by the firmware itself (M600, //action:paused): it resumes on its own.
        self._paused_by_printer = False
        self._job_done: asyncio.Event = asyncio.Event()
        self._job_filament: float | None = None
        # Set once the device was gone for ``device_gone_timeout``; the reason stays in
        # ``gave_up_because``.
        self.device_gone: asyncio.Event = asyncio.Event()
        self.gave_up_because: str | None = None
        self.interrupted_jobs: list[JobRecord] = self.records.recover(time.time())
        if self.interrupted_jobs:
            self.bed_clear = False
            self._save_bed_clear()
        # The job that ended last is reported across a restart too: one a crash left open,
        # just closed as interrupted, or the one before it. Whoever follows a job (the hub's
        # queue) learns how it ended; before, a restart forgot it and the hub's entry stayed
        # "printing" for ever, its printer given no more work (issue 18's soak found it).
        newest = self.records.list(limit=1)
        self.last_job = newest[0] if newest else None
        # How the last job of this run ended: the state after a reconnect comes from it.
        self._ended_here: JobOutcome | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._spawn(self.link.run(), "printer link")
        self._spawn(self._poll_temperatures(), "temperature poll")
        self._spawn(self._flush_odometer(), "counters flush")
        self._spawn(self._write_waiting_records(), "records waiting for disk")
        if self.settings.device_gone_timeout > 0:
            self._spawn(self._watch_device(), "device watch")

    async def stop(self) -> None:
        if self.job is not None:
            self._end_job(JobOutcome.INTERRUPTED, "print server stopped", after=False)
        await self.link.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.odometer_file.save()
        self.records.close()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change a user could see."""
        self._listeners.append(listener)

    # ---------------------------------------------------------------- state

    @property
    def state(self) -> PrinterState:
        return self._state

    def _set_state(self, state: PrinterState) -> None:
        if state is not self._state:
            log.info("printer state: %s -> %s", self._state, state)
            self._state = state
        self._changed()

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # ---------------------------------------------------------------- jobs

    def check_startable(self) -> None:
        """PrinterError unless the printer is ready with its bed confirmed clear."""
        if self._state is not PrinterState.READY:
            if self._state in (
                PrinterState.FINISHED,
                PrinterState.FAILED,
                PrinterState.BED_NOT_CLEARED,
            ):
                raise PrinterError("the bed was not confirmed clear after the last job")
            raise PrinterError(f"the printer is {self._state.value}, not ready")
        if not self.bed_clear:
            raise PrinterError("the bed was not confirmed clear after the last job")

    async def start_print(
        self,
        path: str | os.PathLike[str],
        *,
        start_offset: int = 0,
        resumed_from: int | None = None,
        preamble: list[str] | None = None,
        started_by: str | None = None,
        filament_mm: float | None = None,
    ) -> int:
        """Start printing a file; the job's id. Refused unless ready with a clear bed.

        ``filament_mm`` is the whole file's filament when known from an
        analysis; otherwise the slicer's figure is used. The record gets the
        share of it that was printed.
        """
        self.check_startable()
        file = GcodeFile(path)
        if start_offset:
            file.line_number_at(start_offset)  # refuses an offset that is not a line start
        estimate = read_slicer_estimate(path)
        job_id = self.records.start(
            file.path.name,
            file.size,
            time.time(),
            resumed_from=resumed_from,
            start_offset=start_offset,
            started_by=started_by,
        )
        self.job = PrintJob(job_id, file, self.records, estimate, start_offset=start_offset)
        self.odometer.job_started(job_id)
        self.odometer_file.save()
        self.job_warnings = []
        self.notice = None
        self._job_filament = filament_mm if filament_mm is not None else estimate.filament_mm
        self.bed_clear = False
        self._save_bed_clear()
        self._job_done.clear()
        self._set_state(PrinterState.PRINTING)
        for command in preamble or []:
            self.link.send(command, _ScriptTag())
        self._feed()
        return job_id

    def plan_crash_resume(
        self, job_id: int, path: str | os.PathLike[str], *, from_layer: bool = False
    ) -> ResumePlan:
        """How to continue an interrupted job printing ``path`` (docs/crash-resume.md)."""
        record = self.records.get(job_id)
        if record is None:
            raise PrinterError(f"no job {job_id} is recorded")
        if record.outcome is not JobOutcome.INTERRUPTED and record.outcome is not None:
            raise PrinterError(f"job {job_id} ended {record.outcome}, it cannot be resumed")
        if record.last_offset is None:
            raise PrinterError(f"job {job_id} has no acknowledged line to resume from")
        try:
            return plan_resume(record, path, from_layer=from_layer)
        except ResumeError as error:
            raise PrinterError(str(error)) from error

    async def resume_interrupted(
        self, job_id: int, path: str | os.PathLike[str], *, from_layer: bool = False
    ) -> int:
        """Continue an interrupted job on the part still on the bed; the new job's id."""
        plan = self.plan_crash_resume(job_id, path, from_layer=from_layer)
        before = self._state
        if before in (PrinterState.FAILED, PrinterState.BED_NOT_CLEARED) and self.link.ready:
            # The bed holds the very part this job continues.
            self.bed_clear, self._state = True, PrinterState.READY
        try:
            return await self.start_print(
                path, start_offset=plan.offset, resumed_from=job_id, preamble=plan.preamble
            )
        except Exception:
            if self.job is None and before is not PrinterState.READY:
                self.bed_clear, self._state = False, before
            raise

    async def pause(self) -> None:
        job = self._require_job(PrinterState.PRINTING, "pause")
        self._set_state(PrinterState.PAUSING)
        job.feeding = False
        parking = self._parking
        if parking is not None:
            # A park under way first brings the head back: the pause parks it from there.
            await asyncio.wait({parking})
            if self.job is not job or self._state is not PrinterState.PAUSING:
                return
        self._requeue(job.take_back(self.link.withdraw_queued()))
        try:
            await self.link.execute("M400")
            await self.link.execute("M114")
            position = dict(self.position or {})
            self.paused_with = replace_machine(job.machine, position)
            for command in self.settings.scripts.pause_commands(self.paused_with):
                await self.link.execute(command)
        except CommandFailed as error:
            log.warning("pause did not complete: %s", error)
            return
        if self.job is job and self._state is PrinterState.PAUSING:
            job.progress_clock.pause(time.monotonic())
            self._set_state(PrinterState.PAUSED)

    async def resume(self) -> None:
        job = self._require_job(PrinterState.PAUSED, "resume")
        self.notice = None
        if self._paused_by_printer:
            # The firmware waits for the user (M600, M0): our script would queue behind it.
            if self.prompt is not None:
                self.answer_prompt(0)
            else:
                self.link.emergency("M108")
            self._printer_resumed(job)
            return
        self._set_state(PrinterState.PRINTING)
        try:
            for command in self.settings.scripts.resume_commands(self.paused_with):
                await self.link.execute(command)
        except CommandFailed as error:
            log.warning("resume did not complete: %s", error)
            return
        job.progress_clock.resume(time.monotonic())
        job.feeding = True
        self._feed()

    async def cancel(self) -> None:
        job = self.job
        if job is None or self._state not in _BUSY:
            raise PrinterError(f"nothing to cancel: the printer is {self._state.value}")
        if self._state is PrinterState.CANCELLING:
            return
        self._set_state(PrinterState.CANCELLING)
        job.feeding = False
        self._stop_parking()
        self._requeue(job.take_back(self.link.withdraw_queued()))
        # Break a heat-up (or user) wait so the queue can drain.
        self.link.emergency("M108")
        try:
            await self._drain_breaking_waits()
            for command in self.settings.scripts.cancel_commands():
                await self.link.execute(command)
        except CommandFailed as error:
            log.warning("cancel script did not complete: %s", error)
        if self.job is job:
            self._end_job(JobOutcome.CANCELLED, "cancelled by the user")

    async def _drain_breaking_waits(self) -> None:
        """M400; while it waits, M108 again (bounded) for a heat-up wait begun after the first."""
        drained = asyncio.ensure_future(self.link.execute("M400"))
        try:
            for _ in range(CANCEL_BREAKS):
                done, _pending = await asyncio.wait({drained}, timeout=CANCEL_BREAK_EVERY)
                if done:
                    break
                if self._state is not PrinterState.CANCELLING or not self.link.ready:
                    break
                self.link.emergency("M108")
            await drained
        finally:
            if not drained.done():
                drained.cancel()

    async def wait_for_job(self) -> JobRecord | None:
        """Wait until the current job ends; its record."""
        await self._job_done.wait()
        return self.last_job

    def confirm_bed_clear(self) -> None:
        if self._state in _BUSY:
            raise PrinterError("a job is running: the bed cannot be clear")
        self.bed_clear = True
        self._save_bed_clear()
        self.interrupted_jobs = []
        if self.link.ready:
            self._set_state(PrinterState.READY)
        else:
            self._changed()

    def answer_prompt(self, choice: int) -> None:
        if self.prompt is None:
            raise PrinterError("the printer asked nothing")
        if not 0 <= choice < max(1, len(self.prompt.choices)):
            raise PrinterError(f"choice {choice} is not offered")
        if self.capabilities.get("EMERGENCY_PARSER", False):
            # The firmware is blocked waiting for this answer: it must skip the queue.
            self.link.emergency(f"M876 S{choice}")
        else:
            self.link.send(f"M876 S{choice}", _ScriptTag())
        self.prompt = None
        self._changed()

    # ------------------------------------------------------------- manual

    def send_gcode(self, command: str) -> None:
        """Send a command from the terminal."""
        if not self.link.ready and not command.strip().upper().startswith("M112"):
            raise PrinterError(f"the printer is {self._state.value}")
        self.link.send(command, _ScriptTag())

    def home(self, axes: str = "XYZ") -> None:
        self._manual(f"G28 {' '.join(axis for axis in axes.upper() if axis in 'XYZ')}".strip())

    def jog(self, x: float = 0.0, y: float = 0.0, z: float = 0.0, feed: float = 3000.0) -> None:
        moves = " ".join(
            f"{axis}{value:g}" for axis, value in zip("XYZ", (x, y, z), strict=True) if value
        )
        if moves:
            self._manual("G91", f"G1 {moves} F{feed:g}", "G90")

    def extrude(self, length: float, feed: float = 300.0) -> None:
        self._manual("M83", f"G1 E{length:g} F{feed:g}", "M82")

    def set_fan(self, percent: float) -> None:
        speed = round(max(0.0, min(100.0, percent)) * 255 / 100)
        self._control(f"M106 S{speed}" if speed else "M107")

    def preheat(self, hotend: float, bed: float | None = None) -> None:
        self._control(f"M104 S{hotend:g}")
        if bed is not None:
            self._control(f"M140 S{bed:g}")

    def cool_down(self) -> None:
        self._control("M104 S0")
        self._control("M140 S0")

    def motors_off(self) -> None:
        self._manual("M84")

    def emergency_stop(self) -> None:
        self.link.emergency("M112")

    def _manual(self, *commands: str) -> None:
        if self._state in _BUSY:
            raise PrinterError(f"the printer is {self._state.value}: manual moves are refused")
        for command in commands:
            self._control(command)

    def _control(self, command: str) -> None:
        if not self.link.ready:
            raise PrinterError(f"the printer is {self._state.value}")
        self.link.send(command, _ScriptTag())

    # ------------------------------------------------------------- events

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Acknowledged):
            tag = event.tag
            if isinstance(tag, GcodeLine):
                job = self.job
                if job is not None:
                    job.acknowledged(tag)
                    for watcher in self.line_watchers:
                        watcher(job.id, tag)
            elif isinstance(tag, _PollTag):
                self._poll_pending = False
            # Any ok frees room: a job waiting behind script commands goes on.
            if self.job is not None:
                self._feed()
            if self._note_target(event.command):
                self._changed()
            return
        if isinstance(event, TemperatureReport):
            self._autoreport_works = True
            self._note_temperatures(event)
        elif isinstance(event, TailExecuted):
            self._tail(event)
        elif isinstance(event, Stalled):
            self._stalled(event.reason)
        elif isinstance(event, PositionReport):
            self.position = event.axes
        elif isinstance(event, Ready):
            self._connected(event)
        elif isinstance(event, Halted):
            self._lost(JobOutcome.FAILED, event.message, PrinterState.FAILED)
        elif isinstance(event, PrinterReset):
            self._lost(JobOutcome.INTERRUPTED, REASON_PRINTER_RESET, PrinterState.CONNECTING)
        elif isinstance(event, LinkLost):
            self._poll_pending = False
            self.odometer.link_lost()
            self._lost(
                JobOutcome.INTERRUPTED, reason_disconnected(event.reason), PrinterState.OFFLINE
            )
        elif isinstance(event, ActionCommand):
            self._action(event)
        self._changed()

    def _connected(self, ready: Ready) -> None:
        self.error = None
        self.firmware = ready.firmware
        self.capabilities = dict(ready.capabilities)
        self._poll_pending = False
        self._autoreport_since = None
        if ready.has("AUTOREPORT_TEMP"):
            self.link.send(f"M155 S{max(1, round(self.settings.temperature_interval))}")
            self._autoreport_since = time.monotonic()
            self._autoreport_works = False
        if self._after_job_on_connect is not None:
            policy, self._after_job_on_connect = self._after_job_on_connect, None
            self._apply_after_job(policy)
        if self.job is None:
            self._set_state(PrinterState.READY if self.bed_clear else self._after_job_state())

    def _after_job_state(self) -> PrinterState:
        outcome = self._ended_here
        if outcome is JobOutcome.COMPLETED:
            return PrinterState.FINISHED
        if outcome in (JobOutcome.FAILED, JobOutcome.INTERRUPTED):
            return PrinterState.FAILED
        return PrinterState.BED_NOT_CLEARED

    def _lost(self, outcome: JobOutcome, reason: str, state: PrinterState) -> None:
        self.error = reason
        if self.job is not None:
            self._end_job(outcome, reason)
        self._set_state(state)

    def _action(self, action: ActionCommand) -> None:
        name = action.action
        if name == "pause" and self._state is PrinterState.PRINTING:
            self._spawn(self.pause(), "pause requested by the printer")
        elif name == "resume" and self._state is PrinterState.PAUSED:
            self._spawn(self.resume(), "resume requested by the printer")
        elif name == "cancel" and self._state in _BUSY:
            self._spawn(self.cancel(), "cancel requested by the printer")
        elif name == "paused" and self.job is not None and self._state is PrinterState.PRINTING:
            job = self.job
            job.feeding = False
            self._requeue(job.take_back(self.link.withdraw_queued()))
            self.paused_with = replace_machine(job.machine, dict(self.position or {}))
            job.progress_clock.pause(time.monotonic())
            self._paused_by_printer = True
            self._set_state(PrinterState.PAUSED)
        elif name == "resumed" and self.job is not None and self._state is PrinterState.PAUSED:
            self._printer_resumed(self.job)
        elif name == "prompt_begin":
            self.prompt = Prompt(action.argument)
        elif name in ("prompt_button", "prompt_choice") and self.prompt is not None:
            self.prompt.choices.append(action.argument)
        elif name == "prompt_end":
            self.prompt = None

    # ------------------------------------------------------------- helpers

    def _printer_resumed(self, job: PrintJob) -> None:
        self._paused_by_printer = False
        job.progress_clock.resume(time.monotonic())
        job.feeding = True
        self._set_state(PrinterState.PRINTING)
        self._feed()

    def _feed(self) -> None:
        job = self.job
        link = self.link
        if job is None or not link.ready:
            # Acks read just before a reset banner are handed over after the core reset:
            # lines fed now would go to the new session, to a printer that lost the job.
            return
        job.feed(link.send, link.core.queued)
        if (
            job.held is not None
            and job.outstanding == 0
            and job.feeding
            and self._parking is None
            and self._state is PrinterState.PRINTING
        ):
            self._parking = asyncio.create_task(self._park(job, job.held[1]), name="park move")
        if job.complete and self._state is PrinterState.PRINTING:
            self._end_job(JobOutcome.COMPLETED, None)

    # ------------------------------------------------------------- park move

    def park_for(self, job_id: int, plan: ParkPlan) -> None:
        """Park the head before each line ``plan`` names while job ``job_id`` runs."""
        job = self.job
        if job is None or job.id != job_id:
            return
        self._park_plan = plan
        job.park_point = plan.frames.park_point

    async def _park(self, job: PrintJob, where: str) -> None:
        """Every line before the held one is acknowledged: park, frame, back, go on."""
        plan = self._park_plan
        try:
            if plan is not None:
                await self._park_and_frame(job, plan, where)
        except CommandFailed as error:
            log.warning("park move did not complete: %s", error)
            return
        finally:
            if self._parking is asyncio.current_task():
                self._parking = None
        if self.job is job:
            job.release()
            self._feed()

    async def _park_and_frame(self, job: PrintJob, plan: ParkPlan, where: str) -> None:
        # The file's own state: every line before the held one was acknowledged.
        machine = replace_machine(job.machine, {})
        moves = plan.move.commands(self.settings.scripts, machine)
        if moves is not None:
            for command in moves[0]:
                await self.link.execute(command)
        try:
            await plan.frames.frame(where)
        except Exception:  # a frame's trouble never stops the print
            log.exception("park move: the frame failed")
        if moves is not None:
            for command in moves[1]:
                await self.link.execute(command)

    def _stop_parking(self) -> None:
        parking, self._parking = self._parking, None
        if parking is not None and parking is not asyncio.current_task():
            parking.cancel()

    def _requeue(self, commands: list[tuple[str, object]]) -> None:
        for command, tag in commands:
            self.link.send(command, tag)

    def _end_job(self, outcome: JobOutcome, reason: str | None, *, after: bool = True) -> None:
        """Record the job's end; ``after``: carry out the after-job policy now."""
        job = self.job
        if job is None:
            return
        self.job = None
        job.feeding = False
        self._park_plan = None
        self._stop_parking()
        # Lines of this job not written yet must never reach the printer.
        self._requeue(job.take_back(self.link.withdraw_queued()))
        last = job.last_acked
        filament = None
        if self._job_filament is not None:
            printed = job.progress().fraction - job.start_offset / max(1, job.file.size)
            filament = round(self._job_filament * max(0.0, printed), 1)
        record = self.records.finish(
            job.id,
            outcome,
            reason,
            time.time(),
            last.number if last is not None else None,
            last.end_offset if last is not None else None,
            filament_mm=filament,
        )
        self.odometer.job_ended(
            job.id, outcome.value, self._job_share(job, filament if filament is not None else 0.0)
        )
        self.odometer_file.save()
        with contextlib.suppress(Exception):
            self.records.attach_temperatures(job.id, job.temperatures.samples())
        self.last_job, self._ended_here = record, outcome
        if self.records.waiting:
            self.notice = RECORDS_WAIT
        for watcher in self.end_watchers:
            try:
                watcher(record)
            except Exception:  # a watcher's trouble never changes how the job ended
                log.exception("a job end watcher failed")
        self.machine = job.machine
        self.prompt = None
        self._paused_by_printer = False
        self._job_done.set()
        if outcome is JobOutcome.COMPLETED:
            self._set_state(PrinterState.FINISHED)
        elif outcome is JobOutcome.CANCELLED:
            self._set_state(PrinterState.BED_NOT_CLEARED)
        elif outcome is JobOutcome.FAILED:
            self._set_state(PrinterState.FAILED)
        else:
            self._set_state(PrinterState.FAILED if self.link.ready else PrinterState.OFFLINE)
        policy = self.settings.after_job
        if after and policy is not None and self.link.ready:
            self._apply_after_job(policy)

    def _job_share(self, job: PrintJob, filament_mm: float | None = None) -> JobShare:
        """What ``job`` added to the odometer so far; ``filament_mm`` when already known."""
        progress = job.progress()
        if filament_mm is None:
            filament_mm = 0.0
            if self._job_filament is not None:
                printed = progress.fraction - job.start_offset / max(1, job.file.size)
                filament_mm = self._job_filament * max(0.0, printed)
        return JobShare(progress.elapsed, filament_mm, job.machine.travel_mm)

    def counters(self) -> Reading:
        """The odometer now, the running job's share so far included."""
        job = self.job
        if job is not None:
            self.odometer.job_running(job.id, self._job_share(job))
        return self.odometer.reading()

    async def _write_waiting_records(self) -> None:
        """Records a full disk refused are written as soon as it has room again."""
        while True:
            await asyncio.sleep(RECORDS_RETRY)
            if self.records.waiting and not await asyncio.to_thread(self.records.write_waiting):
                if self.notice == RECORDS_WAIT:
                    self.notice = None
                self._changed()

    async def _flush_odometer(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            self.counters()
            self.odometer_file.save()

    def _require_job(self, state: PrinterState, verb: str) -> PrintJob:
        if self.job is None or self._state is not state:
            raise PrinterError(f"cannot {verb}: the printer is {self._state.value}")
        return self.job

    def _note_target(self, command: str) -> bool:
        """Show a target the firmware just accepted at once, not at its next report."""
        set_to = heater_target(command, self.machine.tool)
        if set_to is None:
            return False
        name, target = set_to
        actual = self.heaters.get(name, (None, None))[0]
        if actual is None:
            return False  # a heater this printer never reported
        self.odometer.target_set(time.monotonic(), name, target)
        self.heaters[name] = (actual, target)
        return True

    def _note_temperatures(self, report: TemperatureReport) -> None:
        values: dict[str, float | None] = {}
        for name, heater in report.heaters.items():
            self.heaters[name] = (heater.actual, heater.target)
            values[f"{name}.actual"] = heater.actual
            values[f"{name}.target"] = heater.target
        self.odometer.temperatures(
            time.monotonic(), {name: heater.target for name, heater in report.heaters.items()}
        )
        now = time.time()
        self.temperatures.add(now, values)
        if self.job is not None:
            self.job.temperatures.add(now, values)

    def _autoreporting(self) -> bool:
        """Temperatures come by themselves (M155), or are expected to any moment now."""
        since = self._autoreport_since
        if since is None:
            return False
        if self._autoreport_works or time.monotonic() - since < AUTOREPORT_GRACE:
            return True
        log.warning(
            "the firmware announced AUTOREPORT_TEMP but sent no report within %.0f s of M155:"
            " polling with M105",
            AUTOREPORT_GRACE,
        )
        self._autoreport_since = None
        return False

    async def _poll_temperatures(self) -> None:
        interval = self.settings.temperature_interval
        while True:
            await asyncio.sleep(interval)
            if self.link.ready and not self._poll_pending and not self._autoreporting():
                self._poll_pending = True
                self.link.send("M105", _PollTag())

    # ------------------------------------------------------- link trouble

    async def _watch_device(self) -> None:
        """Count how long the device is gone; give up once it is gone for the timeout."""
        limit = self.settings.device_gone_timeout
        base = shown = ""
        while True:
            gone = self.link.gone_for()
            if gone is None:
                if shown and self.error == shown:
                    # Open again but silent so far: the countdown is over, the loss is not.
                    self.error = base
                    self._changed()
                base = shown = ""
                await asyncio.sleep(DEVICE_CHECK_EVERY)
                continue
            if gone >= limit:
                self._give_up(gone, limit)
                return
            if not shown or self.error != shown:
                # The loss's own words (from its LinkLost event), else why the port
                # cannot be opened.
                base = self.error or self.link.last_error or "printer disconnected"
            shown = self.error = f"{base}; {describe_gone(gone, limit)}"
            self._changed()
            await asyncio.sleep(min(DEVICE_CHECK_EVERY, limit - gone))

    def _give_up(self, gone: float, limit: float) -> None:
        """The device stayed away too long: a job still running ends as a lost link ends it."""
        why = (self.link.last_error or "the port closed").removeprefix("printer disconnected: ")
        because = f"device gone for {gone:.0f} s (limit {limit:g} s): {why}"
        # The job ended when the port went away; this only covers a job that had not.
        self._lost(JobOutcome.INTERRUPTED, reason_disconnected(because), PrinterState.OFFLINE)
        self.gave_up_because = because
        self.device_gone.set()

    def _tail(self, event: TailExecuted) -> None:
        """The firmware ran or refused the tail of a line its own drain cut."""
        job = self.job
        after = event.after_line - 1
        if event.executed:
            shown = "; ".join(event.candidates[:3]) or "unknown"
            message = (
                f"the printer ran a line cut by its own buffer drain (after serial line {after});"
                f" it was one of: {shown}"
            )
        else:
            message = f"the printer refused a line cut by its own buffer drain: {event.text!r}"
        log.warning("%s", message)
        if job is None:
            return
        last = job.last_acked
        warning = JobWarning(
            time.time(), "tail", message, last.number if last is not None else None, event.text
        )
        self.job_warnings.append(warning)
        with contextlib.suppress(Exception):
            self.records.add_warning(job.id, warning)
        moved = any(_moves_head(command) for command in event.candidates)
        if event.executed and moved and not job.machine.absolute_xyz:
            # Under G91 a move run twice or early leaves the head off for the rest of the print.
            self.notice = (
                "paused: under relative positioning (G91) the printer ran a move cut by its"
                " own buffer drain, so the head may be off by that move. Check the print,"
                " then resume or cancel."
            )
            if self._state is PrinterState.PRINTING:
                self._spawn(self.pause(), "pause after a tail under G91")
        elif self.notice is None:
            self.notice = "warning: " + message
        self._changed()

    def _stalled(self, reason: str) -> None:
        """No line was acknowledged for too long: the job fails, heaters per the policy."""
        self.error = reason
        if self.job is not None:
            job_id = self.job.id
            last = self.job.last_acked
            with contextlib.suppress(Exception):
                self.records.add_warning(
                    job_id,
                    JobWarning(time.time(), "stall", reason, last.number if last else None),
                )
            self._end_job(JobOutcome.FAILED, reason, after=False)
        policy = self.settings.after_job or STALL_ONLY
        self._after_job_on_connect = policy if policy.acts else None

    def _apply_after_job(self, policy: AfterJobPolicy) -> None:
        """Heaters and fans as the after-job policy says, noted in the terminal."""
        count = self.firmware.fields.get("EXTRUDER_COUNT", "") if self.firmware else ""
        extruders = int(count) if count.isdigit() else 1
        self._log_line("!", f"after the job: {policy.describe()} (after-job policy)")
        for command in policy.commands(extruders):
            self.link.send(command, _ScriptTag())
        log.info("after the job: %s", policy.describe())

    def _log_line(self, direction: str, text: str) -> None:
        self.terminal.append((time.time(), direction, text))
        self.terminal_count += 1

    def _spawn(self, coroutine: Coroutine[object, object, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    def _load_bed_clear(self) -> bool:
        try:
            return bool(json.loads(self._bed_file.read_text())["clear"])
        except (OSError, ValueError, KeyError, TypeError):
            return True

    def _save_bed_clear(self) -> None:
        temporary = self._bed_file.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps({"clear": self.bed_clear}))
            os.replace(temporary, self._bed_file)
        except OSError as error:
            # A full disk: the bed's state holds in memory; a restart finds the job
            # interrupted and asks for the bed again anyway.
            log.error("the bed's state could not be written to %s: %s", self._bed_file, error)
            temporary.unlink(missing_ok=True)


def describe_gone(gone: float, limit: float) -> str:
    """The countdown the printer's error shows while its device is gone."""
    return f"device gone for {int(gone)} s, the print server restarts at {limit:g} s"


def _moves_head(command: str) -> bool:
    """A move that changes X, Y or Z (an extruder-only move leaves the head in place)."""
    if command_code(command) not in ("G0", "G1", "G2", "G3"):
        return False
    return any(axis in command.upper()[2:] for axis in "XYZ")


def replace_machine(machine: MachineState, position: dict[str, float]) -> MachineState:
    """A copy of ``machine`` with the position the printer reported.

    M114 rounds to 0.01 mm: where the file's own position agrees with the
    report, the file's exact figure is kept; where it does not (homing to a
    non-zero position, a command we do not follow), the printer is right.
    """
    copy = replace(machine, hotend_targets=dict(machine.hotend_targets))
    copy.position = {
        axis: _closest(value, position.get(axis)) for axis, value in machine.position.items()
    }
    return copy


def _closest(tracked: float | None, reported: float | None) -> float | None:
    if reported is None:
        return tracked
    if tracked is not None and abs(tracked - reported) <= 0.0051:
        return tracked
    return reported


class _ScriptTag:
    """Marks commands that are not lines of the job's file."""

    __slots__ = ()


class _PollTag(_ScriptTag):
    __slots__ = ()
