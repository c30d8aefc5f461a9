"""A big upload while a print runs: the print goes on untouched, every line exactly once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import file_commands, without_host
from tests.web.big_upload import BOUNDARY, MB, write_upload_body
from tests.web.server import GCODE, Served, running_server

pytestmark = pytest.mark.timeout(300)


def metric(server: Served, name: str) -> float:
    text = server.get("/metrics").text
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, flags=re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_a_200_mb_upload_during_a_print_leaves_the_print_exact(tmp_path: Path) -> None:
    source = GCODE / "cube_slic3r.gcode"
    body = tmp_path / "body.bin"
    write_upload_body(body, "big.gcode", 200 * MB)
    # Moves of 2 ms: the print lasts far longer than the upload.
    with running_server(tmp_path, key=None, sim_args=("--fault", "slow_planner:delay=0.002")) as s:
        started = s.upload(source.name, source.read_bytes(), path="/api/v1/files", print="true")
        assert started.status_code == 201, started.text
        s.wait_state("printing")
        with body.open("rb") as stream:
            answer = s.http.post(
                s.url + "/api/v1/files",
                data=stream,
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                timeout=240,
            )
        assert answer.status_code == 201, answer.text
        # The upload finished while the print was still going.
        assert s.state() == "printing"
        assert (s.files_dir / "big.gcode").stat().st_size >= 200 * MB
        s.wait_for(lambda: s.get("/api/v1/history").json()["jobs"][0]["outcome"] is not None, 240)
        job = s.get("/api/v1/history").json()["jobs"][0]
        assert (job["file"], job["outcome"]) == (source.name, "completed")
        # Nothing lost, nothing twice, and the link never dropped; then the
        # default after-job policy (heaters and fans off) and nothing else.
        executed = without_host(s.sim.executed())
        job_lines = file_commands(source)
        assert executed[: len(job_lines)] == job_lines
        assert executed[len(job_lines) :] == ["M104 T0 S0", "M140 S0", "M107"]
        assert metric(s, "fabfleet_serial_disconnects_total") == 0
        # Not one line rejected or resent: the window never overran the printer's buffers.
        assert metric(s, "fabfleet_serial_resends_total") == 0
        assert metric(s, "fabfleet_serial_errors_total") == 0
