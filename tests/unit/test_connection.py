"""The protocol core against real firmware lines, with a hand-driven clock."""

from __future__ import annotations

import re

import pytest

from instance.protocol.connection import LinkState, PrinterConnection
from instance.protocol.events import (
    Acknowledged,
    Halted,
    LinkLost,
    PrinterReset,
    Ready,
    ResendDone,
    Stalled,
    TailExecuted,
)
from instance.protocol.framing import checksum, frame
from instance.protocol.replies import ActionCommand, Busy, TemperatureReport


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LINE = re.compile(rb"^N(\d+) ?(.*)\*(\d+)$")


def decode(data: bytes) -> list[tuple[int | None, str]]:
    """Split written bytes into (number, command), checking every checksum."""
    lines: list[tuple[int | None, str]] = []
    for raw in data.split(b"\n")[:-1]:
        match = LINE.match(raw)
        if match is None:
            lines.append((None, raw.decode()))
            continue
        payload = raw[: raw.rindex(b"*")]
        assert int(match.group(3)) == checksum(payload), raw
        lines.append((int(match.group(1)), match.group(2).decode()))
    return lines


def events(conn: PrinterConnection) -> list[object]:
    out: list[object] = []
    while (event := conn.next_event()) is not None:
        out.append(event)
    return out


M115_MARLIN = (
    b"FIRMWARE_NAME:Marlin 2.1.2.1 (Github) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
    b"PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:1 "
    b"UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff\n"
    b"Cap:SERIAL_XON_XOFF:0\nCap:AUTOREPORT_TEMP:1\nCap:EMERGENCY_PARSER:1\nok\n"
)


SYNC_ANSWER = b"ok T:22.0 /0.0 B:22.0 /0.0 @:0 B@:0\n"


def synced(conn: PrinterConnection) -> None:
    """Answer the handshake's unnumbered M105: the link then numbers from 0."""
    assert decode(conn.data_to_send()) == [(None, "M105")]
    conn.receive_data(SYNC_ANSWER)


def connected(clock: Clock | None = None, **options: object) -> PrinterConnection:
    conn = PrinterConnection(clock or Clock(), **options)  # type: ignore[arg-type]
    conn.connect()
    synced(conn)
    assert decode(conn.data_to_send()) == [(0, "M110 N0")]
    conn.receive_data(b"ok\n")
    assert decode(conn.data_to_send()) == [(1, "M115")]
    conn.receive_data(M115_MARLIN)
    assert conn.state is LinkState.READY
    events(conn)
    return conn


def test_handshake_reads_identity_and_capabilities() -> None:
    conn = PrinterConnection(Clock())
    conn.connect()
    synced(conn)
    assert conn.data_to_send() == b"N0 M110 N0*125\n"
    conn.receive_data(b"ok\n")
    conn.data_to_send()
    conn.receive_data(M115_MARLIN)
    ready = [event for event in events(conn) if isinstance(event, Ready)]
    assert len(ready) == 1
    assert ready[0].firmware is not None
    assert ready[0].firmware.name.startswith("Marlin 2.1.2.1")
    assert ready[0].has("AUTOREPORT_TEMP")
    assert ready[0].has("EMERGENCY_PARSER")
    assert not ready[0].has("SERIAL_XON_XOFF")


def test_reset_on_open_swallows_first_command_and_handshake_restarts() -> None:
    conn = PrinterConnection(Clock())
    conn.connect()
    conn.data_to_send()
    conn.receive_data(b"start\necho:Marlin 2.1.2.1\necho: Last Updated: 2023-07-13\n")
    synced(conn)
    assert decode(conn.data_to_send()) == [(0, "M110 N0")]
    conn.receive_data(b"ok\n")
    assert decode(conn.data_to_send()) == [(1, "M115")]


