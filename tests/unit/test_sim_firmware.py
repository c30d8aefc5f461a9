"""The simulated printer's firmware model, driven with explicit times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from instance.protocol.framing import frame
from instance.sim.faults import FAULTS, make_fault
from instance.sim.firmware import KILLED, SimulatedFirmware
from instance.sim.options import SimOptions


def lines_of(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


class Bench:
    """A host that writes at given times and collects what the printer says, with timestamps."""

    def __init__(self, options: SimOptions | None = None, faults=(), banner: bool = False) -> None:
        self.fw = SimulatedFirmware(options or SimOptions(), faults)
        self.now = 0.0
        self.heard: list[tuple[float, bytes]] = []
        if not banner:
            # Let the power-on banner pass (it takes time with pacing and latency).
            self.run(0.05)
            self.heard.clear()
        self.t0 = self.now

    def send(self, data: bytes) -> None:
        self.fw.receive(data, self.now)

    def send_lines(self, commands: list[str], first: int = 1) -> None:
        self.send(b"".join(frame(first + i, c) for i, c in enumerate(commands)))

    def run(self, until: float) -> list[str]:
        """Follow next_deadline() up to ``until``; the lines heard meanwhile."""
        start = len(self.heard)
        while True:
            deadline = self.fw.next_deadline()
            if deadline is None or deadline > until:
                break
            self.now = max(self.now, deadline)
            out = self.fw.poll(self.now)
            if out:
                self.heard.append((self.now, out))
        self.now = until
        out = self.fw.poll(until)
        if out:
            self.heard.append((until, out))
        return lines_of(b"".join(chunk for _, chunk in self.heard[start:]))


def numbered(commands: list[str]) -> bytes:
    return b"".join(frame(i + 1, c) for i, c in enumerate(commands))


# ----- lines, checksums, resends -----


def test_numbered_lines_are_executed_once_in_order():
    bench = Bench()
    commands = [f"G1 X{i} F3000" for i in range(1, 41)]
    bench.send(numbered(commands))
    heard = bench.run(1.0)
    assert bench.fw.executed == commands
    assert sum(line.startswith("ok") for line in heard) == 40
    assert "ok N40 P15 B3" in heard


def test_checksum_error_asks_for_the_line_again_and_executes_nothing():
    bench = Bench()
    bench.send(frame(1, "G28"))
    bench.send(b"N2 G1 X5*0\n")
    assert bench.run(0.1)[1:] == ["Error:checksum mismatch, Last Line: 1", "Resend: 2", "ok"]
    bench.send(frame(2, "G1 X5"))
    bench.run(0.2)
    assert bench.fw.executed == ["G28", "G1 X5"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (frame(3, "G1 X1"), "Error:Line Number is not Last Line Number+1, Last Line: 1"),
        (b"N2 G1 X1\n", "Error:No Checksum with line number, Last Line: 1"),
    ],
)
def test_line_errors_in_marlin_words(line, error):
    bench = Bench()
    bench.send(frame(1, "M105") + line)
    assert bench.run(0.1)[1:] == [error, "Resend: 2", "ok"]
    assert bench.fw.executed == ["M105"]


def test_unnumbered_lines_without_checksum_are_accepted():
    bench = Bench()
    bench.send(b"G28\nM114 ; where are we\n\n;just a comment\n")
    heard = bench.run(0.1)
    assert bench.fw.executed == ["G28", "M114"]
    # Marlin answers nothing to empty and comment-only lines: two oks, not four.
    assert sum(line.startswith("ok") for line in heard) == 2


def test_m110_sets_the_line_counter():
    bench = Bench()
    bench.send(frame(1, "G28") + frame(2, "M110 N100") + frame(101, "G1 X1"))
    bench.run(0.1)
    assert bench.fw.executed == ["G28", "M110 N100", "G1 X1"]
    assert bench.fw.last_line == 101


@pytest.mark.parametrize("identity", ["marlin2", "marlin1", "prusa"])
def test_a_duplicate_of_the_last_line_is_a_line_number_error(identity):
    # No Marlin keeps a window of recent numbers: queue.cpp and Marlin_main.cpp compare
    # with last_N + 1 only.
    bench = Bench(SimOptions(identity=identity, service_jitter=0.0))
    bench.send(frame(1, "G1 X1") + frame(1, "G1 X1"))
    heard = bench.run(0.1)
    assert bench.fw.executed == ["G1 X1"]
    assert "Error:Line Number is not Last Line Number+1, Last Line: 1" in heard
    assert "Resend: 2" in heard


def test_an_overrun_receive_buffer_corrupts_lines_and_never_succeeds_silently():
    # During G4 only three more lines fit in the queue; the burst is far larger than the
    # 128-byte RX buffer on top of that.
    options = SimOptions(move_timing="real", rx_buffer=128)
    bench = Bench(options)
    burst = [f"G1 X{i} Y{i} F6000" for i in range(2, 30)]
    bench.send(frame(1, "G4 S1") + b"".join(frame(i + 2, c) for i, c in enumerate(burst)))
    heard = bench.run(3.0)
    assert bench.fw.counters.overrun_bytes > 0
    # The cut-off line waits in the line buffer until the host's next line completes it.
    bench.send(frame(30, "G1 X0"))
    heard += bench.run(3.1)
    assert any(line.startswith("Resend: ") for line in heard)
    executed = bench.fw.executed
    # What was executed is an unbroken run from line 1: nothing skipped, nothing doubled.
    assert executed == ["G4 S1", *burst[: len(executed) - 1]]
    assert len(executed) < len(burst) + 1


def test_lines_that_arrive_while_a_command_waits_fill_the_free_queue_slots():
    # Marlin reads the serial port in idle(), which every wait loops on: a move waiting in a
    # slow planner leaves no queue slot empty while the receive buffer fills up.
    bench = Bench(SimOptions(), [make_fault("slow_planner", {"delay": 0.01})])
    moves = [f"G1 X{i}.123 Y{i}.456 E{i}.78901 F1800" for i in range(1, 8)]
    framed = [frame(i + 1, move) for i, move in enumerate(moves)]
    beyond = sum(len(data) for data in framed[4:])
    assert beyond <= 128 < beyond + len(framed[3])  # four in the queue, the rest just fits
    bench.send(framed[0])
    bench.run(bench.now + 0.001)  # the first move is waiting now; the rest arrive meanwhile
    bench.send(b"".join(framed[1:]))
    heard = [line for line in bench.run(bench.now + 0.2) if line.startswith(("ok", "Error"))]
    assert bench.fw.counters.overrun_bytes == 0
    assert bench.fw.executed == moves
    # B counts the acknowledged move itself: the queue was full while it waited.
    assert heard[:2] == ["ok N1 P15 B0", "ok N2 P15 B0"]
    assert heard[-1] == "ok N7 P15 B3"


def test_a_host_that_respects_the_buffers_loses_nothing_at_250000_baud():
    options = SimOptions(baud=250000, latency=0.001, move_timing="real")
    bench = Bench(options)
    commands = [f"G1 X{i % 50} Y{i % 30} F12000" for i in range(200)]
    sent = 0
    in_flight = 0
    while len(bench.fw.executed) < len(commands) and bench.now < 60:
        while sent < len(commands) and in_flight < 3:
            bench.send(frame(sent + 1, commands[sent]))
            sent += 1
            in_flight += 1
        heard = bench.run(bench.now + 0.002)
        in_flight -= sum(line.startswith("ok") for line in heard)
        assert not any(line.startswith(("Error", "Resend")) for line in heard)
    assert bench.fw.executed == commands
    assert bench.fw.counters.overrun_bytes == 0


# ----- timing: baud and latency -----


def test_baud_pacing_and_latency_delay_the_ok():
    options = SimOptions(baud=115200, latency=0.016)
    bench = Bench(options)
    line = frame(1, "G1 X10")
    bench.send(line)
    bench.run(1.0)
    when, data = bench.heard[0]
    when -= bench.t0
    wire = 10 / 115200
    expected = len(line) * wire + len(data) * wire + 0.016
    assert data == b"ok N1 P15 B3\n"
    assert when == pytest.approx(expected, abs=1e-6)


def test_without_pacing_the_ok_arrives_after_exactly_the_latency():
    bench = Bench(SimOptions(latency=0.005))
    bench.send(frame(1, "M400"))
    bench.run(1.0)
    assert bench.heard[0][0] - bench.t0 == pytest.approx(0.005)


# ----- ADVANCED_OK -----


def test_advanced_ok_counts_queue_and_planner():
    bench = Bench(SimOptions(move_timing="real"))
    # While G4 dwells the queue fills to BUFSIZE (Marlin reads in idle()); B counts G4 itself.
    bench.send(frame(1, "G4 S1") + b"".join(frame(i, "M400") for i in range(2, 8)))
    heard = [line for line in bench.run(2.0) if line.startswith("ok")]
    assert heard[0] == "ok N1 P15 B0"
    assert heard[1] == "ok N2 P15 B0"
    assert heard[-1] == "ok N7 P15 B3"


def test_planner_fills_and_a_move_waits_for_a_free_block():
    bench = Bench(SimOptions(move_timing="real", planner_size=16))
    moves = [f"G1 X{100 * ((i + 1) % 2)} F6000" for i in range(20)]
    bench.send(numbered(moves))
    heard = [line for line in bench.run(bench.now + 0.01) if line.startswith("ok")]
    # 15 usable blocks (Marlin keeps one free); the 16th move blocks in the planner.
    assert heard[0] == "ok N1 P14 B3"
    assert heard[14] == "ok N15 P0 B3"
    assert len(heard) == 15
    later = bench.run(bench.now + 7.0)  # 1.2 s per 100 mm move at 100 mm/s
    assert sum(line.startswith("ok") for line in later) == 5
    # Each move waits 1.2 s for a block: never the 2 s a busy keep-alive needs (as in Marlin).
    assert "echo:busy: processing" not in later


# ----- blocking commands -----


def test_m109_blocks_and_reports_temperatures_every_second():
    bench = Bench(SimOptions(move_timing="real", hotend_rate=3.0))
    bench.send(frame(1, "M109 S210") + frame(2, "M105"))
    heard = bench.run(10.0)
    waits = [line for line in heard if "W:?" in line]
    assert 9 <= len(waits) <= 10
    assert not any(line.startswith("ok") for line in heard)
    assert bench.fw.executed == ["M109 S210"]
    heard = bench.run(80.0)
    assert heard[-2].startswith("ok N1")
    assert heard[-1].startswith("ok T:2")  # M105 runs only after the heat-up
    # 22 -> 208 °C at 3 °C/s: about 62 s.
    ok_time = next(t for t, data in bench.heard if b"ok N1" in data)
    assert 60 < ok_time < 64


def test_g28_sends_busy_keepalives_while_homing():
    bench = Bench(SimOptions(move_timing="real", home_seconds=7.0))
    bench.send(frame(1, "G28"))
    heard = bench.run(10.0)
    assert heard == ["echo:busy: processing"] * 3 + ["ok N1 P15 B3"]


def test_m112_halts_and_nothing_more_is_read():
    bench = Bench()
    bench.send(frame(1, "M112"))
    bench.run(0.1)
    bench.send(frame(2, "M105"))
    heard = bench.run(1.0)
    assert bench.heard[0][1].decode().splitlines() == [KILLED]
    assert heard == []
    assert bench.fw.halted
    assert bench.fw.executed == ["M112"]


def test_emergency_parser_acts_while_a_heat_up_blocks():
    bench = Bench(SimOptions(move_timing="real"))
    bench.send(frame(1, "M109 S210") + frame(2, "M105"))
    bench.run(3.0)
    bench.send(frame(3, "M108"))
    heard = bench.run(3.1)
    assert heard[0].startswith("ok N1")
    assert bench.fw.executed[:2] == ["M109 S210", "M108"]


def test_without_emergency_parser_m108_waits_behind_the_heat_up():
    bench = Bench(SimOptions(move_timing="real", emergency_parser=False))
    bench.send(frame(1, "M109 S210"))
    bench.run(3.0)
    bench.send(frame(2, "M108") + frame(3, "M112"))
    heard = bench.run(20.0)
    assert not any(line.startswith("ok") for line in heard)
    assert bench.fw.executed == ["M109 S210"]
    heard = bench.run(80.0)
    assert heard[-1] == KILLED


def test_m600_waits_for_the_user_until_m876():
    bench = Bench(SimOptions(move_timing="real"))
    bench.send(frame(1, "M600"))
    heard = bench.run(5.0)
    assert "//action:prompt_show" in heard
    assert "echo:busy: paused for user" in heard
    assert not any(line.startswith("ok") for line in heard)
    bench.send(frame(2, "M876 S0"))
    heard = bench.run(5.1)
    assert [line[:5] for line in heard if line.startswith("ok")] == ["ok N1", "ok N2"]
    assert bench.fw.executed == ["M600", "M876 S0"]


def test_unknown_command_is_harmless():
    bench = Bench()
    bench.send(frame(1, "G999 X1"))
    assert bench.run(0.1) == ['echo:Unknown command: "G999 X1"', "ok N1 P15 B3"]


def test_m155_autoreports_temperatures_only_with_the_capability():
    bench = Bench()
    bench.send(frame(1, "M155 S2"))
    heard = bench.run(7.0)
    assert sum(line.startswith(" T:") for line in heard) == 3
    bench = Bench(SimOptions(autoreport_temp=False))
    bench.send(frame(1, "M155 S2"))
    assert bench.run(7.0)[0].startswith("echo:Unknown command")


def test_reset_on_open_prints_the_banner_and_restarts_numbering():
    bench = Bench()
    bench.send(numbered(["G28", "G1 X1"]))
    bench.run(0.1)
    bench.fw.reset(0.2)
    heard = bench.run(0.3)
    assert heard[0] == "start"
    bench.send(frame(1, "M105"))
    bench.run(0.4)
    assert bench.fw.executed == ["G28", "G1 X1", "M105"]
    assert bench.fw.resets == [2]


# ----- identities -----


@pytest.mark.parametrize(
    ("identity", "firmware", "caps", "ok"),
    [
        ("marlin2", "FIRMWARE_NAME:Marlin 2.1", True, "ok N1 P15 B3"),
        ("marlin1", "FIRMWARE_NAME:Marlin 1.1", True, "ok N1 P15 B3"),
        ("prusa", "FIRMWARE_NAME:Prusa-Firmware", True, "ok"),
        ("rrf", "FIRMWARE_NAME: RepRapFirmware", False, "ok"),
        ("repetier", "FIRMWARE_NAME:Repetier", True, "ok 1"),
    ],
)
def test_identities_report_themselves_and_answer_in_their_own_way(identity, firmware, caps, ok):
    bench = Bench(SimOptions(identity=identity), banner=True)
    banner = bench.run(0.0)
    bench.send(frame(1, "G1 X1") + frame(2, "M115"))
    heard = bench.run(0.1)
    assert heard[0] == ok
    assert heard[1].startswith(firmware)
    assert any(line.startswith("Cap:") for line in heard) == caps
    assert ("start" in banner) == (identity != "rrf")


@pytest.mark.parametrize(("report", "count"), [("full", 30), ("partial", 6), ("none", 0)])
def test_capability_report_can_be_partial_or_missing(report, count):
    bench = Bench(SimOptions(capabilities_report=report))
    bench.send(frame(1, "M115"))
    heard = bench.run(0.1)
    assert sum(line.startswith("Cap:") for line in heard) == count


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("marlin2", "T:180.23 /210.00"),
        ("marlin1", "T:180.2 E:0 W:?"),
        ("repetier", "T:180.23 /210"),
    ],
)
def test_heat_up_reports_in_the_identity_format(identity, expected):
    bench = Bench(SimOptions(identity=identity, move_timing="real", hotend_rate=3.0))
    bench.send(frame(1, "M109 S210"))
    heard = bench.run(60.2)
    # 22 + 3 * (60 - 0.0) would be 202; the report closest to 180.23 is at 52.74 s: just check form.
    form = expected.split(":")[0] + ":"
    assert any(line.strip().startswith(form) and "W:?" in line for line in heard)
    assert any(_same_shape(line.strip(), expected) for line in heard)


def _same_shape(line: str, expected: str) -> bool:
    import re

    def shape(text: str) -> str:
        return re.sub(r"\d", "9", text)

    return shape(line).startswith(shape(expected))


# ----- faults: each produces what it promises -----


@dataclass
class FaultCase:
    fault: dict[str, object]
    send: list[str]
    check: Callable[[Bench, list[str]], object]
    options: dict[str, object] = field(default_factory=dict)
    until: float = 1.0


def _oks(heard: list[str]) -> int:
    return sum(line.startswith("ok") for line in heard)


FIVE = ["G1 X1", "G1 X2", "G1 X3", "G1 X4", "G1 X5"]

FAULT_CASES: dict[str, FaultCase] = {
    "drop_line": FaultCase(
        {"at_line": 2},
        FIVE,
        lambda b, h: (
            h[1] == "Error:Line Number is not Last Line Number+1, Last Line: 1"
            and b.fw.executed == ["G1 X1"]
        ),
    ),
    "corrupt_line": FaultCase(
        {"at_line": 3},
        FIVE,
        lambda b, h: "Error:checksum mismatch, Last Line: 2" in h and b.fw.executed == FIVE[:2],
    ),
    "random_resend": FaultCase(
        {"probability": 0.5},
        [f"G1 X{i}" for i in range(40)],
        lambda b, h: 0 < sum(x.startswith("Resend: ") for x in h) < 40,
    ),
    "double_resend": FaultCase(
        {"at_line": 1},
        ["G1 X1"],
        lambda b, h: (
            h
            == [
                "Error:checksum mismatch, Last Line: 0",
                "Resend: 1",
                "ok",
                "Error:Line Number is not Last Line Number+1, Last Line: 0",
                "Resend: 1",
                "ok",
            ]
        ),
    ),
    "resend_without_ok": FaultCase(
        {"at_line": 1},
        ["G1 X1"],
        lambda b, h: h == ["Error:checksum mismatch, Last Line: 0", "Resend: 1"],
    ),
    "resend_old": FaultCase(
        {"at_line": 1500, "back": 1000},
        [f"G1 X{i % 7}" for i in range(1500)],
        lambda b, h: "Resend: 500" in h and len(b.fw.executed) == 1499,
        until=5.0,
    ),
    "resend_unsent": FaultCase(
        {"at_line": 2},
        ["G1 X1", "G1 X2"],
        lambda b, h: h == ["ok N1 P15 B3", "ok N2 P15 B3", "Resend: 3", "ok"],
    ),
    "endless_resend": FaultCase(
        {"at_line": 1, "times": 0},
        ["G1 X1"] * 1,
        lambda b, h: h[-2:] == ["Resend: 1", "ok"] and b.fw.executed == [],
    ),
    "lost_ok": FaultCase(
        {"at_line": 2},
        ["G1 X1", "G1 X2", "G1 X3"],
        lambda b, h: _oks(h) == 2 and len(b.fw.executed) == 3,
    ),
    "extra_ok": FaultCase({"at_line": 1}, ["G1 X1"], lambda b, h: h == ["ok N1 P15 B3", "ok"]),
    "long_command": FaultCase(
        {"at_line": 1, "seconds": 5.0, "keepalive": True},
        ["M105"],
        lambda b, h: h.count("echo:busy: processing") == 2 and h[-1].startswith("ok T:"),
        until=6.0,
    ),
    "silence": FaultCase({"at_time": 0.5, "seconds": 0}, [], lambda b, h: h == [], until=0.4),
    "write_stall": FaultCase(
        {"at_time": 0.0, "seconds": 2.0},
        [],
        lambda b, h: (
            b.fw.input_paused_until() == pytest.approx(2.0)
            and b.fw.link_requests[0].what == "stall"
        ),
    ),
    "reset": FaultCase(
        {"at_line": 3},
        FIVE,
        lambda b, h: "start" in h and b.fw.executed == FIVE[:2] and b.fw.resets == [2],
    ),
    "fatal_error": FaultCase(
        {"at_line": 2},
        FIVE,
        lambda b, h: h[1:] == ["Error:Thermal Runaway, system stopped! Heater_ID: 0", KILLED],
    ),
    "unplug": FaultCase(
        {"at_time": 0.2, "seconds": 3.0},
        [],
        lambda b, h: [(r.what, r.seconds) for r in b.fw.link_requests] == [("unplug", 3.0)],
    ),
    "emit": FaultCase(
        {"at_time": 0.1, "text": "echo:hello there"}, [], lambda b, h: h == ["echo:hello there"]
    ),
    "unsolicited": FaultCase(
        {"at_line": 1, "what": "autoreport"},
        ["G1 X1"],
        lambda b, h: h[0].startswith(" T:22.00 /0.00 B:") and h[1] == "ok N1 P15 B3",
    ),
    "action": FaultCase(
        {"at_time": 0.1, "action": "cancel", "spaced": True},
        [],
        lambda b, h: h == ["// action:cancel"],
    ),
    "garbage": FaultCase(
        {"at_time": 0.1, "what": "nul", "length": 4},
        [],
        lambda b, h: b.heard[0][1] == b"\x00\x00\x00\x00\n",
    ),
    "long_line": FaultCase({"at_time": 0.1, "length": 300}, [], lambda b, h: len(h[0]) == 300),
    "resend_format": FaultCase(
        {"form": "teacup"},
        [],
        lambda b, h: h[1].startswith("rs N1 Expected checksum "),
    ),
    "ok_variant": FaultCase({"style": "colon"}, ["G1 X1"], lambda b, h: h == ["ok N:1"]),
    "ok_before_output": FaultCase(
        {}, ["M114"], lambda b, h: h[0] == "ok N1 P15 B3" and h[1].startswith("X:0.00")
    ),
    "temperature_format": FaultCase(
        {"style": "spaced"}, ["M105"], lambda b, h: h == ["ok T:22.0/ 0.0 B:22.0/ 0.0"]
    ),
    "wait_idle": FaultCase({"interval": 1.0}, [], lambda b, h: h == ["wait"] * 3, until=3.5),
    "crlf": FaultCase({}, ["G1 X1"], lambda b, h: b.heard[0][1] == b"ok N1 P15 B3\r\n"),
    "split_writes": FaultCase(
        {"gap": 0.01},
        ["G1 X1"],
        lambda b, h: (
            [c for _, c in b.heard] == [b"ok N1 ", b"P15 B3\n"]
            and b.heard[1][0] - b.heard[0][0] == pytest.approx(0.01)
        ),
    ),
    "slow_planner": FaultCase(
        {"delay": 0.25},
        ["G1 X1", "G1 X2"],
        lambda b, h: [round(t - b.t0, 3) for t, _ in b.heard] == [0.25, 0.5],
    ),
    "reset_on_open": FaultCase(
        {"boot_seconds": 1.0},
        ["G1 X1"],
        lambda b, h: h == [] and b.fw.executed == [],
        until=0.9,
    ),
}


def test_every_fault_has_a_case():
    assert sorted(FAULT_CASES) == sorted(FAULTS)


@pytest.mark.parametrize("name", sorted(FAULT_CASES))
def test_fault_produces_its_documented_output(name):
    case = FAULT_CASES[name]
    fault = make_fault(name, case.fault)
    bench = Bench(SimOptions(**case.options), [fault], banner=name == "reset_on_open")  # type: ignore[arg-type]
    if case.send:
        if name == "resend_format":
            bench.send(b"N1 G1 X1*0\n")
        else:
            bench.send(numbered(case.send))
    elif name == "resend_format":
        bench.send(b"N1 G1 X1*0\n")
    heard = bench.run(case.until)
    assert case.check(bench, heard), heard


def test_reset_on_open_swallows_the_first_command_then_prints_the_banner():
    fault = make_fault("reset_on_open", {"boot_seconds": 1.0})
    bench = Bench(SimOptions(), [fault], banner=True)
    bench.send(frame(1, "M105"))
    heard = bench.run(1.5)
    assert heard[0] == "start"
    assert bench.fw.executed == []
    bench.send(frame(1, "M105"))
    assert bench.run(1.6)[-1].startswith("ok T:")


def test_endless_resend_with_a_count_gives_up_after_that_many():
    fault = make_fault("endless_resend", {"at_line": 1, "times": 3})
    bench = Bench(SimOptions(), [fault])
    for _ in range(4):
        bench.send(frame(1, "G1 X1"))
        bench.run(bench.now + 0.1)
    assert bench.fw.executed == ["G1 X1"]
    assert bench.fw.counters.line_errors == 3


def test_silence_for_a_while_then_answers_again():
    fault = make_fault("silence", {"at_time": 0.0, "seconds": 2.0})
    bench = Bench(SimOptions(), [fault])
    bench.send(frame(1, "M105"))
    assert bench.run(1.9) == []
    bench.send(frame(2, "M105"))
    heard = bench.run(2.5)
    assert [line[:5] for line in heard] == ["ok T:", "ok T:"]


def test_same_seed_same_faults():
    def errors(seed: int) -> int:
        fault = make_fault("random_resend", {})
        bench = Bench(SimOptions(seed=seed), [fault])
        bench.send(numbered([f"G1 X{i}" for i in range(400)]))
        bench.run(1.0)
        return bench.fw.counters.line_errors

    assert errors(7) == errors(7)
    assert 0 < errors(7) < 400


# ----- options -----


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"identity": "smoothie"}, "identity must be one of"),
        ({"command_buffer": 0}, "command_buffer must be at least 1"),
        ({"latency": -1.0}, "latency must be at least 0"),
        ({"baud": 12}, "baud must be at least 300"),
        ({"move_timing": "slow"}, "move_timing must be one of"),
        ({"advanced_ok": "yes"}, "advanced_ok must be true or false"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(values, message):
    with pytest.raises(ValueError, match=message):
        SimOptions(**values)


def test_ftdi_latency_timer_releases_answers_in_bursts_at_each_tick():
    fw = SimulatedFirmware(SimOptions(latency=0.016, latency_timer=True), now=0.0)
    fw.poll(0.0)
    fw.receive(frame(0, "M110 N0"), 0.100)
    fw.receive(frame(1, "G1 X1"), 0.104)
    # Both oks are made at once but wait for the timer's next tick (7 x 16 ms).
    assert fw.poll(0.1119) == b""
    assert fw.poll(0.1121) == b"ok N0 P15 B3\nok N1 P15 B3\n"


def test_ftdi_latency_timer_sends_a_full_usb_packet_at_once():
    fw = SimulatedFirmware(SimOptions(latency=0.016, latency_timer=True), now=0.0)
    fw.poll(0.0)
    lines = b"".join(frame(n, "M105") for n in range(1, 6))
    fw.receive(lines, 0.100)
    burst = fw.poll(0.1001)
    # Five temperature reports exceed 62 bytes: they leave before the tick.
    assert len(burst) >= 62
