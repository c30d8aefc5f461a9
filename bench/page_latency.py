"""Page-update latency: from a printer event to the WebSocket message that shows it.

The server (Printer service and web server, as ``serve`` runs them) and a
WebSocket client share one process; the simulator is a separate process on a
pty. Every change notification of the printer that alters what a page shows
is time-stamped; the latency is from the first such change to the arrival of
the ``state`` message that carries it. A print runs meanwhile (moves of 5 ms
each), with temperature reports every second and the state changes of start,
pause, resume and cancel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from bench.simproc import simulator
from instance.web.config import ServeConfig
from instance.web.server import open_server
from instance.web.snapshot import printer_state

GCODE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gcode"


@dataclass(frozen=True, slots=True)
class LatencyResult:
    samples: int
    median_ms: float
    p95_ms: float
    max_ms: float


async def _run(workdir: Path, seconds: float) -> list[float]:
    with simulator(workdir, "--fault", "slow_planner:delay=0.005") as sim:
        config = ServeConfig(port=sim.port, data_dir=workdir / "data", listen_port=0)
        server = await open_server(config)
        ctx = server.ctx
        try:
            await asyncio.wait_for(ctx.printer.link.wait_ready(), 20)
            pending: list[float] = []
            shown = printer_state(ctx)

            def changed() -> None:
                nonlocal shown
                now = time.perf_counter()
                state = printer_state(ctx)
                if state != shown:
                    shown = state
                    pending.append(now)

            ctx.printer.subscribe(changed)
            source = GCODE / "cube_slic3r.gcode"
            (ctx.store.directory / "bench.gcode").write_bytes(source.read_bytes())
            latencies: list[float] = []
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(server.url + "/api/v1/events?log=0") as socket,
            ):
                await socket.receive()
                receiver = asyncio.create_task(_receive(socket, pending, latencies))
                await ctx.start_print("bench.gcode", "bench")
                await asyncio.sleep(seconds / 3)
                await ctx.printer.pause()
                await asyncio.sleep(1.5)
                await ctx.printer.resume()
                await asyncio.sleep(seconds / 3)
                await ctx.printer.cancel()
                ctx.printer.confirm_bed_clear()
                await asyncio.sleep(seconds / 3)
                receiver.cancel()
            return latencies
        finally:
            await server.close()


async def _receive(
    socket: aiohttp.ClientWebSocketResponse, pending: list[float], latencies: list[float]
) -> None:
    async for message in socket:
        arrived = time.perf_counter()
        if json.loads(message.data)["type"] == "state" and pending:
            latencies.append(arrived - pending[0])
            pending.clear()


def measure(workdir: Path, seconds: float) -> LatencyResult:
    latencies = sorted(asyncio.run(_run(workdir, seconds)))
    if not latencies:
        raise RuntimeError("no state message followed a printer event")
    ms = [value * 1000 for value in latencies]
    return LatencyResult(
        samples=len(ms),
        median_ms=round(statistics.median(ms), 2),
        p95_ms=round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 2),
        max_ms=round(ms[-1], 2),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-") as workdir:
        result = measure(Path(workdir), arguments.seconds)
    print(
        f"printer event -> page message: {result.samples} changes, median {result.median_ms} ms,"
        f" p95 {result.p95_ms} ms, max {result.max_ms} ms"
    )
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
