"""Feed-rate, flow and babystep while a print runs: native and OctoPrint endpoints."""

from __future__ import annotations

import pytest

from tests.web.server import Served, gcode_head

pytestmark = pytest.mark.timeout(120)

PART = gcode_head("cube_prusa_marlin2.gcode", 3000)


def start_printing(server: Served) -> None:
    assert server.upload("part.gcode", PART, path="/api/v1/files").status_code == 201
    assert server.post("/api/v1/job", json={"file": "part.gcode"}).status_code == 201
    server.wait_state("printing")


def overrides(server: Served) -> dict[str, float]:
    value: dict[str, float] = server.get("/api/v1/printer").json()["overrides"]
    return value


def test_overrides_reach_the_firmware_between_the_jobs_lines(server: Served) -> None:
    assert overrides(server) == {"feed_percent": 100, "flow_percent": 100, "babystep_z_mm": 0.0}
    start_printing(server)

    answer = server.post("/api/v1/printer/overrides", json={"feed_percent": 110})
    assert answer.status_code == 202, answer.text
    assert answer.json()["overrides"]["feed_percent"] == 110
    assert server.post("/api/v1/printer/overrides", json={"flow_percent": 95}).status_code == 202
    for step in (0.05, -0.01):
        assert server.post("/api/v1/printer/babystep", json={"z_mm": step}).status_code == 202

    server.wait_for(lambda: "M290 Z-0.01" in server.sim.executed())
    executed = server.sim.executed()
    # The printer ran them in the middle of the job, which went on printing.
    for command in ("M220 S110", "M221 S95", "M290 Z0.05", "M290 Z-0.01"):
        assert command in executed
    after = executed[executed.index("M220 S110") + 1 :]
    assert any(line.startswith("G1 ") for line in after)
    assert server.state() == "printing"
    assert overrides(server) == {"feed_percent": 110, "flow_percent": 95, "babystep_z_mm": 0.04}

    # Jogs stay refused while printing: the overrides are not a back door for moves.
    assert server.post("/api/v1/control/jog", json={"x": 10}).status_code == 409

    # A new job starts from 100 % with no babystep, and the firmware is told so.
    assert server.post("/api/v1/job/cancel").status_code == 202
    server.wait_state("bed not cleared", "finished", "failed")
    assert server.post("/api/v1/bed/clear").status_code == 200
    assert server.post("/api/v1/job", json={"file": "part.gcode"}).status_code == 201
    server.wait_state("printing")
    assert overrides(server) == {"feed_percent": 100, "flow_percent": 100, "babystep_z_mm": 0.0}
    server.wait_for(lambda: "M220 S100" in server.sim.executed())


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/v1/printer/overrides", {"feed_percent": 9}, "between 10 and 500"),
        ("/api/v1/printer/overrides", {"feed_percent": 501}, "between 10 and 500"),
        ("/api/v1/printer/overrides", {"flow_percent": 201}, "between 10 and 200"),
        ("/api/v1/printer/overrides", {"flow_percent": "95"}, "whole number"),
        ("/api/v1/printer/overrides", {}, "feed_percent"),
        ("/api/v1/printer/overrides", {"speed": 100}, "unknown field 'speed'"),
        ("/api/v1/printer/babystep", {"z_mm": 0.6}, "between -0.5 and 0.5"),
        ("/api/v1/printer/babystep", {"z_mm": 0}, "not 0"),
        ("/api/v1/printer/babystep", {}, "'z_mm' is required"),
    ],
)
def test_bad_values_are_refused_with_json_and_change_nothing(
    shared_server: Served, path: str, body: dict[str, object], words: str
) -> None:
    answer = shared_server.post(path, json=body)
    assert answer.status_code == 400
    assert words in answer.json()["error"]
    assert overrides(shared_server) == {
        "feed_percent": 100,
        "flow_percent": 100,
        "babystep_z_mm": 0.0,
    }


def test_octoprint_feedrate_and_flowrate(server: Served) -> None:
    start_printing(server)
    answer = server.post("/api/printer/printhead", json={"command": "feedrate", "factor": 120})
    assert answer.status_code == 204, answer.text
    # OctoPrint also takes a fraction.
    answer = server.post("/api/printer/tool", json={"command": "flowrate", "factor": 0.9})
    assert answer.status_code == 204, answer.text
    assert overrides(server)["feed_percent"] == 120
    assert overrides(server)["flow_percent"] == 90
    server.wait_for(lambda: "M221 S90" in server.sim.executed())
    assert "M220 S120" in server.sim.executed()

    refused = server.post("/api/printer/printhead", json={"command": "jog", "x": 10})
    assert refused.status_code == 400
    assert "only 'feedrate'" in refused.json()["error"]
    refused = server.post("/api/printer/tool", json={"command": "flowrate", "factor": 500})
    assert refused.status_code == 400
    assert "between 10 and 200" in refused.json()["error"]


def test_the_simulator_answers_m220_m221_m290_like_marlin(shared_server: Served) -> None:
    server = shared_server
    for command in ("M220", "M221", "M290"):
        assert server.post("/api/v1/terminal", json={"command": command}).status_code == 202

    def answered() -> bool:
        lines = [line["text"] for line in server.get("/api/v1/terminal?limit=200").json()["lines"]]
        return {"FR:100%", "echo:E0 Flow: 100%", "echo:Babystep Z0"} <= set(lines)

    server.wait_for(answered)
