"""The fleet queue's HTTP API on a real hub process: who may do what, and bad input.

The printers' print servers are not running (their upstream is a closed port):
a queue takes jobs for printers that are offline, they just wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.db import open_database
from tests.hub.conftest import HubProcess, login, printer_entry, start_hub_process

pytestmark = pytest.mark.timeout(120)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
SQUARE = FIXTURES.parent / "queue" / "square.gcode"
PASSWORD = "queue-api-password-1"
OFFLINE = "http://127.0.0.1:9"


def fleet() -> dict[str, Any]:
    lab = {"groups": ["lab"], "tags": ["enclosure"]}
    return {
        "site": {"max_heating": 0},
        "printers": [
            printer_entry("mk3", OFFLINE, **lab, profile={
                "materials": ["PLA"], "nozzle": 0.4, "bed": {"x": 250, "y": 210, "z": 210}}),
            printer_entry("mini", OFFLINE, **lab, profile={
                "materials": ["PLA"], "nozzle": 0.4, "bed": {"x": 180, "y": 180, "z": 180}}),
            printer_entry("other", OFFLINE, groups=["attic"]),
        ],
        "cameras": [],
    }  # fmt: skip


@pytest.fixture
def hub(start_hub: Callable[..., HubProcess]) -> HubProcess:
    running = start_hub(fleet())
    db = open_database(running.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
        create_user(db, "olga", PASSWORD, "operator", Grants(groups=frozenset({"lab"})))
        create_user(db, "vic", PASSWORD, "viewer", Grants(groups=frozenset({"lab"})))
    finally:
        db.close()
    return running


def post(
    session: requests.Session,
    hub: HubProcess,
    content: bytes | None = None,
    name: str = "part.gcode",
    **fields: Any,
) -> requests.Response:
    files = None if content is None else {"file": (name, content, "application/octet-stream")}
    return session.post(
        hub.url + "api/queue",
        files=files,
        data={k: str(v) for k, v in fields.items()},
        timeout=60,
    )


def stored(hub: HubProcess) -> list[str]:
    return sorted(p.name for p in (hub.data_dir / "queue").iterdir())


def entries(session: requests.Session, hub: HubProcess) -> dict[int, dict[str, Any]]:
    answer = session.get(hub.url + "api/queue", timeout=10)
    assert answer.status_code == 200, answer.text
    return {e["id"]: e for e in answer.json()["entries"]}


def test_submit_to_offline_printers_waits_in_the_queue(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    answer = post(ada, hub, SQUARE.read_bytes(), name="../../etc/square.gcode", copies=3,
                  target="group:lab", priority=2, tags="enclosure")  # fmt: skip
    assert answer.status_code == 201, answer.text
    created = answer.json()["entries"]
    assert [(e["copy"], e["copies"], e["state"]) for e in created] == [
        (1, 3, "queued"), (2, 3, "queued"), (3, 3, "queued"),
    ]  # fmt: skip
    first = created[0]
    assert first["file"]["name"] == "square.gcode"
    assert first["file"]["material"] == "PLA"
    assert first["file"]["box"]["max_x"] == 105
    assert first["submitted_by"] == "ada"
    assert first["tags"] == ["enclosure"]
    assert stored(hub) == [f"{first['file']['id']}.gcode"]
    listed = ada.get(hub.url + "api/queue", timeout=10).json()
    assert [e["id"] for e in listed["entries"]] == [e["id"] for e in created]
    assert listed["targets"] == [
        "fleet", "group:attic", "group:lab", "printer:mk3", "printer:mini", "printer:other",
    ]  # fmt: skip
    # Cancel all three: nothing needs the file any more, so it goes.
    for entry in created:
        gone = ada.delete(hub.url + f"api/queue/{entry['id']}", timeout=10)
        assert gone.status_code == 200, gone.text
        assert gone.json()["state"] == "cancelled"
        assert gone.json()["reason"] == "cancelled by ada"
    assert stored(hub) == []
    again = ada.delete(hub.url + f"api/queue/{created[0]['id']}", timeout=10)
    assert again.status_code == 409
    assert "already cancelled" in again.json()["error"]


@pytest.mark.parametrize(
    ("fields", "content", "status", "message"),
    [
        ({"copies": 0}, None, 400, "'copies' must be between 1 and 100"),
        ({"copies": 101}, None, 400, "'copies' must be between 1 and 100"),
        ({"copies": "three"}, None, 400, "'copies' must be a whole number"),
        ({"priority": 10**30}, None, 400, "'priority' must be between -1000 and 1000"),
        ({"target": "everywhere"}, None, 400, "is not fleet, group:NAME or printer:NAME"),
        ({"target": "group:nowhere"}, None, 404, "no group named 'nowhere'"),
        ({"target": "printer:ghost"}, None, 404, "no printer named 'ghost'"),
        ({}, b"", 400, "the file is empty"),
        ({}, b"G1 X1\x00\x01\x02", 415, "binary data"),
        ({}, b"hello, this is a letter\nnot a print\n", 415, "not a G-code file"),
        ({}, b"G28\n; " + b"\xff" * 100 + b"\n", 415, "not UTF-8"),
        ({"tags": ",".join(f"t{i}" for i in range(40))}, None, 400, "at most 32 tags"),
    ],
)
def test_bad_submissions_are_refused_and_leave_nothing(
    hub: HubProcess, fields: dict[str, Any], content: bytes | None, status: int, message: str
) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    answer = post(ada, hub, SQUARE.read_bytes() if content is None else content, **fields)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert stored(hub) == []
    assert entries(ada, hub) == {}


def test_requests_that_are_not_an_upload(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    no_file = ada.post(hub.url + "api/queue", files={"copies": (None, "1")}, timeout=10)
    assert no_file.status_code == 400
    assert "'file' is required" in no_file.json()["error"]
    as_json = ada.post(hub.url + "api/queue", json={"file": "G28"}, timeout=10)
    assert as_json.status_code == 415
    broken = ada.post(
        hub.url + "api/queue",
        data=b'--xx\r\nContent-Disposition: form-data; name="file"\r\n\r\nG28',
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
        timeout=10,
    )
    assert broken.status_code == 400, broken.text
    # Without the CSRF header a logged-in browser's change is refused.
    bare = requests.post(
        hub.url + "api/queue", cookies=ada.cookies, files={"file": ("a.gcode", b"G28\n")},
        timeout=10,
    )  # fmt: skip
    assert bare.status_code == 403
    anonymous = requests.post(hub.url + "api/queue", files={"file": ("a.gcode", b"G28\n")},
                              timeout=10)  # fmt: skip
    assert anonymous.status_code == 401
    assert requests.get(hub.url + "api/queue", timeout=10).status_code == 401
    assert stored(hub) == []


def test_a_job_no_printer_of_the_target_can_print(hub: HubProcess, tmp_path: Path) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    petg = SQUARE.read_bytes().replace(b"filament_type = PLA", b"filament_type = PETG")
    refused = post(ada, hub, petg, target="group:lab")
    assert refused.status_code == 422, refused.text
    assert refused.json()["reasons"] == ["needs PETG; mk3 has PLA", "needs PETG; mini has PLA"]
    # Too wide for the small printer, and a nozzle the lab does not have.
    wide = b"; nozzle_diameter = 0.6\nG1 X10 Y10 Z0.2\nG1 X200 Y10 E5\n"
    refused = post(ada, hub, wide, target="printer:mini")
    assert refused.json()["reasons"] == [
        "needs a 0.6 mm nozzle; mini has 0.4 mm",
        "needs X 10-200, Y 10-10, Z up to 0.2 mm; mini's bed is 180 x 180 x 180 mm",
    ]
    assert post(ada, hub, SQUARE.read_bytes(), target="group:lab", tags="abs").status_code == 422
    # The printer with no materials listed takes PETG: the fleet as a target is fine.
    assert post(ada, hub, petg, target="fleet").status_code == 201
    assert len(stored(hub)) == 1


def test_rights_of_operators_and_viewers(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    olga = login(hub.url, "olga", PASSWORD)
    vic = login(hub.url, "vic", PASSWORD)
    square = SQUARE.read_bytes()
    # An operator of the lab queues for the lab and its printers, not the attic or the fleet.
    mine = post(olga, hub, square, target="group:lab").json()["entries"][0]
    assert post(olga, hub, square, target="printer:mk3").status_code == 201
    assert post(olga, hub, square, target="printer:other").status_code == 403
    assert post(olga, hub, square, target="fleet").status_code == 403
    assert post(vic, hub, square, target="group:lab").status_code == 403
    attic = post(ada, hub, square, target="group:attic").json()["entries"][0]
    # The viewer sees the lab's entries, not the attic's; the admin sees everything.
    assert set(entries(vic, hub)) == {mine["id"], mine["id"] + 1}
    assert set(entries(ada, hub)) == {mine["id"], mine["id"] + 1, attic["id"]}
    assert entries(vic, hub)[mine["id"]]["submitted_by"] == "olga"
    listed = vic.get(hub.url + "api/queue", timeout=10).json()
    assert listed["targets"] == []
    # Nobody but who may act on the target changes an entry.
    for method, path, body in [
        ("PATCH", f"api/queue/{mine['id']}", {"priority": 3}),
        ("DELETE", f"api/queue/{mine['id']}", None),
        ("POST", f"api/queue/{mine['id']}/requeue", None),
    ]:
        answer = vic.request(method, hub.url + path, json=body, timeout=10)
        assert answer.status_code == 403, (method, answer.text)
    # An entry the user may not see is simply not there.
    hidden = olga.patch(hub.url + f"api/queue/{attic['id']}", json={"priority": 1}, timeout=10)
    assert hidden.status_code == 404
    assert olga.delete(hub.url + f"api/queue/{mine['id']}", timeout=10).status_code == 200


def test_reorder_and_bad_changes(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    square = SQUARE.read_bytes()
    a, b, c = (e["id"] for e in post(ada, hub, square, copies=3).json()["entries"])

    def order() -> list[int]:
        return [i for i, e in entries(ada, hub).items() if e["state"] == "queued"]

    def patch(entry: int, body: Any) -> requests.Response:
        return ada.patch(hub.url + f"api/queue/{entry}", json=body, timeout=10)

    assert order() == [a, b, c]
    assert patch(c, {"position": "up"}).status_code == 200
    assert order() == [a, c, b]
    assert patch(a, {"position": "down"}).json()["state"] == "queued"
    assert order() == [c, a, b]
    assert patch(b, {"position": "top"}).status_code == 200
    assert order() == [b, c, a]
    assert patch(a, {"priority": 7}).json()["priority"] == 7
    assert order() == [a, b, c]
    # Moving past an entry of another priority takes its priority: the order shown holds.
    assert patch(b, {"position": "up"}).json()["priority"] == 7
    assert order() == [b, a, c]
    # Down past the last one, of priority 0, from the second last place.
    assert patch(a, {"position": "down"}).json()["priority"] == 0
    assert order() == [b, c, a]
    assert patch(a, {"position": "down"}).json()["priority"] == 0  # already last: stays
    assert patch(a, {"position": "top"}).json()["priority"] == 7
    assert order() == [a, b, c]
    for body, message in [
        ({"position": "sideways"}, "'position' must be"),
        ({"priority": "high"}, "'priority' must be a whole number"),
        ({"priority": True}, "'priority' must be a whole number"),
        ({"priority": 5000}, "between -1000 and 1000"),
        ({"colour": "red"}, "send {"),
        ({}, "send {"),
        ([1, 2], "must be a JSON object"),
    ]:
        answer = patch(a, body)
        assert answer.status_code == 400, (body, answer.text)
        assert message in answer.json()["error"]
    malformed = ada.patch(
        hub.url + f"api/queue/{a}", data=b"{not json",
        headers={"Content-Type": "application/json"}, timeout=10,
    )  # fmt: skip
    assert malformed.status_code == 400
    assert patch(999, {"priority": 1}).status_code == 404
    assert ada.patch(hub.url + "api/queue/abc", json={"priority": 1}, timeout=10).status_code == 404
    assert ada.post(hub.url + f"api/queue/{a}/requeue", timeout=10).status_code == 409
    ada.delete(hub.url + f"api/queue/{a}", timeout=10)
    moved = patch(a, {"position": "top"})
    assert moved.status_code == 409
    assert "only queued entries" in moved.json()["error"]
    assert order() == [b, c]


def test_large_upload_streams_to_disk(hub: HubProcess, tmp_path: Path) -> None:
    """A 100 MB file: the hub's memory grows by far less than the file."""
    ada = login(hub.url, "ada", PASSWORD)
    big = tmp_path / "big.gcode"
    source = (FIXTURES / "tower_prusa_relE.gcode").read_bytes()
    with big.open("wb") as out:
        while out.tell() < 100 * 1024**2:
            out.write(source)
    before = peak_memory(hub.process.pid)
    with big.open("rb") as stream:
        answer = ada.post(hub.url + "api/queue", files={"file": ("big.gcode", stream)},
                          timeout=120)  # fmt: skip
    assert answer.status_code == 201, answer.text
    grown = peak_memory(hub.process.pid) - before
    assert grown < 40 * 1024**2, f"the hub grew by {grown / 1024**2:.0f} MB"
    entry = answer.json()["entries"][0]
    assert entry["file"]["size"] == big.stat().st_size
    assert entry["file"]["box"]["max_z"] == 60.1
    on_disk = hub.data_dir / "queue" / f"{entry['file']['id']}.gcode"
    assert on_disk.stat().st_size == big.stat().st_size
    assert stored(hub) == [on_disk.name]


