"""The fleet soak: N simulated printers in the real Docker stack, printing real slicer files
through the fleet queue under faults drawn from a seed, and every job checked (docs/soak.md).

    python -m bench.fleet_soak --printers 20 --minutes 5 --seed 18 --out soak-20
    python -m bench.fleet_soak --printers 50 --minutes 30 --engine-restart --out soak-50

Builds the images first (under a repository of its own, removed at the end) unless
``--repository`` names some. Writes ``soak.json`` and ``soak.md`` to ``--out``; exits 1 when
anything was lost.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import docker

from bench.soak.plan import CANCEL, HOST_FAULTS, RESTART_ENGINE
from bench.soak.report import write
from bench.soak.run import Settings, run
from bench.stack_images import bench_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the queue is fed")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, default=Path("soak-report"))
    parser.add_argument("--repository", help="use these images, build none")
    parser.add_argument("--time-factor", type=float, default=1.0, help="moves' timing (1: real)")
    parser.add_argument("--heat-rate", type=float, default=10.0,
                        help="heat-ups this many times a real printer's rate")  # fmt: skip
    parser.add_argument("--drain-minutes", type=float, default=4.0)
    parser.add_argument("--engine-restart", action="store_true",
                        help="restart the Docker engine too: it stops EVERY container")  # fmt: skip
    parser.add_argument("--no-reboot", action="store_true", help="no host reboot")
    arguments = parser.parse_args(argv)
    kinds = [k for k in (*HOST_FAULTS, CANCEL) if k != RESTART_ENGINE or arguments.engine_restart]
    if arguments.no_reboot:
        kinds.remove("reboot")
    settings = Settings(
        printers=arguments.printers,
        seconds=arguments.minutes * 60,
        seed=arguments.seed,
        kinds=tuple(kinds),
        time_factor=arguments.time_factor,
        heat_rate=arguments.heat_rate,
        drain_seconds=arguments.drain_minutes * 60,
    )
    client = docker.from_env(timeout=300)
    with bench_images(client, arguments.repository) as (repository, work):
        result = run(settings, client, repository, work / "soak")
    as_json, page = write(result, arguments.out)
    print(page.read_text())
    print(f"written: {as_json}, {page}")
    return 1 if result.losses else 0


if __name__ == "__main__":
    sys.exit(main())