def test_silent_printer_fails_handshake_after_retries() -> None:
    clock = Clock()
    conn = PrinterConnection(clock)
    conn.connect()
    sent = conn.data_to_send()
    for _ in range(10):
        deadline = conn.next_deadline()
        if deadline is None:
            break
        clock.now = deadline
        conn.check_timeouts()
        sent += conn.data_to_send()
    assert sent.count(b"M105\n") == 5
    lost = [event for event in events(conn) if isinstance(event, LinkLost)]
    assert lost and "handshake" in lost[0].reason
    assert conn.state is LinkState.LOST


def test_commands_are_numbered_from_two_after_handshake_and_comments_dropped() -> None:
    conn = connected()
    conn.send("G28 ; home all")
    conn.send("   ; only a comment")
    conn.send("M104 S200")
    assert decode(conn.data_to_send()) == [(2, "G28"), (3, "M104 S200")]
    assert conn.data_to_send() == b""


def test_frame_matches_marlin_checksum() -> None:
    # Known-good line from Marlin's own documentation of the protocol.
    assert frame(0, "M110 N0") == b"N0 M110 N0*125\n"


# ---------------------------------------------------------------- flow control


def short_moves(conn: PrinterConnection, count: int) -> None:
    for index in range(count):
        conn.send(f"G1 X{index % 10}.5 Y{index % 7}.25 E0.02", tag=index)


def test_without_advanced_ok_window_is_bounded_by_receive_buffer() -> None:
    conn = connected(rx_buffer=128, command_slots=4)
    short_moves(conn, 20)
    sent = decode(conn.data_to_send())
    # The first line may block; the rest must fit in 128 bytes.
    sizes = [len(frame(number or 0, command, compact=True)) for number, command in sent]
    assert sum(sizes[1:]) <= 128
    assert 2 <= len(sent) <= 4 + 128 // min(sizes)
    assert conn.in_flight == len(sent)


def test_advanced_ok_with_free_planner_keeps_more_in_flight() -> None:
    conn = connected(rx_buffer=128, command_slots=4)
    short_moves(conn, 40)
    first = decode(conn.data_to_send())
    conn.receive_data(f"ok N{first[0][0]} P15 B3\n".encode())
    more = decode(conn.data_to_send())
    in_flight = conn.in_flight
    # Queue (4) + receive buffer (128 bytes of ~30-byte lines) is the printer's capacity.
    assert in_flight >= 6
    assert [number for number, _ in first + more] == list(range(2, 2 + len(first) + len(more)))


def test_advanced_ok_with_full_planner_falls_back_to_receive_buffer_bound() -> None:
    conn = connected(rx_buffer=128, command_slots=4)
    short_moves(conn, 40)
    first = decode(conn.data_to_send())
    conn.receive_data(f"ok N{first[0][0]} P0 B3\n".encode())
    sent = decode(conn.data_to_send())
    # Beyond the first line (which may block) everything must fit the receive buffer.
    beyond = conn.bytes_in_flight - len(frame(first[0][0] or 0, first[0][1], compact=True))
    assert sent and beyond <= 128


def test_blocking_command_limits_what_follows_it() -> None:
    conn = connected(rx_buffer=128, command_slots=4)
    conn.send("G1 X1")
    first = decode(conn.data_to_send())
    conn.receive_data(f"ok N{first[0][0]} P15 B3\n".encode())
    conn.send("M109 S210")
    short_moves(conn, 30)
    conn.data_to_send()
    after_heatup = 0
    seen_heatup = False
    for line in list(conn._in_flight):
        if seen_heatup:
            after_heatup += line.size
        if line.command == "M109 S210":
            seen_heatup = True
    assert seen_heatup
    assert after_heatup <= 128


def test_every_line_acknowledged_once_in_order() -> None:
    conn = connected()
    short_moves(conn, 50)
    acked: list[object] = []
    for _ in range(200):
        sent = decode(conn.data_to_send())
        if not sent and conn.idle:
            break
        conn.receive_data(b"ok\n" * len(sent))
        acked += [event.tag for event in events(conn) if isinstance(event, Acknowledged)]
    assert acked == list(range(50))


