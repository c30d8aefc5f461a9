"""Executed tails per 100 line errors: compact framing (``N12G1 …``) against ``N12 G1 …``.

Our protocol core and the simulated firmware talk through a wire of explicit
time (250000 baud, 1 ms latency; no real clock, so the machine's load cannot
change a figure): a dense-curve file of real slicer-shaped moves, a share of
lines damaged on the wire, many lines in flight (window ``auto``), and each
framing in turn on the same seeds. The firmware's own record says how many lines
its drain cut and ran (or refused); the host's record must say the same.

    python -m bench.tails [--lines 20000] [--seeds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.dense_curve import write_dense_curve
from instance.gcode_file import GcodeFile
from instance.protocol.connection import PrinterConnection
from instance.protocol.events import Ready, TailExecuted
from instance.sim.faults import parse_fault
from instance.sim.firmware import SimulatedFirmware
from instance.sim.options import SimOptions

BAUD = 250000
LATENCY = 0.001


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True, slots=True)
class TailRun:
    profile: str
    framing: str
    seed: int
    lines: int
    line_errors: int
    tails_executed: int
    tails_refused: int
    tails_host_saw: int
    completed: bool

    @property
    def per_100_errors(self) -> float:
        return 100.0 * self.tails_executed / self.line_errors if self.line_errors else 0.0


def run_once(
    commands: list[str], profile: str, framing: str, seed: int, corruption: float
) -> TailRun:
    clock = _Clock()
    firmware = SimulatedFirmware(
        SimOptions(identity=profile, baud=BAUD, latency=LATENCY, seed=seed),
        [parse_fault(f"random_resend:probability={corruption}")],
        now=0.0,
    )
    host = PrinterConnection(clock, byte_time=10.0 / BAUD, framing=framing, response_timeout=5.0)
    host.connect()
    sent = 0
    ready = False
    host_tails = 0
    limit = 600.0  # seconds of model time: a print that took longer did not end
    while clock.now < limit:
        while ready and host.queued < 8 and sent < len(commands):
            host.send(commands[sent])
            sent += 1
        data = host.data_to_send()
        if data:
            firmware.receive(data, clock.now)
        while (event := host.next_event()) is not None:
            if isinstance(event, Ready):
                ready = True
            elif isinstance(event, TailExecuted):
                host_tails += 1
        if ready and sent == len(commands) and host.idle:
            break
        times = [t for t in (firmware.next_deadline(), host.next_deadline()) if t is not None]
        step = min(times) if times else clock.now + 0.001
        clock.now = max(clock.now + 1e-6, min(step, clock.now + 0.01))
        reply = firmware.poll(clock.now)
        if reply:
            host.receive_data(reply)
        host.check_timeouts()
    tails = firmware.tails
    return TailRun(
        profile=profile,
        framing=framing,
        seed=seed,
        lines=len(commands),
        line_errors=firmware.counters.line_errors,
        tails_executed=sum(1 for t in tails if t.outcome == "executed"),
        tails_refused=sum(1 for t in tails if t.outcome == "unknown"),
        tails_host_saw=host_tails,
        completed=host.idle and sent == len(commands) and clock.now < limit,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--corruption", type=float, default=0.02)
    parser.add_argument("--profiles", default="marlin2,marlin1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curve.gcode"
        write_dense_curve(path, args.lines)
        commands = [line.command for line in GcodeFile(path).iter_commands(0)]
    runs: list[TailRun] = []
    for profile in args.profiles.split(","):
        for framing in ("compact", "spaced"):
            for seed in range(1, args.seeds + 1):
                run = run_once(commands, profile, framing, seed, args.corruption)
                runs.append(run)
                print(
                    f"{profile:8} {framing:8} seed {seed}: {run.line_errors} line errors,"
                    f" {run.tails_executed} executed + {run.tails_refused} refused tails,"
                    f" host saw {run.tails_host_saw}, completed {run.completed}",
                    file=sys.stderr,
                )
    print("profile   framing   executed tails / 100 line errors (mean, min-max)  host saw all")
    for profile in args.profiles.split(","):
        for framing in ("compact", "spaced"):
            mine = [r for r in runs if r.profile == profile and r.framing == framing]
            rates = [r.per_100_errors for r in mine]
            seen = all(r.tails_host_saw == r.tails_executed + r.tails_refused for r in mine)
            print(
                f"{profile:9} {framing:9} {statistics.mean(rates):5.2f}"
                f" ({min(rates):.2f}-{max(rates):.2f})"
                f"{'':28}{'yes' if seen else 'NO'}"
            )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0 if all(r.completed and math.isfinite(r.per_100_errors) for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
