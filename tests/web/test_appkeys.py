"""A print server run alone (no hub): OctoPrint's application keys workflow is refused
clearly, nothing else opens without its key, and the OctoPrint endpoints Home Assistant's
client reads (server, discovery uuid, temperatures and their targets).

Behind the hub, the workflow itself runs in tests/browser/test_app_keys.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from pyoctoprintapi import WebcamSettings  # type: ignore[import-untyped]

from instance.sim.process import simulator_process, stop_process
from tests.web.server import start_server

pytestmark = pytest.mark.timeout(120)


def test_alone_it_refuses_app_keys_and_serves_what_home_assistant_reads(tmp_path: Path) -> None:
    with simulator_process(tmp_path) as sim:
        served = start_server(sim, tmp_path / "data")
        try:
            anonymous = requests.Session()
            probe = anonymous.get(served.url + "/plugin/appkeys/probe", timeout=10)
            assert probe.status_code == 404
            assert "--api-key" in probe.json()["error"]
            asked = anonymous.post(
                served.url + "/plugin/appkeys/request", json={"app": "Home Assistant"}, timeout=10
            )
            assert asked.status_code == 404 and "without a hub" in asked.json()["error"]
            # Only the workflow's exact paths and methods are open without the key.
            for method, path in (
                ("GET", "/plugin/appkeys/keys"),
                ("POST", "/plugin/appkeys/probe"),
                ("GET", "/plugin/appkeys/request"),
                ("GET", "/api/settings"),
            ):
                answer = anonymous.request(method, served.url + path, timeout=10)
                assert answer.status_code == 401, (method, path)

            server = served.get("/api/server").json()
            assert server == {"version": "1.10.0", "safemode": None}
            first = served.get("/api/settings").json()["plugins"]["discovery"]["upnpUuid"]
            assert str(uuid.UUID(first)) == first

            # Home Assistant's number entities: bed and tool targets, as OctoPrint takes them.
            bed = served.post("/api/printer/bed", json={"command": "target", "target": 55})
            assert bed.status_code == 204, bed.text
            tool = served.post(
                "/api/printer/tool", json={"command": "target", "targets": {"tool0": 190}}
            )
            assert tool.status_code == 204, tool.text

            def targets() -> tuple[float, float]:
                temperature = served.get("/api/printer").json()["temperature"]
                return temperature["bed"]["target"], temperature["tool0"]["target"]

            served.wait_for(lambda: targets() == (55, 190))
            temperature = served.get("/api/printer").json()["temperature"]
            assert set(temperature["tool0"]) == {"actual", "target", "offset"}
            for body in (
                {"command": "target", "target": 999},
                {"command": "target", "target": "hot"},
                {"command": "offset", "offset": 5},
            ):
                assert served.post("/api/printer/bed", json=body).status_code == 400, body
            wrong_tool = {"command": "target", "targets": {"extruder": 200}}
            assert served.post("/api/printer/tool", json=wrong_tool).status_code == 400
            # Home Assistant's printer_connect: done, the server keeps its printer connected.
            assert served.post("/api/connection", json={"command": "connect"}).status_code == 204
            let_go = served.post("/api/connection", json={"command": "disconnect"})
            assert let_go.status_code == 409 and "keeps its printer connected" in let_go.text
            # Home Assistant's shutdown, reboot and restart buttons: none listed, a press
            # refused with a sentence (the host is not the print server's to switch off).
            assert served.get("/api/system/commands").json() == {"core": [], "custom": []}
            assert served.get("/api/system/commands/core").json() == []
            assert served.get("/api/system/commands/elsewhere").status_code == 404
            for action in ("shutdown", "reboot", "restart"):
                pressed = served.post(f"/api/system/commands/core/{action}")
                assert pressed.status_code == 409, action
                assert "cannot shut down, reboot or restart" in pressed.json()["error"]
            assert served.get("/api/printer").status_code == 200
        finally:
            stop_process(served.process)
        # The same printer after a restart keeps its uuid (Home Assistant's unique id), and
        # its camera's stream and still frame are where Home Assistant's camera reads them.
        stream = "http://farm.example/cameras/cam1/?action=stream"
        again = start_server(sim, tmp_path / "data", "--camera-url", stream, wait_ready=False)
        try:
            settings = again.get("/api/settings").json()
            assert settings["plugins"]["discovery"]["upnpUuid"] == first
            webcam = WebcamSettings("http://farm.example/printers/mk3/", settings["webcam"])
            assert webcam.enabled is True and webcam.stream_url == stream
            assert webcam.internal_snapshot_url == stream.replace("stream", "snapshot")
            assert webcam.snapshot_ssl_validation_enabled is True
        finally:
            stop_process(again.process)
    assert (tmp_path / "data" / "octoprint-uuid").read_text().strip() == first
