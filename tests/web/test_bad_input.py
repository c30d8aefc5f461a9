"""Bad requests: each gets its status code and a clear JSON message, and changes nothing."""

from __future__ import annotations

import pytest
import requests

from tests.web.server import KEY, Served, gcode_head

pytestmark = pytest.mark.timeout(120)


def test_no_key_is_401_and_a_wrong_key_is_403_everywhere_but_health(shared_server: Served):
    server = shared_server
    for path in ("/api/v1/printer", "/api/version", "/api/files", "/metrics", "/api/v1/events"):
        anonymous = requests.get(server.url + path, timeout=10)
        assert anonymous.status_code == 401, path
        assert anonymous.json() == {
            "error": "an API key is required: send it as X-Api-Key, Authorization: Bearer,"
            " or ?apikey="
        }
        wrong = requests.get(server.url + path, headers={"X-Api-Key": "nope"}, timeout=10)
        assert wrong.status_code == 403, path
        assert wrong.json() == {"error": "the API key is not valid"}
    assert requests.get(server.url + "/api/health", timeout=10).status_code == 200
    upload = requests.post(
        server.url + "/api/files/local", files={"file": ("x.gcode", b"G28\n")}, timeout=10
    )
    assert upload.status_code == 401
    assert not (server.files_dir / "x.gcode").exists()


def test_the_key_is_accepted_in_each_of_the_three_places(shared_server: Served):
    url = shared_server.url + "/api/version"
    assert requests.get(url, headers={"X-Api-Key": KEY}, timeout=10).status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert requests.get(url, headers=bearer, timeout=10).status_code == 200
    assert requests.get(url, params={"apikey": KEY}, timeout=10).status_code == 200
    wrong_bearer = {"Authorization": "Bearer wrong"}
    assert requests.get(url, headers=wrong_bearer, timeout=10).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/v1/job", b"{not json", 400, "malformed JSON: Expecting property name enclosed"),
        ("/api/v1/job", b"[1, 2]", 400, "expected a JSON object, got list"),
        ("/api/v1/job", b"", 400, "a JSON object is required in the request body"),
        ("/api/v1/job", b'{"file": 12}', 400, "'file' must be a string, not a number"),
        ("/api/v1/job", b'{"file": "ghost.gcode"}', 404, "no file 'ghost.gcode'"),
        ("/api/v1/job", b'{"file": "../../etc/passwd"}', 404, "no file '../../etc/passwd'"),
        ("/api/job", b'{"command": ["start"]}', 400, "'command' must be a string, not an array"),
        ("/api/v1/prompt", b'{"choice": "one"}', 400, "'choice' must be a whole number"),
        ("/api/v1/prompt", b'{"choice": 0}', 409, "the printer asked nothing"),
        ("/api/v1/terminal", b'{"command": "G28\\nM112"}', 400, "'command' must be one G-code"),
        ("/api/v1/terminal", b'{"command": true}', 400, "'command' must be a string"),
        ("/api/v1/control/fan", b'{"percent": "full"}', 400, "'percent' must be a number"),
        ("/api/v1/control/fan", b'{"percent": 250}', 400, "'percent' must be between 0 and 100"),
        ("/api/v1/control/temperature", b'{"hotend": 900}', 400, "'hotend' must be between"),
        ("/api/v1/control/jog", b'{"x": NaN}', 400, "'x' must be a number"),
        ("/api/v1/control/dance", b"{}", 404, "no control action 'dance'"),
        ("/api/v1/job/explode", b"{}", 404, "no job action 'explode'"),
        ("/api/files/local/ghost.gcode", b'{"command": "select"}', 404, "no file 'ghost.gcode'"),
    ],
)
def test_malformed_or_mistyped_requests(
    shared_server: Served, path: str, body: bytes, status: int, message: str
):
    server = shared_server
    before = server.get("/api/v1/printer").json()["state"]
    answer = server.post(path, data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"].startswith(message)
    assert server.get("/api/v1/printer").json()["state"] == before


def test_unknown_things_are_404_with_json(shared_server: Served):
    server = shared_server
    for method, path, message in [
        ("GET", "/api/v1/nothing", "no such endpoint: GET /api/v1/nothing"),
        ("GET", "/api/v1/files/ghost.gcode", "no file 'ghost.gcode'"),
        ("GET", "/api/v1/files/ghost.gcode/content", "no file 'ghost.gcode'"),
        ("DELETE", "/api/files/local/ghost.gcode", "no file 'ghost.gcode'"),
        ("GET", "/api/v1/history/999", "no job 999 is recorded"),
        ("GET", "/api/v1/history/abc", "no job 'abc'"),
        ("GET", "/downloads/files/local/..%2F..%2Fjobs.sqlite3", "no file '../../jobs.sqlite3'"),
    ]:
        answer = server.http.request(method, server.url + path, timeout=10)
        assert answer.status_code == 404, path
        assert answer.json() == {"error": message}
    wrong_method = server.http.put(server.url + "/api/v1/printer", timeout=10)
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "PUT is not allowed on /api/v1/printer"}


def test_wrong_query_parameters(shared_server: Served):
    server = shared_server
    for path, message in [
        ("/api/v1/history?outcome=exploded", "outcome must be one of completed, cancelled,"),
        ("/api/v1/history?limit=zero", "query parameter 'limit' must be a whole number"),
        ("/api/v1/history?limit=0", "query parameter 'limit' must be between 1 and 10000"),
        ("/api/v1/history?since=yesterday", "query parameter 'since' must be an ISO date"),
        ("/api/v1/temperatures?since=soon", "query parameter 'since' must be a Unix time"),
        ("/api/v1/terminal?limit=-1", "query parameter 'limit' must be between 1 and 1000"),
    ]:
        answer = server.get(path)
        assert answer.status_code == 400, path
        assert answer.json()["error"].startswith(message)


def test_print_requests_on_a_busy_or_uncleared_printer_are_409(server: Served):
    content = gcode_head("cube_slic3r.gcode", 4000)
    assert server.upload("one.gcode", content).status_code == 201
    assert server.upload("two.gcode", content).status_code == 201
    assert server.post("/api/v1/job", json={"file": "one.gcode"}).status_code == 201
    server.wait_state("printing")
    busy = server.post("/api/v1/job", json={"file": "two.gcode"})
    assert busy.status_code == 409
    assert busy.json() == {"error": "the printer is printing, not ready"}
    manual = server.post("/api/v1/control/home", json={})
    assert manual.status_code == 409
    assert manual.json() == {"error": "the printer is printing: manual moves are refused"}
    bed = server.post("/api/v1/bed/clear")
    assert bed.status_code == 409
    assert bed.json() == {"error": "a job is running: the bed cannot be clear"}
    assert server.post("/api/v1/job/cancel").status_code == 202
    server.wait_state("bed not cleared")
    uncleared = server.post("/api/v1/job", json={"file": "two.gcode"})
    assert uncleared.status_code == 409
    assert uncleared.json() == {"error": "the bed was not confirmed clear after the last job"}
    again = server.post("/api/v1/job/pause")
    assert again.status_code == 409
    assert again.json() == {"error": "cannot pause: the printer is bed not cleared"}
    jobs = server.get("/api/v1/history").json()["jobs"]
    assert [job["file"] for job in jobs] == ["one.gcode"]
