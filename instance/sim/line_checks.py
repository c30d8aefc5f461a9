"""A complete line, checked as each firmware checks it: comment and length cut, line number
(last + 1, or M110's), checksum, the line faults it fires; then queued, or a line error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from instance.protocol.framing import checksum
from instance.sim.command_queue import Tail, enqueue
from instance.sim.fault_events import apply_event
from instance.sim.faults import Fault
from instance.sim.gcode.parser import LINE_PREFIX, cut_at_star, strtol
from instance.sim.resend import line_error

if TYPE_CHECKING:
    from instance.sim.firmware import SimulatedFirmware

_CORRUPTING = frozenset(["corrupt_line", "random_resend", "double_resend", "resend_without_ok"])


def line_complete(fw: SimulatedFirmware, raw: bytes) -> None:
    """One line out of the receive buffer (its end of line gone)."""
    text = raw.decode("latin-1")
    cut = text.find(";")
    if cut >= 0:
        text = text[:cut]
    text = text[: fw.options.max_line - 1].strip()
    tail: Tail | None = None
    if fw.tail_next:
        # The first line to complete after a drain that cut a line: its end, on its own.
        fw.tail_next = False
        if text:
            tail = Tail(text)
            fw.counters.tails.append(tail)
    if not text:
        return  # Marlin answers nothing to an empty or comment-only line
    fw.next_wait = fw.clock + (fw.wait_interval() or 1.0)
    if not fw.identity.checks_line_numbers:
        _unchecked_line(fw, text)
        return
    if text[0] != "N":
        if "*" in text and fw.identity.checksum_without_number == "reject":
            # Prusa cmdqueue.cpp get_command(): "No Line Number with checksum".
            if tail is not None:
                tail.command = text
                tail.outcome = "rejected"
            line_error(fw, "No Line Number with checksum")
            return
        # Marlin queues it as it is; GCodeParser::parse() ends the line at its first "*"
        # (searched from the second character on).
        enqueue(fw, cut_at_star(text), None, tail)
        return
    marks = _line_faults(fw)
    if marks is None:
        return
    if marks.keys() & _CORRUPTING:
        text = _corrupt(fw, text)
    number_at = 0
    is_m110 = "M110" in text
    if is_m110:
        second = text.find("N", 4)
        if second >= 0:
            number_at = second
    number = strtol(text[number_at + 1 :])
    star = text.rfind("*")
    payload = text[:star] if star >= 0 else text
    discards = fw.identity.bad_line == "discard"
    cursed = fw.cursed
    if number in cursed:
        line_error(fw, "checksum mismatch", expected=checksum(payload.encode("latin-1")))
        cursed[number] -= 1
        if cursed[number] == 0:
            del cursed[number]
        return
    if number != fw.last_n + 1 and not is_m110 and not discards:
        # No Marlin keeps a window of recently taken numbers: any number but last+1 is an
        # error (queue.cpp get_serial_commands(), Marlin_main.cpp get_serial_commands()).
        line_error(fw, "Line Number is not Last Line Number+1")
        return
    if star < 0:
        if not discards:
            line_error(fw, "No Checksum with line number")
            return
    else:
        expected = checksum(payload.encode("latin-1"))
        if strtol(text[star + 1 :]) != expected:
            if discards:
                # RepRapFirmware: StringParser::LineFinished() drops the line silently.
                fw.counters.line_errors += 1
                fw.counters.discarded_lines += 1
                return
            line_error(
                fw,
                "checksum mismatch",
                expected=expected,
                with_ok="resend_without_ok" not in marks,
            )
            if "double_resend" in marks:
                line_error(fw, "Line Number is not Last Line Number+1", expected=expected)
            return
    if "resend_old" in marks:
        back = int(marks["resend_old"].params["back"])
        fw.last_n = max(0, number - 1 - back)
        line_error(fw, "Line Number is not Last Line Number+1")
        return
    if "endless_resend" in marks:
        times = int(marks["endless_resend"].params["times"])
        remaining = times - 1 if times > 0 else -1
        if remaining != 0:
            cursed[number] = remaining
        line_error(fw, "checksum mismatch", expected=checksum(payload.encode("latin-1")))
        return
    fw.last_n = number
    command = cut_at_star(LINE_PREFIX.sub("", payload, count=1).strip())
    queued = enqueue(fw, command, number)
    queued.lost_ok = "lost_ok" in marks
    queued.extra_ok = "extra_ok" in marks
    queued.resend_unsent = "resend_unsent" in marks
    if "long_command" in marks:
        queued.hold = float(marks["long_command"].params["seconds"])
        queued.hold_keepalive = bool(marks["long_command"].params["keepalive"])


def _unchecked_line(fw: SimulatedFirmware, text: str) -> None:
    """Klipper's GCodeDispatch._process_commands(): skip a leading N word, check nothing."""
    marks: dict[str, Fault] = {}
    if text.startswith("N"):
        fired = _line_faults(fw)
        if fired is None:
            return
        marks = fired
        if marks.keys() & _CORRUPTING:
            text = _corrupt(fw, text)  # nothing checks it: the damaged line runs as it is
        text = LINE_PREFIX.sub("", text, count=1).strip()
    # "*" is just one more parameter letter to Klipper; the command never uses it.
    queued = enqueue(fw, cut_at_star(text), None)
    queued.lost_ok = "lost_ok" in marks
    queued.extra_ok = "extra_ok" in marks


def _line_faults(fw: SimulatedFirmware) -> dict[str, Fault] | None:
    """The faults a numbered line fires (events happen now); None: the line is gone."""
    fw.counters.numbered_received += 1
    marks: dict[str, Fault] = {}
    for fault in fw.faults.on_numbered_line(fw.counters.numbered_received):
        if fault.spec.kind == "event":
            apply_event(fw, fault)
        else:
            marks[fault.name] = fault
    if not fw.running() or "drop_line" in marks:
        return None
    return marks


def _corrupt(fw: SimulatedFirmware, text: str) -> str:
    """One byte of the line's body damaged on the wire (as a UART framing error would)."""
    star = text.rfind("*")
    body_end = star if star > 0 else len(text)
    start = text.find(" ") + 1 if " " in text[:body_end] else 1
    if start >= body_end:
        start = max(0, body_end - 1)
    index = fw.faults.rng.randrange(start, body_end) if body_end > start else 0
    flipped = chr(ord(text[index]) ^ 0x04)
    if flipped in "\r\n*;":
        flipped = chr(ord(text[index]) ^ 0x01)
    return text[:index] + flipped + text[index + 1 :]
