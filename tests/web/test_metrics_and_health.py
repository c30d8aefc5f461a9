"""Prometheus metrics and the health check the compose file calls."""

from __future__ import annotations

import re

import pytest
import requests

from tests.web.server import Served, gcode_head

pytestmark = pytest.mark.timeout(120)


def sample(text: str, name: str, **labels: str) -> float:
    wanted = {"printer": "printer", **labels}
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if found == wanted:
            return float(match.group(3))
    raise AssertionError(f"no sample {name} {wanted}")


def test_metrics_follow_state_temperatures_job_and_the_serial_link(fast_server: Served):
    server = fast_server
    idle = server.get("/metrics")
    assert idle.status_code == 200
    assert idle.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = idle.text
    assert sample(text, "fabfleet_printer_state", state="ready") == 1
    assert sample(text, "fabfleet_printer_state", state="printing") == 0
    assert sample(text, "fabfleet_printer_connected") == 1
    assert sample(text, "fabfleet_temperature_celsius", heater="T0") == pytest.approx(22, abs=3)
    assert sample(text, "fabfleet_temperature_target_celsius", heater="B") == 0
    assert sample(text, "fabfleet_job_active") == 0
    assert "# TYPE fabfleet_serial_resends_total counter" in text
    sent_before = sample(text, "fabfleet_serial_lines_sent_total")
    content = gcode_head("cube_slic3r.gcode", 1500)
    assert server.upload("m.gcode", content, print="true").status_code == 201
    server.wait_state("finished", seconds=60)
    after = server.get("/metrics").text
    assert sample(after, "fabfleet_printer_state", state="finished") == 1
    assert sample(after, "fabfleet_serial_lines_sent_total") >= sent_before + 1000
    assert sample(after, "fabfleet_serial_resends_total") == 0
    assert sample(after, "fabfleet_serial_errors_total") == 0
    assert sample(after, "fabfleet_serial_queue_depth") == 0
    assert sample(after, "fabfleet_uploads_total") == 1


def test_metrics_count_resends_and_line_errors(tmp_path):
    from tests.web.server import running_server

    with running_server(tmp_path, sim_args=("--fault", "random_resend:probability=0.05")) as server:
        content = gcode_head("cube_slic3r.gcode", 1500)
        assert server.upload("r.gcode", content, print="true").status_code == 201
        server.wait_state("finished", seconds=60)
        text = server.get("/metrics").text
        assert sample(text, "fabfleet_serial_resends_total") >= 10
        assert sample(text, "fabfleet_serial_errors_total") >= 10
        job = server.get("/metrics")
        assert "fabfleet_job_progress_ratio{" not in job.text


def test_metrics_show_job_progress_while_printing(server: Served):
    content = gcode_head("cube_slic3r.gcode", 4000)
    assert server.upload("p.gcode", content, print="true").status_code == 201
    server.wait_state("printing")
    server.wait_for(lambda: sample(server.get("/metrics").text, "fabfleet_job_lines_done") > 10)
    text = server.get("/metrics").text
    assert sample(text, "fabfleet_job_active") == 1
    assert 0 < sample(text, "fabfleet_job_progress_ratio") < 1
    assert sample(text, "fabfleet_job_elapsed_seconds") >= 0
    server.post("/api/v1/job/cancel")
    server.wait_state("bed not cleared")


def test_health_needs_no_key_and_names_the_state(shared_server: Served):
    answer = requests.get(shared_server.url + "/api/health", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "printer": "printer",
        "state": "ready",
        "connected": True,
    }