# ---------------------------------------------------------------- resends

RESEND_FORMS = [
    "Resend: {n}",
    "Resend:{n}",
    "resend: {n}",
    "rs {n}",
    "rs N{n} Expected checksum 67",
]


PROBE_ANSWER = b"ok T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32\n"


def settle(conn: PrinterConnection, clock: Clock) -> list[tuple[int | None, str]]:
    """Let the link go quiet after a resend request, answer its probe: what it then sends."""
    assert conn.data_to_send() == b"", "nothing new may go out before the probe answers"
    deadline = conn.next_deadline()
    assert deadline is not None
    clock.now = max(clock.now, deadline)
    conn.check_timeouts()
    assert decode(conn.data_to_send()) == [(None, "M105")]
    conn.receive_data(PROBE_ANSWER)
    return decode(conn.data_to_send())


@pytest.mark.parametrize("form", RESEND_FORMS)
def test_resend_forms_rewind_to_the_requested_line(form: str) -> None:
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 3)
    sent = decode(conn.data_to_send())
    assert [n for n, _ in sent] == [2, 3, 4]
    conn.receive_data(b"ok\n")  # line 2 processed
    error = b"Error:checksum mismatch, Last Line: 2\n"
    conn.receive_data(error + form.format(n=3).encode() + b"\nok\n")
    resent = settle(conn, clock)
    assert resent[0] == sent[1]
    # Falls back to one line in flight after a fault.
    assert len(resent) == 1
    got = events(conn)
    assert ResendDone(3, 2) in got
    assert not [e for e in got if isinstance(e, TailExecuted)]


def test_double_request_for_one_fault_resends_once() -> None:
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 3)
    decode(conn.data_to_send())  # 2, 3, 4
    conn.receive_data(b"ok\n")
    # Line 3 corrupted; line 4 then arrives out of sequence and is refused as well.
    conn.receive_data(
        b"Error:checksum mismatch, Last Line: 2\nResend: 3\nok\n"
        b"Error:Line Number is not Last Line Number+1, Last Line: 2\nResend: 3\nok\n"
    )
    resent = settle(conn, clock)
    assert [n for n, _ in resent] == [3]
    conn.receive_data(b"ok\n")
    resent += decode(conn.data_to_send())
    conn.receive_data(b"ok\n")
    resent += decode(conn.data_to_send())
    assert [n for n, _ in resent] == [3, 4]
    acked = [e.tag for e in events(conn) if isinstance(e, Acknowledged)]
    assert acked == [0, 1, 2]


def test_resend_without_following_ok_still_recovers_and_is_learned() -> None:
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 2)
    decode(conn.data_to_send())
    conn.receive_data(b"Error:checksum mismatch, Last Line: 1\nrs 2\n")
    assert [n for n, _ in settle(conn, clock)] == [2]
    assert conn.ok_after_resend is False


def test_a_kept_lines_ok_after_the_probe_is_not_taken_for_its_answer() -> None:
    """The soak's gap: a slow move's ok came after the probe, the link went quiet, and that
    plain ok was taken for the probe's answer, so the lines still queued counted as done.

    This firmware answered the sync's M105 with ``ok T:…``: only such an ok answers the probe.
    """
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 4)
    assert [n for n, _ in decode(conn.data_to_send())] == [2, 3, 4, 5]
    # Line 4 is refused without an ok; lines 2 and 3 are still queued behind a slow move.
    conn.receive_data(b"Error:checksum mismatch, Last Line: 3\nResend: 4\n")
    clock.now = conn.next_deadline() or clock.now
    conn.check_timeouts()
    assert decode(conn.data_to_send()) == [(None, "M105")]
    conn.receive_data(b"ok\n")  # line 2's, a quarter of a second later
    acked: list[object] = []
    for _ in range(20):
        clock.now += 0.1
        conn.check_timeouts()
        acked += [e.tag for e in events(conn) if isinstance(e, Acknowledged)]
        assert conn.data_to_send() == b""
    assert acked == [], "line 3 is still queued in the firmware: it is not acknowledged"
    conn.receive_data(b"ok\n")  # line 3's
    conn.receive_data(PROBE_ANSWER)
    acked += [e.tag for e in events(conn) if isinstance(e, Acknowledged)]
    assert acked == [0, 1]
    assert [n for n, _ in decode(conn.data_to_send())][:1] == [4]


