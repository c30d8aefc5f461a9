"""A real slicer file printed through a print server's API, as the arm64 tests do it.

The print server and the simulator run under emulation (in an arm64 root or in arm64
containers), 5 to 20 times slower than on the host: the waits are generous and bounded,
and each step's time is written to the terminal (tests/images/arm64_root.py ``report``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from tests.images.arm64_root import report
from tests.web.server import GCODE

START_SECONDS = 300.0
PRINT_SECONDS = 600.0
HTTP_SECONDS = 60.0
# A whole real slicer file: 12 487 lines, 343 kB.
CUBE = GCODE / "cube_slic3r.gcode"


def wait(what: str, check: Callable[[], bool], seconds: float) -> None:
    """Until ``check()`` is true; fails the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not in {seconds} s"
        time.sleep(0.5)


def state(http: requests.Session, url: str) -> str:
    """The printer's state, or why the print server does not say it yet."""
    try:
        found = http.get(f"{url}/api/v1/printer", timeout=HTTP_SECONDS)
    except requests.ConnectionError:
        return "not answering"
    return str(found.json()["state"]) if found.status_code == 200 else str(found.status_code)


def wait_ready(config: pytest.Config, http: requests.Session, url: str, started: float) -> None:
    """Until the print server at ``url`` has its printer ready (from ``started``)."""
    wait("the printer ready", lambda: state(http, url) == "ready", START_SECONDS)
    report(
        config, f"simulator and print server up, printer ready: {time.monotonic() - started:.1f} s"
    )


def print_cube(config: pytest.Config, http: requests.Session, url: str) -> None:
    """Upload :data:`CUBE`, wait for its analysis, print it to the end; the history says
    ``completed`` for the whole file."""
    content = CUBE.read_bytes()
    sent = time.monotonic()
    uploaded = http.post(
        f"{url}/api/files/local", files={"file": ("cube.gcode", content)}, timeout=300
    )
    assert uploaded.status_code == 201, uploaded.text
    took = time.monotonic() - sent
    report(config, f"uploading a real slicer file ({len(content) // 1000} kB): {took:.1f} s")

    def analysed() -> bool:
        found = http.get(f"{url}/api/v1/files/cube.gcode/analysis", timeout=HTTP_SECONDS).json()
        assert found["status"] in ("pending", "done"), found
        return bool(found["status"] == "done")

    # The analysis of an upload runs in the background, in Python here: no C kernel.
    wait("the file analysed", analysed, PRINT_SECONDS)
    report(config, f"... and analysing it (pure Python): {time.monotonic() - sent:.1f} s")
    begun = time.monotonic()
    job = http.post(f"{url}/api/v1/job", json={"file": "cube.gcode"}, timeout=300)
    assert job.status_code == 201, job.text
    wait("the print finished", lambda: state(http, url) == "finished", PRINT_SECONDS)
    report(
        config, f"printing its {len(content.splitlines())} lines: {time.monotonic() - begun:.1f} s"
    )
    jobs = http.get(f"{url}/api/v1/history", timeout=HTTP_SECONDS).json()["jobs"]
    assert [(j["file"], j["outcome"]) for j in jobs] == [("cube.gcode", "completed")]
    assert jobs[0]["file_size"] == len(content)
