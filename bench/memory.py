"""Memory of a connected, idle print server (``bench.idle_instance``) on the simulator."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from bench.simproc import BENCH_PRINTER, simulator
from instance.sim.process import stop_process

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Resident set (RSS, shared pages included) and unique set (USS, this process's alone)."""

    rss_mb: float
    uss_mb: float
    settle_seconds: float


def measure(workdir: Path, settle: float = 5.0, timeout: float = 30.0) -> MemoryResult:
    """Start a simulator and an idle instance; read its memory ``settle`` s after connecting."""
    with simulator(workdir, *BENCH_PRINTER) as sim:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.idle_instance",
                "--port",
                sim.port,
                "--data-dir",
                str(workdir / "data"),
                "--connect-timeout",
                str(timeout),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("connected"):
                process.kill()
                _, errors = process.communicate(timeout=10)
                raise RuntimeError(f"the idle instance did not connect: {line!r} {errors}")
            time.sleep(settle)
            info = psutil.Process(process.pid).memory_full_info()
            return MemoryResult(round(info.rss / MB, 1), round(info.uss / MB, 1), settle)
        finally:
            stop_process(process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after connecting")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-") as workdir:
        result = measure(Path(workdir), arguments.settle)
    print(f"connected idle instance: RSS {result.rss_mb} MB, USS {result.uss_mb} MB")
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