def test_a_firmware_that_never_sends_ok_after_a_resend_never_stalls() -> None:
    """The stall an independent emulator found: every resend without ok, one line at a time."""
    clock = Clock()
    conn = connected(clock, window="single")
    short_moves(conn, 40)
    expected = 2
    acked: list[object] = []
    for _ in range(400):
        sent = decode(conn.data_to_send())
        if not sent:
            if conn.idle:
                break
            clock.now = conn.next_deadline() or clock.now
            conn.check_timeouts()
            continue
        for number, command in sent:
            if number is None:
                assert command == "M105"
                conn.receive_data(PROBE_ANSWER)
            elif number == expected and number % 3 == 0 and (number, "bad") not in acked:
                # Every third line is damaged once; the firmware asks again, no ok after.
                acked.append((number, "bad"))
                conn.receive_data(f"Error:checksum mismatch, Last Line: {number - 1}\n".encode())
                conn.receive_data(f"Resend: {number}\n".encode())
            elif number == expected:
                expected += 1
                conn.receive_data(b"ok\n")
            else:
                conn.receive_data(
                    f"Error:Line Number is not Last Line Number+1, Last Line: "
                    f"{expected - 1}\nResend: {expected}\n".encode()
                )
        acked += [e.tag for e in events(conn) if isinstance(e, Acknowledged)]
        assert conn.in_flight <= 1
    assert [tag for tag in acked if isinstance(tag, int)] == list(range(40))
    assert conn.ok_after_resend is False


def test_resend_of_a_line_not_sent_yet_is_ignored() -> None:
    clock = Clock()
    conn = connected(clock)
    conn.send("G28")
    decode(conn.data_to_send())  # line 2
    conn.receive_data(b"ok\nResend: 3\nok\n")
    assert settle(conn, clock) == []
    assert [e for e in events(conn) if isinstance(e, LinkLost)] == []
    assert conn.idle
    # Nothing was refused (no Error: line), so nothing is learned from it.
    assert conn.ok_after_resend is None


def test_resend_older_than_history_is_a_stated_failure() -> None:
    conn = connected(history_size=16)
    for index in range(40):
        conn.send(f"G1 X{index}")
        for _number, _ in decode(conn.data_to_send()):
            conn.receive_data(b"ok\n")
    conn.receive_data(b"Resend: 3\nok\n")
    lost = [e for e in events(conn) if isinstance(e, LinkLost)]
    assert lost and "older than the kept history" in lost[0].reason


def test_endless_resend_of_one_line_means_the_link_is_stuck() -> None:
    clock = Clock()
    conn = connected(clock)
    conn.send("G1 X1")
    decode(conn.data_to_send())
    for _ in range(12):
        conn.receive_data(b"Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n")
        if conn.state is not LinkState.READY:
            break
        # Once the firmware's habit is known, a lone refused line needs no probe.
        sent = decode(conn.data_to_send()) if conn.ok_after_resend is not None else []
        assert [n for n, _ in sent or settle(conn, clock)] == [2]
    lost = [e for e in events(conn) if isinstance(e, LinkLost)]
    assert lost and "keeps asking for line 2" in lost[0].reason


