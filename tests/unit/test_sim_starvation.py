"""The simulator tells when its planner ran dry between moves (stutter), so benchmarks can
judge any host by the same printer; ``fabfleet-sim --stats`` writes the counts to a file."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from instance.protocol.framing import frame
from instance.sim.firmware import SimulatedFirmware
from instance.sim.options import SimOptions
from instance.sim.process import simulator_process
from instance.sim.starvation import STUTTER_GAP, Starvation

# 10 mm at 50 mm/s with 500 mm/s² takes 0.3 s on the trapezoid of instance/sim/motion.py.
MOVE_SECONDS = 0.3


class Host:
    """Writes numbered lines at chosen model times and runs the firmware's clock."""

    def __init__(self) -> None:
        self.fw = SimulatedFirmware(SimOptions(move_timing="real", autoreport_temp=False))
        self.now = 0.0
        self.line = 0
        self.x = 0.0
        self.advance(0.05)  # the power-on banner

    def advance(self, until: float) -> None:
        while True:
            deadline = self.fw.next_deadline()
            if deadline is None or deadline > until:
                break
            self.now = max(self.now, deadline)
            self.fw.poll(self.now)
        self.now = until
        self.fw.poll(until)

    def send(self, command: str) -> None:
        self.line += 1
        self.fw.receive(frame(self.line, command), self.now)
        self.advance(self.now + 0.001)

    def move(self) -> None:
        self.x += 10.0
        self.send(f"G1 X{self.x:.1f} F3000")


def test_a_host_that_keeps_the_planner_fed_causes_no_starvation() -> None:
    host = Host()
    host.send("G28")
    host.advance(host.now + 7.0)  # homing over: it pauses the planner on purpose
    for _ in range(3):
        host.move()  # three moves queued at once
    for _ in range(6):
        host.advance(host.now + MOVE_SECONDS / 2)  # the next line comes well before the end
        host.move()
    host.advance(host.now + 5.0)
    starvation = host.fw.counters.starvation
    assert starvation.moves == 9
    assert starvation.starved == 0
    assert starvation.starved_seconds == 0.0


def test_a_line_that_comes_after_the_last_move_ended_is_a_starvation_of_that_length() -> None:
    host = Host()
    host.move()
    host.advance(host.now + MOVE_SECONDS + 0.2)  # the planner stood empty for ~0.2 s
    host.move()
    host.advance(host.now + MOVE_SECONDS + 0.05)
    host.move()
    starvation = host.fw.counters.starvation
    assert starvation.moves == 3
    assert starvation.starved == 2
    assert 0.19 < starvation.longest < 0.21
    assert 0.23 < starvation.starved_seconds < 0.27


def test_dwells_homing_and_m400_empty_the_planner_on_purpose() -> None:
    host = Host()
    host.move()
    host.send("M400")
    host.advance(host.now + 1.0)
    host.move()
    host.send("G4 P200")
    host.advance(host.now + 1.0)
    host.move()
    host.send("G28 X")
    host.advance(host.now + 8.0)
    host.move()
    starvation = host.fw.counters.starvation
    assert starvation.moves == 4
    assert starvation.starved == 0


def test_gaps_below_the_stutter_threshold_are_counted_apart() -> None:
    starvation = Starvation()
    starvation.planned(now=0.0, start=0.0, seconds=0.1)
    starvation.planned(now=0.1 + STUTTER_GAP / 2, start=0.1 + STUTTER_GAP / 2, seconds=0.1)
    assert (starvation.starved, starvation.short_gaps) == (0, 1)


def test_the_stats_file_counts_what_ran_over_tcp(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    with simulator_process(
        tmp_path, "--move-timing", "real", "--stats", str(stats), tcp=True
    ) as sim:
        host, port = sim.port.removeprefix("socket://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as link:
            link.sendall(frame(1, "G1 X10 F3000"))
            time.sleep(0.6)  # the move (0.3 s) is over before the next line
            link.sendall(frame(2, "G1 X20 F3000"))
            deadline = time.monotonic() + 10
            figures: dict[str, float] = {}
            while time.monotonic() < deadline:
                if stats.exists():
                    figures = json.loads(stats.read_text(encoding="utf-8"))
                    if figures["moves"] == 2:
                        break
                time.sleep(0.2)
    assert figures["executed"] == 2
    assert figures["moves"] == 2
    assert figures["starved"] == 1
    assert 0.2 < figures["starved_seconds"] < 0.6
