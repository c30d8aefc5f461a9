"""Line errors as each firmware reports them: the Error line a moment after the bad line, the
receive buffer drained (cutting a line into a tail), ``Resend: N`` in the profile's form and
its ok."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from instance.sim.identities import resend_line
from instance.sim.ok_reply import resend_ok
from instance.sim.ticks import EPSILON

if TYPE_CHECKING:
    from instance.sim.firmware import SimulatedFirmware


@dataclass(slots=True)
class LineError:
    """A line error the firmware has not yet reported (it notices it a moment later)."""

    reason: str
    expected: int
    with_ok: bool


def line_error(
    fw: SimulatedFirmware, reason: str, *, expected: int = 0, with_ok: bool = True
) -> None:
    """A line error; the firmware reports it (and drains) once its main loop gets there."""
    fw.counters.line_errors += 1
    fw.pending_errors.append(LineError(reason, expected, with_ok))
    if len(fw.pending_errors) > 1:
        return  # reported together with the first
    jitter = fw.options.service_jitter
    delay = fw.jitter_rng.uniform(0.0, jitter) if jitter > 0 else 0.0
    fw.error_due = fw.clock + delay
    fw.drain_due = math.inf
    if delay <= 0:
        notice_line_error(fw)
        if fw.clock >= fw.drain_due - EPSILON:
            report_line_errors(fw)


def notice_line_error(fw: SimulatedFirmware) -> None:
    """gcode_line_error(): the Error line goes out; the drain follows once it has left."""
    fw.error_due = math.inf
    first = fw.pending_errors[0]
    fw.emit(f"{fw.identity.error_prefix}{first.reason}, Last Line: {fw.last_n}")
    drain_at = fw.clock
    wire = fw.wire
    if fw.identity.drain_on_error and wire.byte_time > 0:
        # An unbuffered UART write blocks until all but tx_buffer bytes are on the wire.
        drain_at = max(drain_at, wire.out_wire_free - fw.identity.tx_buffer * wire.byte_time)
    fw.drain_due = drain_at


def report_line_errors(fw: SimulatedFirmware) -> None:
    """The drain and the resend request for each pending error; then reading resumes."""
    errors, fw.pending_errors = fw.pending_errors, []
    fw.drain_due = math.inf
    for index, error in enumerate(errors):
        if index > 0:
            fw.emit(f"{fw.identity.error_prefix}{error.reason}, Last Line: {fw.last_n}")
        if fw.identity.drain_on_error:
            drain(fw)
        fw.emit(resend_line(resend_form(fw), fw.last_n + 1, error.expected))
        if error.with_ok and ok_after_resend(fw):
            fw.emit(resend_ok(fw))
    fw.run()


def drain(fw: SimulatedFirmware) -> None:
    """Everything that has arrived is discarded: the receive buffer and the partial line."""
    drained = bytes(fw.partial) + bytes(fw.rx)
    fw.partial.clear()
    fw.rx.clear()
    fw.counters.drains += 1
    fw.counters.drained_bytes += len(drained)
    if drained and drained[-1:] not in (b"\n", b"\r"):
        # The drain fell inside a line: what is still on the wire arrives as a line of
        # its own.
        fw.tail_next = True


def request_resend(fw: SimulatedFirmware) -> None:
    """``Resend:`` the line after the last one taken, and its ok if the profile sends one."""
    fw.emit(resend_line(resend_form(fw), fw.last_n + 1))
    if ok_after_resend(fw):
        fw.emit(resend_ok(fw))


def ok_after_resend(fw: SimulatedFirmware) -> bool:
    forced = fw.options.ok_after_resend
    return fw.identity.ok_after_resend if forced is None else forced


def resend_form(fw: SimulatedFirmware) -> str:
    fault = fw.mode("resend_format")
    return str(fault.params["form"]) if fault is not None else fw.identity.resend_form
