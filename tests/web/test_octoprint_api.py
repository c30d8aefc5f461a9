"""The OctoPrint-compatible API, as slicers and OctoPrint clients call it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.web.server import KEY, Served, gcode_head, running_server

pytestmark = pytest.mark.timeout(120)

SMALL = gcode_head("cube_prusa_marlin2.gcode", 300)


def test_prusaslicer_probes_the_version_then_uploads_and_prints(server: Served):
    # PrusaSlicer's OctoPrint host: GET api/version with X-Api-Key, then a
    # multipart POST with the fields print, path, file, in that order.
    http = requests.Session()
    version = http.get(server.url + "/api/version", headers={"X-Api-Key": KEY}, timeout=10)
    assert version.status_code == 200
    assert version.json()["text"].startswith("OctoPrint")
    assert "api" in version.json()
    upload = http.post(
        server.url + "/api/files/local",
        headers={"X-Api-Key": KEY},
        files=[
            ("print", (None, "true")),
            ("path", (None, "")),
            ("file", ("cube.gcode", SMALL, "application/octet-stream")),
        ],
        timeout=60,
    )
    assert upload.status_code == 201, upload.text
    assert upload.headers["Location"] == f"{server.url}/api/files/local/cube.gcode"
    body = upload.json()
    assert body["done"] is True
    assert body["effectivePrint"] is True
    assert body["effectiveSelect"] is True
    local = body["files"]["local"]
    assert (local["name"], local["path"], local["origin"]) == ("cube.gcode", "cube.gcode", "local")
    assert local["refs"]["resource"] == f"{server.url}/api/files/local/cube.gcode"
    assert local["refs"]["download"] == f"{server.url}/downloads/files/local/cube.gcode"
    server.wait_state("printing", "finished")
    assert (server.files_dir / "cube.gcode").read_bytes() == SMALL
    server.wait_state("finished", seconds=60)
    jobs = server.get("/api/v1/history").json()["jobs"]
    assert jobs[0]["file"] == "cube.gcode"
    assert jobs[0]["outcome"] == "completed"
    assert jobs[0]["started_by"] == "api"


def test_cura_style_upload_selects_then_job_start_prints_it(server: Served):
    # Cura's OctoPrint plugin puts the file part first and select/print after it.
    upload = server.post(
        "/api/files/local",
        files=[
            ("file", ("part.gcode", SMALL, "application/octet-stream")),
            ("select", (None, "true", "text/plain")),
        ],
    )
    assert upload.status_code == 201
    assert upload.json()["effectiveSelect"] is True
    assert upload.json()["effectivePrint"] is False
    job = server.get("/api/job").json()
    assert job["job"]["file"]["name"] == "part.gcode"
    assert job["job"]["file"]["size"] == len(SMALL)
    assert job["state"] == "Operational"
    assert server.post("/api/job", json={"command": "start"}).status_code == 204
    server.wait_state("printing", "finished")
    server.wait_state("finished", seconds=60)
    after = server.get("/api/job").json()
    assert after["job"]["file"]["name"] == "part.gcode"


def test_file_list_details_select_and_delete(server: Served):
    assert server.upload("a.gcode", SMALL).status_code == 201
    listed = server.get("/api/files").json()
    assert [f["name"] for f in listed["files"]] == ["a.gcode"]
    entry = listed["files"][0]
    assert entry["type"] == "machinecode"
    assert entry["typePath"] == ["machinecode", "gcode"]
    assert entry["size"] == len(SMALL)
    assert listed["free"] > 0
    assert server.get("/api/files/local").json()["files"][0]["name"] == "a.gcode"
    detail = server.get("/api/files/local/a.gcode")
    assert detail.status_code == 200
    assert detail.json()["refs"]["resource"] == f"{server.url}/api/files/local/a.gcode"
    download = server.get("/downloads/files/local/a.gcode")
    assert download.content == SMALL
    assert server.post("/api/files/local/a.gcode", json={"command": "select"}).status_code == 204
    assert server.get("/api/job").json()["job"]["file"]["name"] == "a.gcode"
    assert server.delete("/api/files/local/a.gcode").status_code == 204
    assert server.get("/api/files").json()["files"] == []
    missing = server.get("/api/files/local/a.gcode")
    assert missing.status_code == 404
    assert "a.gcode" in missing.json()["error"]


def test_select_with_print_starts_and_pause_toggle_and_cancel(server: Served):
    content = gcode_head("cube_slic3r.gcode", 4000)
    assert server.upload("long.gcode", content).status_code == 201
    started = server.post("/api/files/local/long.gcode", json={"command": "select", "print": True})
    assert started.status_code == 204
    server.wait_state("printing")
    printer = server.get("/api/printer").json()
    assert printer["state"]["flags"]["printing"] is True
    assert printer["state"]["text"] == "Printing"
    assert set(printer["temperature"]) >= {"tool0", "bed"}
    job = server.get("/api/job").json()
    assert job["state"] == "Printing"
    assert 0 <= job["progress"]["completion"] <= 100
    assert server.post("/api/job", json={"command": "pause", "action": "toggle"}).status_code == 204
    server.wait_state("paused")
    assert server.get("/api/printer").json()["state"]["flags"]["paused"] is True
    assert server.post("/api/job", json={"command": "pause", "action": "resume"}).status_code == 204
    server.wait_state("printing")
    busy = server.post("/api/job", json={"command": "start"})
    assert busy.status_code == 409
    assert "printing" in busy.json()["error"]
    restart = server.post("/api/job", json={"command": "restart"})
    assert restart.status_code == 409
    assert server.post("/api/job", json={"command": "cancel"}).status_code == 204
    server.wait_state("bed not cleared")
    assert server.get("/api/printer").json()["state"]["flags"]["ready"] is False


def test_job_command_errors(shared_server: Served):
    server = shared_server
    unknown = server.post("/api/job", json={"command": "explode"})
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "unknown command 'explode': start, pause, cancel or restart"}
    bad_action = server.post("/api/job", json={"command": "pause", "action": "sideways"})
    assert bad_action.status_code == 400
    nothing = server.post("/api/job", json={"command": "cancel"})
    assert nothing.status_code == 409
    assert nothing.json()["error"] == "nothing to cancel: the printer is ready"


def test_settings_profiles_connection_and_printer(shared_server: Served):
    server = shared_server
    settings = server.get("/api/settings").json()
    assert settings["api"]["enabled"] is True
    assert settings["feature"]["sdSupport"] is False
    profiles = server.get("/api/printerprofiles").json()["profiles"]
    assert profiles["_default"]["current"] is True
    connection = server.get("/api/connection").json()
    assert connection["current"]["port"] == server.sim.port
    assert connection["current"]["state"] == "Operational"
    printer = server.get("/api/printer").json()
    assert printer["state"]["flags"]["operational"] is True
    assert printer["temperature"]["tool0"]["actual"] == pytest.approx(22, abs=3)


def test_gcode_commands_as_cura_sends_them(shared_server: Served):
    server = shared_server
    sent = server.post("/api/printer/command", json={"commands": ["M117 from cura", "M105"]})
    assert sent.status_code == 204
    server.wait_for(lambda: "M117 from cura" in server.sim.executed())
    single = server.post("/api/printer/command", json={"command": "M117 single"})
    assert single.status_code == 204
    bad = server.post("/api/printer/command", json={"commands": "M105"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "send 'command' (a string) or 'commands' (a list of strings)"}
    two_lines = server.post("/api/printer/command", json={"commands": ["G28\nM112"]})
    assert two_lines.status_code == 400
    assert two_lines.json() == {"error": "each command must be one line of G-code"}
    axes = server.get("/api/printerprofiles").json()["profiles"]["_default"]["axes"]
    assert set(axes) == {"x", "y", "z", "e"}


def test_printer_is_409_when_not_connected(tmp_path: Path):
    with running_server(tmp_path, "--port", "socket://127.0.0.1:9", wait_ready=False) as server:
        server.wait_state("offline", "connecting", seconds=10)
        answer = server.get("/api/printer")
        assert answer.status_code == 409
        assert answer.json() == {"error": "Printer is not operational"}
        assert server.get("/api/connection").json()["current"]["port"] is None
        assert server.get("/api/health").status_code == 200