def test_window_widens_again_after_clean_lines() -> None:
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 400)
    conn.data_to_send()
    conn.receive_data(b"ok\nResend: 3\nok\n")
    sent = settle(conn, clock)
    for _ in range(260):
        conn.receive_data(b"ok\n" * max(1, len(sent)))
        sent = decode(conn.data_to_send())
    short_moves(conn, 20)
    assert len(decode(conn.data_to_send())) > 1


def test_a_lone_refused_line_is_sent_again_at_once_once_the_habit_is_known() -> None:
    clock = Clock()
    conn = connected(clock, window="single")
    short_moves(conn, 3)
    conn.data_to_send()
    conn.receive_data(b"Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n")
    assert [n for n, _ in settle(conn, clock)] == [2]  # the first time, it asks
    assert conn.ok_after_resend is True
    conn.receive_data(b"ok\n")
    assert [n for n, _ in decode(conn.data_to_send())] == [3]
    conn.receive_data(b"Error:checksum mismatch, Last Line: 2\nResend: 3\nok\n")
    assert [n for n, _ in decode(conn.data_to_send())] == [3]  # no probe now


def test_window_single_never_has_two_lines_in_flight() -> None:
    conn = connected(window="single")
    short_moves(conn, 300)
    for _ in range(300):
        sent = decode(conn.data_to_send())
        assert len(sent) <= 1 and conn.in_flight <= 1
        conn.receive_data(f"ok N{sent[0][0]} P15 B3\n".encode() if sent else b"ok\n")


# ---------------------------------------------------------------- tails


def test_an_ok_no_line_explains_is_an_executed_tail() -> None:
    """Marlin 2 drained line 4's head; its tail ran as a command and answered ok."""
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 5)
    sent = decode(conn.data_to_send())
    assert [n for n, _ in sent][:5] == [2, 3, 4, 5, 6]
    conn.receive_data(b"ok\n")  # 2
    conn.receive_data(b"Error:checksum mismatch, Last Line: 2\nResend: 3\nok\n")
    conn.receive_data(b"ok\n")  # the tail of line 4, run as a move
    conn.receive_data(
        b"Error:Line Number is not Last Line Number+1, Last Line: 2\nResend: 3\nok\n"
    )  # line 6 arrived whole after the drain
    resent = settle(conn, clock)
    assert [n for n, _ in resent] == [3]
    tails = [e for e in events(conn) if isinstance(e, TailExecuted)]
    assert len(tails) == 1
    assert tails[0].executed and tails[0].after_line == 3
    assert set(tails[0].candidates) == {c for n, c in sent if n is not None and n > 3}
    assert conn.tails_seen == 1


def test_an_unknown_command_echo_is_a_refused_tail_with_its_text() -> None:
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 4)
    conn.data_to_send()
    conn.receive_data(b"ok\nError:checksum mismatch, Last Line: 2\nResend: 3\nok\n")
    conn.receive_data(b'echo:Unknown command: "3 Y118.825 E0.615*62"\nok\n')
    settle(conn, clock)
    tails = [e for e in events(conn) if isinstance(e, TailExecuted)]
    assert [t.text for t in tails] == ["3 Y118.825 E0.615*62"]
    assert not tails[0].executed


def test_tails_are_counted_right_once_no_ok_after_resend_is_learned() -> None:
    clock = Clock()
    conn = connected(clock, window="single")
    short_moves(conn, 3)
    conn.data_to_send()  # line 2 alone: a clean request teaches the firmware's habit
    conn.receive_data(b"Error:checksum mismatch, Last Line: 1\nResend: 2\n")
    settle(conn, clock)
    assert conn.ok_after_resend is False
    conn.window_mode = "auto"
    conn.receive_data(b"ok\n")
    conn.window.single = False
    short_moves(conn, 6)
    conn.data_to_send()
    conn.receive_data(b"ok\nError:checksum mismatch, Last Line: 3\nResend: 4\nok\n")
    settle(conn, clock)
    assert len([e for e in events(conn) if isinstance(e, TailExecuted)]) == 1


