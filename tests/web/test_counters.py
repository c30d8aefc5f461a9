"""The printer's lifetime counters: GET /api/v1/counters and /metrics, across restarts.

A real print server prints a real file on the simulator over a pty; the counters are
checked against what the job record and the file itself say (docs/maintenance.md).
"""

from __future__ import annotations

import json
import math
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from instance.sim.process import SimulatorProcess, simulator_process, stop_process
from tests.web.server import Served, gcode_head, start_server
from tests.web.test_metrics_and_health import sample

pytestmark = pytest.mark.timeout(180)

_MOVE = re.compile(r"^G[01]\b")
_AXIS = re.compile(r"([XYZ])(-?[\d.]+)")


def travel_of(content: bytes) -> float:
    """X/Y/Z travel of an absolute-positioned file that homes first, counted here on its own."""
    position: dict[str, float] | None = None
    total = 0.0
    for raw in content.decode().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("G28"):
            position = {"X": 0.0, "Y": 0.0, "Z": 0.0}
        elif _MOVE.match(line) and position is not None:
            new = dict(position)
            for axis, value in _AXIS.findall(line):
                new[axis] = float(value)
            total += math.dist([position[a] for a in "XYZ"], [new[a] for a in "XYZ"])
            position = new
    return total


def counters(server: Served) -> dict[str, Any]:
    answer = server.get("/api/v1/counters")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def counters_after_restart(sim: SimulatorProcess, data_dir: Path) -> dict[str, Any]:
    """The counters a new print server on the same data dir shows (its bed not clear)."""
    again = start_server(sim, data_dir, wait_ready=False)
    try:
        again.wait_for(lambda: again.get("/api/v1/counters").status_code == 200, 60)
        return counters(again)
    finally:
        stop_process(again.process)
        again.http.close()


def test_a_printed_file_is_counted_and_the_counts_survive_a_restart(tmp_path: Path):
    # The head of a Slic3r file with its footer's filament figure (the whole file's):
    # the record, and the counters, get the printed share of it.
    content = gcode_head("cube_slic3r.gcode", 1500) + b"; filament used = 7322.0mm (52cm3)\n"
    with simulator_process(tmp_path) as sim:
        server = start_server(sim, tmp_path / "data")
        try:
            fresh = counters(server)
            assert fresh["jobs"] == {"completed": 0, "cancelled": 0, "failed": 0, "interrupted": 0}
            assert fresh["print_seconds"] == 0 and fresh["move_mm"] == 0
            assert fresh["problem"] is None
            assert server.upload("c.gcode", content, print="true").status_code == 201
            server.wait_state("finished", seconds=90)
            job = server.get("/api/v1/history").json()["jobs"][0]
            # The bed heats for about 2 s, by the API: counted from reports and targets.
            before_bed = time.monotonic()
            preheat = {"hotend": 200, "bed": 60}
            assert server.post("/api/v1/control/temperature", json=preheat).status_code < 300
            time.sleep(2.0)
            assert server.post("/api/v1/control/cool-down").status_code < 300
            bed_window = time.monotonic() - before_bed
            time.sleep(1.5)  # the next report shows the bed's target at 0
            after = counters(server)
            metrics = server.get("/metrics").text
        finally:
            stop_process(server.process)
            server.http.close()
        assert after["jobs"] == {"completed": 1, "cancelled": 0, "failed": 0, "interrupted": 0}
        assert after["filament_mm"] == pytest.approx(job["filament_mm"], abs=0.05)
        assert 100 < job["filament_mm"] < 7322
        assert 0 < after["print_seconds"] <= job["duration"] + 0.01
        assert after["move_mm"] == pytest.approx(travel_of(content), rel=1e-6)
        heat = after["heater_on_seconds"]
        assert isinstance(heat, dict) and heat["T0"] > 2
        assert 1.0 <= heat["B"] <= bed_window + 0.5
        assert sample(metrics, "fabfleet_jobs_total", outcome="completed") == 1
        assert sample(metrics, "fabfleet_jobs_total", outcome="failed") == 0
        assert sample(metrics, "fabfleet_move_mm_total") == pytest.approx(after["move_mm"])
        assert sample(metrics, "fabfleet_filament_mm_total") == pytest.approx(after["filament_mm"])
        assert sample(metrics, "fabfleet_print_seconds_total") == pytest.approx(
            after["print_seconds"], abs=0.01
        )
        assert sample(metrics, "fabfleet_heater_on_seconds_total", heater="T0") > 0
        assert "# TYPE fabfleet_heater_on_seconds_total counter" in metrics

        saved = json.loads((tmp_path / "data" / "counters.json").read_text())
        assert saved["totals"]["jobs"]["completed"] == 1
        assert (tmp_path / "data" / "counters.json").stat().st_mode & 0o777 == 0o600

        restarted = counters_after_restart(sim, tmp_path / "data")
    for key in ("jobs", "print_seconds", "filament_mm", "move_mm", "since"):
        assert restarted[key] == after[key], key
    assert restarted["heater_on_seconds"]["T0"] >= heat["T0"]


def test_a_job_cut_short_by_a_crash_counts_as_interrupted(tmp_path: Path):
    content = gcode_head("cube_slic3r.gcode", 4000)
    with simulator_process(tmp_path, "--fault", "slow_planner:delay=0.01") as sim:
        server = start_server(sim, tmp_path / "data")
        try:
            assert server.upload("k.gcode", content, print="true").status_code == 201
            server.wait_state("printing")
            server.wait_for(lambda: counters(server)["move_mm"] > 0)
            running = counters(server)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
        finally:
            stop_process(server.process)
            server.http.close()
        assert running["jobs"] == {"completed": 0, "cancelled": 0, "failed": 0, "interrupted": 0}
        after = counters_after_restart(sim, tmp_path / "data")
    assert after["jobs"] == {"completed": 0, "cancelled": 0, "failed": 0, "interrupted": 1}


def test_an_unreadable_counters_file_is_kept_aside_and_reported(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "counters.json").write_text('{"format": 1, "totals": {"print_sec')
    with simulator_process(tmp_path) as sim:
        server = start_server(sim, data)
        try:
            body = counters(server)
        finally:
            stop_process(server.process)
            server.http.close()
    problem = body["problem"]
    assert isinstance(problem, str) and "could not be read" in problem
    assert body["jobs"] == {"completed": 0, "cancelled": 0, "failed": 0, "interrupted": 0}
    kept = list(data.glob("counters.json.bad-*"))
    assert len(kept) == 1 and kept[0].read_text().startswith('{"format": 1')
