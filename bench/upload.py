"""Upload speed and memory: a 1 GB G-code file POSTed to a connected ``fabfleet-instance serve``.

Also reports the server's memory when connected and idle (5 s after it is ready),
the figure the 40 MB budget is about.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import requests

from bench.simproc import BENCH_PRINTER, BIN, simulator
from instance.sim.process import stop_process
from tests.web.big_upload import BOUNDARY, MB, PeakRss, write_upload_body


@dataclass(frozen=True, slots=True)
class UploadResult:
    file_mb: float
    seconds: float
    mb_per_s: float
    idle_rss_mb: float
    idle_uss_mb: float
    peak_rss_mb: float
    rss_growth_mb: float


def measure(workdir: Path, size_mb: int, settle: float) -> UploadResult:
    body = workdir / "body.bin"
    size = write_upload_body(body, "big.gcode", size_mb * MB)
    with simulator(workdir, *BENCH_PRINTER) as sim:
        server = subprocess.Popen(
            [str(BIN / "fabfleet-instance"), "serve", "--port", sim.port, "--data-dir",
             str(workdir / "data"), "--listen", "127.0.0.1:0", "--max-upload-mb", str(size_mb + 1)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().rsplit(" on ", 1)[1].strip().rstrip("/")
            deadline = time.monotonic() + 20
            while requests.get(url + "/api/health", timeout=5).json()["state"] != "ready":
                if time.monotonic() > deadline:
                    raise RuntimeError("the printer did not become ready")
                time.sleep(0.1)
            time.sleep(settle)
            idle = psutil.Process(server.pid).memory_full_info()
            watcher = PeakRss(server.pid)
            watcher.start()
            started = time.perf_counter()
            with body.open("rb") as stream:
                answer = requests.post(
                    url + "/api/files/local",
                    data=stream,
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                    timeout=3600,
                )
            seconds = time.perf_counter() - started
            watcher.running = False
            watcher.join()
            if answer.status_code != 201:
                raise RuntimeError(f"upload refused: {answer.status_code} {answer.text}")
        finally:
            stop_process(server)
    return UploadResult(
        file_mb=round(size / MB, 1),
        seconds=round(seconds, 2),
        mb_per_s=round(size / MB / seconds, 1),
        idle_rss_mb=round(idle.rss / MB, 1),
        idle_uss_mb=round(idle.uss / MB, 1),
        peak_rss_mb=round(watcher.peak / MB, 1),
        rss_growth_mb=round((watcher.peak - idle.rss) / MB, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before measuring")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-") as workdir:
        result = measure(Path(workdir), arguments.size_mb, arguments.settle)
    print(
        f"connected idle server: RSS {result.idle_rss_mb} MB, USS {result.idle_uss_mb} MB\n"
        f"upload of {result.file_mb} MB: {result.seconds} s, {result.mb_per_s} MB/s,"
        f" peak RSS {result.peak_rss_mb} MB (+{result.rss_growth_mb} MB)"
    )
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