def test_a_drained_probe_is_sent_again() -> None:
    clock = Clock()
    conn = connected(clock)
    short_moves(conn, 4)
    conn.data_to_send()
    conn.receive_data(b"Error:checksum mismatch, Last Line: 1\nResend: 2\nok\n")
    clock.now = conn.next_deadline() or clock.now
    conn.check_timeouts()
    assert decode(conn.data_to_send()) == [(None, "M105")]
    # A late line's error drained the probe's head: only "05" arrived, refused.
    conn.receive_data(b"Error:Line Number is not Last Line Number+1, Last Line: 1\nResend: 2\nok\n")
    conn.receive_data(b'echo:Unknown command: "05"\nok\n')
    assert [n for n, _ in settle(conn, clock)] == [2]
    assert not [e for e in events(conn) if isinstance(e, TailExecuted)]


def test_compact_framing_for_known_firmware_only() -> None:
    conn = connected()
    conn.send("G1 X1")
    assert conn.data_to_send().startswith(b"N2G1 X1*")
    other = PrinterConnection(Clock())
    other.connect()
    synced(other)
    other.data_to_send()
    other.receive_data(b"ok\n")
    other.data_to_send()
    other.receive_data(b"FIRMWARE_NAME:Smoothieware\nok\n")
    other.send("G1 X1")
    assert other.data_to_send().startswith(b"N2 G1 X1*")


# ---------------------------------------------------------------- stalls


def test_busy_forever_on_a_move_resynchronises_once_then_stalls() -> None:
    clock = Clock()
    conn = connected(clock, response_timeout=5.0, stall_timeout=30.0)
    conn.send("G1 X1", tag="move")
    conn.data_to_send()
    sent: list[tuple[int | None, str]] = []
    stalled: list[Stalled] = []
    for _ in range(100):
        clock.now += 2.0
        conn.receive_data(b"echo:busy: processing\n")
        conn.check_timeouts()
        sent += decode(conn.data_to_send())
        stalled += [e for e in events(conn) if isinstance(e, Stalled)]
        if stalled:
            break
    assert (None, "M105") in sent  # resynchronised once
    assert stalled and "no line acknowledged" in stalled[0].reason
    assert conn.state is LinkState.HANDSHAKE
    assert sent[-1] == (None, "M105")  # a new handshake, syncing first


# ---------------------------------------------------------------- emergencies


def test_m112_skips_the_queue_and_halts() -> None:
    conn = connected()
    short_moves(conn, 30)
    conn.send("M112")
    data = conn.data_to_send()
    assert data.startswith(b"M112\n")
    assert conn.state is LinkState.HALTED
    assert any(isinstance(e, Halted) for e in events(conn))


def test_m108_goes_out_ahead_of_queued_lines() -> None:
    conn = connected()
    conn.send("M109 S210")
    conn.data_to_send()
    short_moves(conn, 5)
    conn.send_emergency("M108")
    assert conn.data_to_send().startswith(b"M108\n")


# ---------------------------------------------------------------- fatal errors

FATALS = [
    (
        b"Error:Thermal Runaway, system stopped! Heater_ID: 0\n"
        b"Error:Printer halted. kill() called!\n",
        ["Thermal Runaway", "kill() called"],
    ),
    (
        b"Error:MAXTEMP triggered, system stopped! Heater_ID: bed\n"
        b"Error:Printer halted. kill() called!\n",
        ["MAXTEMP", "kill() called"],
    ),
    (b"Error:Printer halted. kill() called!\n", ["kill() called"]),
    (b"fatal: Heater decoupled\n", ["Heater decoupled"]),
]