def peak_memory(pid: int) -> int:
    """The process's peak resident memory (VmHWM), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_queue_directory_is_not_world_readable(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    post(ada, hub, SQUARE.read_bytes())
    for path in (hub.data_dir / "queue").iterdir():
        assert os.stat(path).st_mode & 0o077 == 0, oct(os.stat(path).st_mode)


def test_a_restart_cleans_up_and_never_sends_twice(hub: HubProcess) -> None:
    """Left by a crash: an unfinished upload, a file no entry knows, an entry caught between
    "send" and the printer's answer. The next start removes the files; the entry, of which its
    printer shows no sign, is interrupted (it may be on its way still: a person decides)."""
    ada = login(hub.url, "ada", PASSWORD)
    kept, caught = (
        e["id"] for e in post(ada, hub, SQUARE.read_bytes(), copies=2).json()["entries"]
    )
    hub.stop()
    folder = hub.data_dir / "queue"
    (folder / ".incoming-123-456").write_bytes(b"G28\n")
    (folder / "999.gcode").write_bytes(b"G28\n")
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    db.execute("UPDATE queue_jobs SET state = 'sent', printer = 'mk3' WHERE id = ?", (caught,))
    db.close()
    again = start_hub_process(hub.data_dir, fleet(), gate_key_file=hub.gate_key_file)
    try:
        session = login(again.url, "ada", PASSWORD)
        listed = entries(session, again)
        assert listed[kept]["state"] == "queued"
        # mk3 does not answer: no sign that it took the entry, which is interrupted once the
        # hub has looked long enough (docs/hub.md).
        deadline = time.monotonic() + 30
        while listed[caught]["state"] == "sent" and time.monotonic() < deadline:
            time.sleep(0.5)
            listed = entries(session, again)
        assert listed[caught]["state"] == "interrupted"
        assert "restarted while sending" in listed[caught]["reason"]
        assert stored(again) == [f"{listed[kept]['file']['id']}.gcode"]
    finally:
        again.stop()


def test_a_stray_latin1_degree_sign_is_still_gcode(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    answer = post(ada, hub, b"; hot end 210\xb0C\nG28\nG1 X10 Y10 Z0.2\nG1 X20 E1\n")
    assert answer.status_code == 201, answer.text
    assert answer.json()["entries"][0]["file"]["box"]["max_x"] == 20


def reasons(entry: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(r["code"], r["printer"]) for r in entry["waiting_reasons"]]


def test_each_waiting_entry_says_why_and_each_printer_why_it_takes_no_work(
    hub: HubProcess,
) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    lab = post(ada, hub, SQUARE.read_bytes(), target="group:lab").json()["entries"][0]
    listed = entries(ada, hub)[lab["id"]]
    # Every printer of the lab fits it, and none answers.
    assert reasons(listed) == [
        ("none_free", None), ("unreachable", "mk3"), ("unreachable", "mini"),
    ]  # fmt: skip
    assert "mk3 is unreachable" in listed["waiting_reasons"][1]["text"]
    assert all(r["may_act"] is True for r in listed["waiting_reasons"][1:])
    printers = ada.get(hub.url + "api/queue/printers", timeout=10).json()["printers"]
    assert [(p["name"], p["state"], p["code"], p["taking_work"]) for p in printers] == [
        ("mk3", "unreachable", "unreachable", False),
        ("mini", "unreachable", "unreachable", False),
        ("other", "unreachable", "unreachable", False),
    ]
    assert ada.get(hub.url + "api/queue", timeout=10).json()["printers"] == printers
    # The lab's printers change to PETG: no printer of the lab fits the waiting PLA job now.
    changed = fleet()
    for printer in changed["printers"][:2]:
        printer["profile"]["materials"] = ["PETG"]
    hub.write_fleet(changed)
    deadline = time.monotonic() + 30
    while reasons(entries(ada, hub)[lab["id"]])[0][0] != "no_printer_fits":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    listed = entries(ada, hub)[lab["id"]]
    assert reasons(listed) == [("no_printer_fits", None), ("misfit", "mk3"), ("misfit", "mini")]
    assert listed["waiting_reasons"][1]["text"] == "needs PLA; mk3 has PETG"
    # A finished entry says nothing of waiting.
    ada.delete(hub.url + f"api/queue/{lab['id']}", timeout=10)
    assert entries(ada, hub)[lab["id"]]["waiting_reasons"] == []


def test_operators_and_viewers_see_only_entries_and_printers_they_may_watch(
    hub: HubProcess,
) -> None:
    """Decided: an entry on (or done on) a printer shows to who may watch that printer; a
    waiting one to who may watch a printer of its target that fits it. Admins and the
    submitter see everything they queued."""
    ada = login(hub.url, "ada", PASSWORD)
    olga = login(hub.url, "olga", PASSWORD)
    vic = login(hub.url, "vic", PASSWORD)
    square = SQUARE.read_bytes()
    petg = square.replace(b"filament_type = PLA", b"filament_type = PETG")
    anywhere = post(ada, hub, square, target="fleet").json()["entries"][0]["id"]
    # PETG: only the attic's printer (which lists no materials) can take it.
    attic_only = post(ada, hub, petg, target="fleet").json()["entries"][0]["id"]
    attic = post(ada, hub, square, target="printer:other").json()["entries"][0]["id"]
    # One of the fleet's entries went to the attic's printer and printed there.
    done = post(ada, hub, square, target="fleet").json()["entries"][0]["id"]
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    db.execute("UPDATE queue_jobs SET state = 'done', printer = 'other' WHERE id = ?", (done,))
    db.close()
    assert set(entries(ada, hub)) == {anywhere, attic_only, attic, done}
    for user in (olga, vic):
        seen = entries(user, hub)
        assert set(seen) == {anywhere}
        # Its reasons name only the printers the user may watch.
        assert {r["printer"] for r in seen[anywhere]["waiting_reasons"]} == {None, "mk3", "mini"}
        printers = user.get(hub.url + "api/queue/printers", timeout=10).json()["printers"]
        assert [p["name"] for p in printers] == ["mk3", "mini"]
    assert [r["may_act"] for r in entries(olga, hub)[anywhere]["waiting_reasons"][1:]] == [
        True, True,
    ]  # fmt: skip
    assert [r["may_act"] for r in entries(vic, hub)[anywhere]["waiting_reasons"][1:]] == [
        False, False,
    ]  # fmt: skip
    # Who queued an entry sees it wherever it goes.
    own = post(olga, hub, square, target="group:lab").json()["entries"][0]["id"]
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    db.execute("UPDATE queue_jobs SET state = 'done', printer = 'other' WHERE id = ?", (own,))
    db.close()
    assert own in entries(olga, hub)
    assert own not in entries(vic, hub)
