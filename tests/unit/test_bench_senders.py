"""The benchmark's reference senders count right against a real simulator on a pty."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.dense_curve import dense_curve, write_dense_curve
from bench.senders import (
    OkCounter,
    SenderError,
    frame,
    ideal_windowed,
    one_in_flight,
    open_port,
    prepare,
)
from bench.simproc import BENCH_PRINTER, SimProcess, simulator
from bench.throughput import check_delivery
from instance.protocol import framing

LATENCY = 0.025


@pytest.fixture(scope="module")
def slow_link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """The benchmark printer with 25 ms of latency on every answer."""
    directory = tmp_path_factory.mktemp("slow-link")
    with simulator(directory, *BENCH_PRINTER, "--latency", str(LATENCY * 1000)) as sim:
        yield sim


def run(sim: SimProcess, sender, commands: list[str], **kwargs):
    fd = open_port(sim.port)
    try:
        prepare(fd, timeout=30.0)
        before = len(sim.executed())
        result = sender(fd, commands, **kwargs)
    finally:
        os.close(fd)
    return result, sim.executed()[before:]


def test_frame_matches_the_host():
    for number, command in [(0, "M110 N0"), (1, "G1 X101.234 Y98.765 E0.01234"), (99999, "M105")]:
        assert frame(number, command) == framing.frame(number, command)


def test_ok_counter_counts_whole_ok_lines_across_reads():
    counter = OkCounter()
    assert counter.feed(b"o") == 0
    assert counter.feed(b"k N1 P15 B3\nok") == 1
    assert counter.feed(b"\necho:busy: processing\n T:21.0 /0.0 B:22.0 /0.0 @:0\nok\n") == 2
    assert counter.feed(b'echo:Unknown command: "ok"\nwait\n') == 0


@pytest.mark.parametrize(
    "reply", [b"Error:checksum mismatch, Last Line: 3\n", b"Resend: 4\n", b"rs N4\n"]
)
def test_ok_counter_refuses_resends_and_errors(reply):
    counter = OkCounter()
    counter.feed(b"ok\n")
    with pytest.raises(SenderError):
        counter.feed(reply + b"ok\n")


def test_dense_curve_is_short_g1_segments(tmp_path):
    commands = write_dense_curve(tmp_path / "curve.gcode", 500)
    assert len(commands) == len(dense_curve(500)) - 1  # the comment line is not a command
    moves = [command for command in commands if command.startswith("G1 X")]
    assert len(moves) > 480
    assert all(len(command) < 40 for command in moves)


def test_one_in_flight_waits_for_every_ok(slow_link):
    commands = dense_curve(12)[1:]
    result, executed = run(slow_link, one_in_flight, commands)
    check_delivery(executed, commands, "one in flight")
    assert result.lines == len(commands)
    assert result.max_in_flight == 1
    # Each ok takes the latency to come back: a sender that pipelined would be far quicker.
    assert result.seconds >= len(commands) * LATENCY


def test_ideal_windowed_delivers_every_line_once_and_keeps_the_window_full(slow_link):
    commands = dense_curve(60)[1:]
    result, executed = run(slow_link, ideal_windowed, commands)
    check_delivery(executed, commands, "ideal windowed")
    assert result.lines == len(commands)
    # 4 queue slots plus what fits in 128 bytes of lines of about 30 bytes.
    # The window, not the clock, is what shows the pipelining (the speed it buys is
    # bench/throughput.py's figure).
    assert 6 <= result.max_in_flight <= 4 + 128 // 20


def test_ideal_windowed_aborts_when_it_overruns_the_printer(tmp_path):
    # A dwell blocks the queue; a sender that believes in a huge queue floods the receive
    # buffer, and the lines it sends once the first oks come back are out of sequence.
    commands = ["G4 P300", *dense_curve(200)[1:]]
    with simulator(tmp_path, *BENCH_PRINTER, "--move-timing", "real") as sim:
        with pytest.raises(SenderError, match=r"Error|Resend|rs"):
            run(sim, ideal_windowed, commands, command_slots=64, rx_buffer=256, timeout=30.0)
        assert sim.process.poll() is None


def test_a_silent_printer_is_an_error_not_a_hang(tmp_path):
    commands = ["G4 P2000", *dense_curve(10)[1:]]
    with (
        simulator(tmp_path, *BENCH_PRINTER, "--move-timing", "real") as sim,
        pytest.raises(SenderError, match="no answer"),
    ):
        run(sim, one_in_flight, commands, timeout=0.5)