@pytest.mark.parametrize(("lines", "words"), FATALS)
def test_fatal_errors_stop_everything_with_the_firmware_words(
    lines: bytes, words: list[str]
) -> None:
    conn = connected()
    short_moves(conn, 10)
    conn.data_to_send()
    conn.receive_data(lines)
    halted = [e for e in events(conn) if isinstance(e, Halted)]
    assert len(halted) == 1
    for word in words:
        assert word in halted[0].message
    assert conn.state is LinkState.HALTED
    assert conn.data_to_send() == b""


def test_first_half_of_a_fatal_error_is_reported_after_a_grace_period() -> None:
    clock = Clock()
    conn = connected(clock)
    conn.receive_data(b"Error:Heating failed, system stopped! Heater_ID: 0\n")
    assert not [e for e in events(conn) if isinstance(e, Halted)]
    deadline = conn.next_deadline()
    assert deadline is not None
    clock.now = deadline
    conn.check_timeouts()
    assert [e for e in events(conn) if isinstance(e, Halted)]


# ---------------------------------------------------------------- reset, liveness


def test_start_banner_mid_print_is_a_reset() -> None:
    conn = connected()
    short_moves(conn, 10)
    conn.data_to_send()
    conn.receive_data(b"start\n")
    got = events(conn)
    assert any(isinstance(e, PrinterReset) for e in got)
    synced(conn)
    assert decode(conn.data_to_send()) == [(0, "M110 N0")]
    assert conn.state is LinkState.HANDSHAKE


def test_silence_prompts_with_m105_then_gives_up() -> None:
    clock = Clock()
    conn = connected(clock, response_timeout=5.0, max_silent_prompts=3)
    conn.send("G1 X1")
    conn.data_to_send()
    prompts = 0
    for _ in range(5):
        deadline = conn.next_deadline()
        if deadline is None:
            break
        clock.now = deadline
        conn.check_timeouts()
        prompts += sum(1 for _, c in decode(conn.data_to_send()) if c == "M105")
    assert prompts == 3
    lost = [e for e in events(conn) if isinstance(e, LinkLost)]
    assert lost and "stopped answering" in lost[0].reason


def test_lost_ok_is_recovered_by_the_prompt() -> None:
    clock = Clock()
    conn = connected(clock, response_timeout=5.0)
    conn.send("G1 X1", tag="a")
    conn.send("G1 X2", tag="b")
    conn.data_to_send()
    conn.receive_data(b"ok\n")  # the second ok is lost
    clock.now += 5.0
    conn.check_timeouts()
    assert [c for _, c in decode(conn.data_to_send())] == ["M105"]
    conn.receive_data(b"ok T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32\n")
    acked = [e for e in events(conn) if isinstance(e, Acknowledged)]
    assert [e.tag for e in acked] == ["a", "b"]
    assert acked[1].assumed
    assert conn.idle


def test_busy_keepalive_extends_the_allowance() -> None:
    clock = Clock()
    conn = connected(clock, response_timeout=5.0)
    conn.send("G1 X1")
    conn.data_to_send()
    for _ in range(10):
        clock.now += 4.0
        conn.receive_data(b"echo:busy: processing\n")
        conn.check_timeouts()
        assert conn.data_to_send() == b""
    assert any(isinstance(e, Busy) for e in events(conn))


def test_heatup_gets_a_long_allowance() -> None:
    clock = Clock()
    conn = connected(clock, response_timeout=5.0)
    conn.send("M190 S60")
    conn.data_to_send()
    deadline = conn.next_deadline()
    assert deadline is not None and deadline - clock.now >= 600


def test_wait_while_lines_are_in_flight_prompts_at_once() -> None:
    conn = connected()
    conn.send("G1 X1")
    conn.data_to_send()
    conn.receive_data(b"wait\n")
    assert [c for _, c in decode(conn.data_to_send())] == ["M105"]


def test_extra_ok_is_ignored() -> None:
    conn = connected()
    conn.receive_data(b"ok\nok\n")
    conn.send("G1 X1", tag="x")
    conn.data_to_send()
    conn.receive_data(b"ok\n")
    assert [e.tag for e in events(conn) if isinstance(e, Acknowledged)] == ["x"]


