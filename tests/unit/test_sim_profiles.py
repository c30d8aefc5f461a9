"""Firmware profiles: each firmware's awkward behaviours, as its source has them."""

from __future__ import annotations

import pytest

from instance.protocol.framing import frame
from instance.sim.faults import make_fault
from instance.sim.firmware import SimulatedFirmware
from instance.sim.identities import IDENTITIES
from instance.sim.options import SimOptions


def lines_of(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


class Host:
    """Writes at the simulator's explicit clock and collects what the printer says."""

    def __init__(self, options: SimOptions, faults=()) -> None:
        self.fw = SimulatedFirmware(options, faults)
        self.now = 0.0
        self.run(0.05)  # the banner

    def send(self, data: bytes) -> None:
        self.fw.receive(data, self.now)

    def run(self, until: float) -> list[str]:
        out = bytearray()
        while True:
            deadline = self.fw.next_deadline()
            if deadline is None or deadline > until:
                break
            self.now = max(self.now, deadline)
            out += self.fw.poll(self.now)
        self.now = until
        out += self.fw.poll(until)
        return lines_of(bytes(out))

    def after(self, seconds: float) -> list[str]:
        return self.run(self.now + seconds)


BAUD = 250000
FIRST = "G28"  # line 1
MOVE = "G1 X135.663 Y118.115 E0.59040 F3000"


def _padded(number: int, length: int) -> bytes:
    """A numbered move of exactly ``length`` bytes on the wire (newline included)."""
    for width in range(1, 60):
        for x in range(10, 100):
            line = frame(number, f"G1 X{x}.5 Y{'7' * width}")
            if len(line) == length:
                return line
    raise AssertionError(f"no line of {length} bytes")


def cut_burst(identity: str, offset: int, fourth: str = MOVE, **options: object) -> Host:
    """Lines 1-5 in one burst at 250000 baud; line 2 is damaged on the wire.

    The firmware notices line 2 (service_jitter 0: at once) and prints its Error line,
    which blocks the unbuffered UART for its own length in bytes; the drain comes then.
    Line 3 is sized so that the drain falls ``offset`` bytes into line 4.
    """
    error = "Error:checksum mismatch, Last Line: 1\n"
    third = _padded(3, len(error) - offset)
    host = Host(
        SimOptions(identity=identity, baud=BAUD, service_jitter=0.0, **options),  # type: ignore[arg-type]
        [make_fault("corrupt_line", {"at_line": 2})],
    )
    host.send(
        frame(1, FIRST) + frame(2, "G1 X10 Y10") + third + frame(4, fourth) + frame(5, "M400")
    )
    return host


def test_marlin2_executes_the_tail_of_a_line_the_drain_cut():
    # "N4 " fell into the drain: the rest arrives as "G1 X135.663 ...*NN", with no N, so
    # get_serial_commands() queues it unchecked and the parser runs it as a move.
    host = cut_burst("marlin2", offset=3)
    heard = host.after(0.1)
    fw = host.fw
    assert heard[:3] == ["ok N1 P15 B3", "Error:checksum mismatch, Last Line: 1", "Resend: 2"]
    [tail] = fw.counters.tails
    assert tail.text.startswith(MOVE + "*")
    assert (tail.command, tail.outcome, tail.executed) == (MOVE, "executed", True)
    assert fw.executed == [FIRST, MOVE]
    assert tail.index == 1
    # The tail's ok has no N (its line had none); line 5 arrived whole after the drain
    # with the wrong number: a line error of its own, drained again.
    assert "ok P15 B3" in heard
    assert "Error:Line Number is not Last Line Number+1, Last Line: 1" in heard
    assert fw.counters.drains == 2
    # The host resends from 2: the move runs a second time, in its place.
    host.send(b"".join(frame(n, c) for n, c in [(2, "G1 X10 Y10"), (4, MOVE)]))
    host.after(0.1)
    assert fw.executed[:3] == [FIRST, MOVE, "G1 X10 Y10"]


def test_marlin2_answers_unknown_command_and_ok_for_a_tail_cut_inside_a_number():
    # Cut after "N4 G1 X13": the tail starts with a digit; the parser ends it at "*".
    host = cut_burst("marlin2", offset=9, fourth="G1 X133 Y118.825 E0.615")
    heard = host.after(0.1)
    [tail] = host.fw.counters.tails
    assert tail.text.startswith("3 Y118.825 E0.615*")
    assert (tail.outcome, tail.executed) == ("unknown", True)
    assert 'echo:Unknown command: "3 Y118.825 E0.615"' in heard
    assert heard[heard.index('echo:Unknown command: "3 Y118.825 E0.615"') + 1] == "ok P15 B3"
    assert host.fw.executed == [FIRST, "3 Y118.825 E0.615"]


def test_marlin1_queues_a_tail_with_a_checksum_too():
    # "No Line Number with checksum" left Marlin in 1.1.7 ("Allow asterisks in G-Code").
    host = cut_burst("marlin1", offset=3)
    host.after(0.1)
    [tail] = host.fw.counters.tails
    assert tail.outcome == "executed"
    assert host.fw.executed == [FIRST, MOVE]


def test_prusa_rejects_a_tail_with_a_checksum():
    host = cut_burst("prusa", offset=3)
    heard = host.after(0.1)
    [tail] = host.fw.counters.tails
    assert (tail.outcome, tail.executed) == ("rejected", False)
    assert host.fw.executed == [FIRST]
    at = heard.index("Error:No Line Number with checksum, Last Line: 1")
    assert heard[at + 1 : at + 3] == ["Resend: 2", "ok"]


def test_a_drain_on_a_line_boundary_leaves_no_tail():
    host = cut_burst("marlin2", offset=0)
    host.after(0.1)
    assert host.fw.counters.tails == []
    assert host.fw.executed == [FIRST]


def test_service_jitter_moves_the_cut_and_is_seeded():
    def cuts(seed: int) -> list[str]:
        options = SimOptions(baud=BAUD, service_jitter=0.002, seed=seed)
        host = Host(options, [make_fault("corrupt_line", {"every": 7})])
        lines = [frame(n, f"G1 X{n}.123 Y{n % 17}.456 E{n}.01 F1800") for n in range(1, 300)]
        sent = 0
        for _ in range(400):
            if sent < len(lines):
                host.send(b"".join(lines[sent : sent + 3]))
                sent += 3
            host.after(0.01)
        return [tail.text for tail in host.fw.counters.tails]

    first = cuts(3)
    assert first == cuts(3)
    assert len(set(first)) > 1


# ----- ok after resend, for every resend form -----

RESEND_CASES = {
    "checksum mismatch": (b"N1 G1 X1*0\n", None),
    "line number": (frame(5, "G1 X1"), None),
    "no checksum": (b"N1 G1 X1\n", None),
    "M999": (frame(1, "M999"), None),
    "resend_unsent fault": (frame(1, "G1 X1"), "resend_unsent"),
}


@pytest.mark.parametrize("identity", ["marlin2", "marlin1", "prusa", "repetier"])
@pytest.mark.parametrize("case", sorted(RESEND_CASES))
@pytest.mark.parametrize("ok_after_resend", [False, True, None])
def test_ok_after_resend_follows_the_option_for_every_resend_form(identity, case, ok_after_resend):
    data, fault = RESEND_CASES[case]
    faults = [make_fault(fault, {"at_line": 1})] if fault else []
    options = SimOptions(identity=identity, ok_after_resend=ok_after_resend, advanced_ok=False)
    host = Host(options, faults)
    host.send(data)
    heard = host.after(0.1)
    resend = next(i for i, line in enumerate(heard) if line.lower().startswith(("resend", "rs")))
    expected = IDENTITIES[identity].ok_after_resend if ok_after_resend is None else ok_after_resend
    following = heard[resend + 1 : resend + 2]
    if case == "M999":
        following = heard[resend + 1 : -1]  # M999's own ok comes last, always
        assert heard[-1].startswith("ok")
    assert (following[:1] != [] and following[0].startswith("ok")) == expected, heard


def test_no_line_number_with_checksum_follows_the_option_too():
    host = Host(SimOptions(identity="prusa", ok_after_resend=False))
    host.send(b"G1 X1*55\n")
    assert host.after(0.1) == ["Error:No Line Number with checksum, Last Line: 0", "Resend: 1"]


def test_the_resend_without_ok_fault_wins_over_the_option():
    fault = make_fault("resend_without_ok", {"at_line": 1})
    host = Host(SimOptions(ok_after_resend=True, service_jitter=0.0), [fault])
    host.send(frame(1, "G1 X1"))
    assert host.after(0.1) == ["Error:checksum mismatch, Last Line: 0", "Resend: 1"]


def test_marlin1_ok_after_a_resend_names_the_command_at_the_queue_read_index():
    # Marlin 1.1.9 flush_and_request_resend() calls ok_to_send(), which with ADVANCED_OK
    # copies the N of command_queue[cmd_queue_index_r]: a slot long done, stale.
    host = Host(SimOptions(identity="marlin1", service_jitter=0.0))
    host.send(b"".join(frame(n, f"G1 X{n}") for n in range(1, 6)))
    host.after(0.1)
    host.send(b"N6 G1 X6*0\n")
    # Five commands went through 4 slots: the read index is at slot 1, last written by N2.
    assert host.after(0.2) == ["Error:checksum mismatch, Last Line: 5", "Resend: 6", "ok N2 P15 B4"]


# ----- Prusa -----


def test_prusa_m73_prints_progress_in_both_modes():
    host = Host(SimOptions(identity="prusa"))
    host.send(frame(1, "M73 P42 R17") + frame(2, "M73 Q40 S19"))
    heard = host.after(0.1)
    assert heard == [
        "NORMAL MODE: Percent done: 42; print time remaining in mins: 17; Change in mins: 65535",
        "SILENT MODE: Percent done: -1; print time remaining in mins: 65535; Change in mins: 65535",
        "ok",
        "NORMAL MODE: Percent done: 42; print time remaining in mins: 17; Change in mins: 65535",
        "SILENT MODE: Percent done: 40; print time remaining in mins: 19; Change in mins: 65535",
        "ok",
    ]


def test_prusa_words_unknown_codes_its_own_way():
    host = Host(SimOptions(identity="prusa"))
    host.send(frame(1, "G999 X1") + frame(2, "M9999") + frame(3, "X5"))
    assert host.after(0.1) == [
        "Unknown G code: G999 X1",
        "ok",
        "Unknown M code: M9999",
        "ok",
        'echo:Unknown command: "X5"(2)',
        "ok",
    ]


def test_marlin2_is_silent_about_m73():
    host = Host(SimOptions())
    host.send(frame(1, "M73 P42"))
    assert host.after(0.1) == ["ok N1 P15 B3"]


# ----- RepRapFirmware -----


def test_rrf_drops_a_line_with_a_bad_checksum_without_a_word():
    host = Host(SimOptions(identity="rrf"))
    host.send(frame(1, "G1 X1") + b"N2 G1 X2*0\n" + frame(3, "G1 X3"))
    heard = host.after(0.1)
    assert heard == ["ok", "ok"]
    assert host.fw.executed == ["G1 X1", "G1 X3"]
    assert host.fw.counters.discarded_lines == 1


# ----- Klipper -----


def test_klipper_checks_nothing_and_acknowledges_every_line():
    host = Host(SimOptions(identity="klipper"))
    host.send(frame(7, "G1 X1") + b"N3 G1 X2*0\n" + b"G1 X3*99\n" + frame(1, "M105"))
    heard = host.after(0.1)
    assert heard == ["ok", "ok", "ok", "ok B:22.0 /0.0 T0:22.0 /0.0"]
    assert host.fw.executed == ["G1 X1", "G1 X2", "G1 X3", "M105"]
    assert host.fw.counters.line_errors == 0


def test_klipper_runs_a_damaged_line_as_it_is():
    host = Host(
        SimOptions(identity="klipper", seed=1), [make_fault("corrupt_line", {"at_line": 1})]
    )
    host.send(frame(1, "G1 X100 Y100"))
    assert host.after(0.1) == ["ok"]
    assert host.fw.executed != ["G1 X100 Y100"] and len(host.fw.executed) == 1


def test_klipper_unknown_commands_and_m115():
    host = Host(SimOptions(identity="klipper"))
    host.send(b"G999 X1\nM155 S2\nM115\n")
    assert host.after(0.1) == [
        '// Unknown command:"G999"',
        "ok",
        '// Unknown command:"M155"',
        "ok",
        "ok FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-0-g0000000",
    ]


def test_klipper_m112_shuts_down_but_keeps_answering():
    host = Host(SimOptions(identity="klipper"))
    host.send(b"M112\nG1 X1\nM105\n")
    heard = host.after(0.1)
    assert heard == [
        "// Klipper state: Shutdown",
        "ok",
        "!! Shutdown due to M112 command",
        "ok",
        "ok B:22.0 /0.0 T0:22.0 /0.0",
    ]
    assert host.fw.executed == ["M112", "M105"]
    assert not host.fw.halted


# ----- every profile -----


@pytest.mark.parametrize("identity", sorted(IDENTITIES))
def test_every_profile_prints_a_whole_file_in_order_on_a_clean_link(identity):
    host = Host(SimOptions(identity=identity, baud=BAUD))
    commands = [f"G1 X{i % 40} Y{i % 23} F6000" for i in range(1, 120)]
    for number, command in enumerate(commands, 1):
        host.send(frame(number, command))
        host.after(0.01)
    assert host.fw.executed == commands
    assert host.fw.counters.tails == []


def test_rrf_words_unsupported_and_bad_commands():
    host = Host(SimOptions(identity="rrf"))
    host.send(frame(1, "M9999") + frame(2, "X5"))
    assert host.after(0.1) == [
        "Error: M9999: Command is not supported",
        "ok",
        "Error: Bad command: X5",
        "ok",
    ]


def test_klipper_names_a_command_that_starts_with_a_digit_whole():
    host = Host(SimOptions(identity="klipper"))
    host.send(b"123 G1\n")
    assert host.after(0.1) == ['// Unknown command:"123 G1"', "ok"]