def test_advanced_ok_line_number_recovers_lost_oks() -> None:
    conn = connected()
    conn.send("G1 X1", tag="a")
    conn.send("G1 X2", tag="b")
    conn.send("G1 X3", tag="c")
    sent = decode(conn.data_to_send())
    conn.receive_data(f"ok N{sent[1][0]} P15 B3\n".encode())
    assert [e.tag for e in events(conn) if isinstance(e, Acknowledged)] == ["a", "b"]


# ---------------------------------------------------------------- reports, garbage


def test_reports_and_action_commands_pass_through() -> None:
    conn = connected()
    conn.receive_data(
        b"T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32\n//action:pause\n// action:prompt_begin Hi\n"
    )
    got = events(conn)
    assert any(isinstance(e, TemperatureReport) for e in got)
    assert ActionCommand("pause") in got
    assert ActionCommand("prompt_begin", "Hi") in got


def test_garbage_nul_and_non_utf8_bytes_do_not_break_the_link() -> None:
    conn = connected()
    conn.send("G1 X1", tag="x")
    conn.data_to_send()
    conn.receive_data(b"\x00\xff\xfe garbage \x81\r\n\x00ok\r\n")
    assert [e.tag for e in events(conn) if isinstance(e, Acknowledged)] == ["x"]


def test_partial_lines_are_joined() -> None:
    conn = connected()
    conn.send("G1 X1", tag="x")
    conn.data_to_send()
    conn.receive_data(b"o")
    conn.receive_data(b"k\n")
    assert [e.tag for e in events(conn) if isinstance(e, Acknowledged)] == ["x"]


def test_end_of_stream_loses_the_link() -> None:
    conn = connected()
    conn.receive_data(b"")
    assert conn.state is LinkState.LOST
    assert any(isinstance(e, LinkLost) for e in events(conn))


def test_reprapfirmware_gets_one_line_in_flight_and_a_silently_dropped_line_again() -> None:
    """RepRapFirmware drops a line with a bad checksum without error, resend or ok."""
    clock = Clock()
    conn = PrinterConnection(clock, response_timeout=2.0)
    conn.connect()
    synced(conn)
    conn.data_to_send()
    conn.receive_data(b"ok\n")
    conn.data_to_send()
    conn.receive_data(
        b"FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.4.5\nok\n"
    )
    events(conn)
    short_moves(conn, 3)
    first = decode(conn.data_to_send())
    assert [n for n, _ in first] == [2]  # one line in flight, always
    clock.now += 2.0  # its ok never comes: the firmware dropped it
    conn.check_timeouts()
    # M115, not M105: its answer cannot be taken for a numbered M105 poll's.
    assert decode(conn.data_to_send()) == [(None, "M115")]
    conn.receive_data(
        b"FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.4.5\nok\n"
    )
    assert decode(conn.data_to_send()) == first  # the same line again
    conn.receive_data(b"ok\n")
    acked = [e.tag for e in events(conn) if isinstance(e, Acknowledged)]
    assert acked == [0]


def test_oks_from_before_the_handshake_are_not_taken_for_its_own() -> None:
    """A board not reset still runs the last session's lines: their oks are stale."""
    conn = PrinterConnection(Clock())
    conn.connect()
    assert decode(conn.data_to_send()) == [(None, "M105")]
    conn.receive_data(b"ok N61 P15 B3\nok\nok\n")  # the old session's lines finishing
    assert conn.data_to_send() == b""
    conn.receive_data(SYNC_ANSWER)
    assert decode(conn.data_to_send()) == [(0, "M110 N0")]
    conn.receive_data(b"ok N0 P15 B3\n")
    assert decode(conn.data_to_send()) == [(1, "M115")]
    conn.receive_data(M115_MARLIN)
    assert conn.state is LinkState.READY
