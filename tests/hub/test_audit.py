"""The audit log on a real hub: what is written, filtering, paging, CSV, admins only."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.gate import action_of
from hub.db import open_database
from hub.records import audit
from hub.records.audit_words import summary
from tests.hub.conftest import HubProcess, login

PASSWORD = "correct horse battery"


@pytest.fixture
def hub(start_hub: Callable[..., HubProcess]) -> HubProcess:
    started = start_hub()
    db = open_database(started.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
        create_user(db, "bob", PASSWORD, "operator")
    finally:
        db.close()
    return started


def entries(session: requests.Session, url: str, **query: str) -> list[dict[str, object]]:
    answer = session.get(url + "api/audit", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]  # type: ignore[no-any-return]


def test_logins_keys_and_user_changes_are_written(hub: HubProcess) -> None:
    requests.post(hub.url + "api/login", json={"username": "bob", "password": "wrong guess!"})
    requests.post(hub.url + "api/login", json={"username": "nobody", "password": "wrong guess!"})
    bob = login(hub.url, "bob", PASSWORD)
    key = bob.post(hub.url + "api/keys", json={"name": "slicer"}).json()
    bob.delete(hub.url + f"api/keys/{key['id']}")
    bob.post(hub.url + "api/logout")
    ada = login(hub.url, "ada", PASSWORD)
    ada.post(hub.url + "api/users", json={"name": "cy", "password": PASSWORD, "role": "viewer"})
    ada.patch(hub.url + "api/users/cy", json={"grants": {"printers": ["mk3"]}})
    ada.delete(hub.url + "api/users/cy")

    found = [(e["user"], e["action"]) for e in reversed(entries(ada, hub.url))]
    assert found == [
        ("system", "user add"),
        ("system", "user add"),
        ("bob", "login failed"),
        ("nobody", "login failed"),
        ("bob", "login"),
        ("bob", "api key create"),
        ("bob", "api key revoke"),
        ("bob", "logout"),
        ("ada", "login"),
        ("ada", "user add"),
        ("ada", "user grants"),
        ("ada", "user remove"),
    ]
    failed = entries(ada, hub.url, action="login failed")
    assert all(str(e["detail"]).startswith("from 127.0.0.1") for e in failed)
    assert all(key["key"] not in str(e) for e in entries(ada, hub.url))


def test_filters_and_pages(hub: HubProcess) -> None:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        for n in range(30):
            audit.record(db, "bob" if n % 2 else "cy", "pause", f"p{n % 3}", f"n={n}")
    finally:
        db.close()
    middle = time.time()
    time.sleep(0.05)
    ada = login(hub.url, "ada", PASSWORD)
    url = hub.url

    assert len(entries(ada, url, user="bob")) == 15
    assert {e["printer"] for e in entries(ada, url, printer="p1")} == {"p1"}
    assert len(entries(ada, url, user="bob", printer="p1")) == 5
    assert len(entries(ada, url, action="pause", limit="1000")) == 30
    assert [e["action"] for e in entries(ada, url, since=str(middle))] == ["login"]
    before = entries(ada, url, until=str(middle), limit="1000")
    assert len(before) == 32 and {e["action"] for e in before} == {"pause", "user add"}
    # ISO 8601 works as well: an hour ahead and an hour back.
    ahead, back = audit.iso(middle + 3600), audit.iso(middle - 3600)
    assert entries(ada, url, since=ahead) == []
    assert len(entries(ada, url, until=ahead, limit="1000")) == 33
    assert entries(ada, url, until=back) == []
    assert len(entries(ada, url, since=back.replace("Z", "+00:00"), limit="1000")) == 33

    first = ada.get(url + "api/audit", params={"limit": "10", "action": "pause"}).json()
    assert first["total"] == 30 and len(first["entries"]) == 10
    assert first["entries"][0]["detail"] == "n=29"  # newest first
    second = entries(ada, url, limit="10", offset="10", action="pause")
    assert second[0]["detail"] == "n=19"
    assert entries(ada, url, offset="1000") == []


def test_the_csv_export(hub: HubProcess) -> None:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        audit.record(db, "bob", "terminal", "mk3", '=HYPERLINK("x")')
        audit.record(db, "bob", "upload", "mk3", 'cube, "big".gcode')
    finally:
        db.close()
    ada = login(hub.url, "ada", PASSWORD)
    answer = ada.get(hub.url + "api/audit.csv", params={"printer": "mk3"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == [
        "time", "user", "action", "printer", "detail", "outcome", "status", "summary",
    ]  # fmt: skip
    assert [r[1:] for r in rows[1:]] == [
        ["bob", "upload", "mk3", 'cube, "big".gcode', "", "", "bob uploaded a file to mk3"],
        # never run as a formula
        ["bob", "terminal", "mk3", '\'=HYPERLINK("x")', "", "",
         "bob sent a command from the terminal to mk3"],
    ]  # fmt: skip
    assert rows[1][0].endswith("Z")


def test_only_admins_read_it_and_bad_filters_are_400(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    assert bob.get(hub.url + "api/audit").status_code == 403
    assert bob.get(hub.url + "api/audit.csv").status_code == 403
    assert requests.get(hub.url + "api/audit").status_code == 401
    assert requests.get(hub.url + "api/audit.csv").status_code == 401
    ada = login(hub.url, "ada", PASSWORD)
    for query, message in (
        ({"since": "yesterday"}, "since must be"),
        ({"until": "2026-13-45"}, "until must be"),
        ({"limit": "many"}, "limit must be a whole number"),
        ({"limit": "1000000"}, "limit must be between"),
        ({"offset": "-1"}, "offset must be between"),
    ):
        answer = ada.get(hub.url + "api/audit", params=query)
        assert answer.status_code == 400, query
        assert message in answer.json()["error"], query


# Each row as the gate, the users API, the queue and the fleet actions write it.
SENTENCES = [
    (("alice", "print", "mk3", "POST /api/v1/job", "done"), "alice started a print on mk3"),
    (("bob", "cancel", "mk3", "POST /api/v1/job/cancel", "done"), "bob cancelled the print on mk3"),
    (("bob", "pause", "mk3", "POST /api/v1/job/pause", "refused"),
     "bob paused the print on mk3 — the printer refused"),
    (("admin", "user add", None, "carol as operator; none", None),
     "admin added user carol (operator)"),
    (("admin", "user add", None, "dan as viewer; printer mk3", None),
     "admin added user dan (viewer; printer mk3)"),
    (("admin", "user role", None, "dan: viewer -> operator", None),
     "admin changed the role of dan from viewer to operator"),
    (("op1", "refused watch", "demo-2", "GET /", None), "op1 was refused: watch printer demo-2"),
    (("op1", "refused cancel", "demo-2", "POST /api/v1/job/cancel", None),
     "op1 was refused: cancel the print on demo-2"),
    (("ada", "printer.preheat", "mk3", "preheat: hotend 215 °C, bed 60 °C (fleet action)", "done"),
     "ada preheated mk3 (hotend 215 °C, bed 60 °C) (fleet action)"),
    (("ada", "printer.cancel", "mk3", "cancel (fleet action)", "done"),
     "ada cancelled the print on mk3 (fleet action)"),
    # Commands from the MQTT broker (hub/mqtt/commands.py), as the user they are mapped to.
    (("ha", "printer.pause", "mk3", "pause (via MQTT)", "refused"),
     "ha paused the print on mk3 (via MQTT) — the printer refused"),
    (("ha", "printer.bed_clear", "mk3", "bed_clear (via MQTT)", "done"),
     "ha confirmed the bed of mk3 is clear (via MQTT)"),
    (("ada", "delete file", "mk3", "part.gcode (DELETE /api/v1/files/part.gcode)", "done"),
     "ada deleted part.gcode from mk3"),
    (("ada", "bed clear", "mk3", "", None), "ada confirmed the bed of mk3 is clear"),
    (("ada", "tune", "mk3", "POST /api/v1/printer/overrides", "done"),
     "ada changed the speed, flow or Z babystep of mk3"),
    (("hub", "queue dispatch", "mk3", "entry 4: part.gcode for bob", None),
     "The queue started part.gcode on mk3 (entry 4, for bob)"),
    (("bob", "queue submit", None, "part.gcode x2 to printer:mk3, priority 0", None),
     "bob queued 2 copies of part.gcode for printer mk3"),
    (("bob", "login", None, "from 127.0.0.1", None), "bob logged in (from 127.0.0.1)"),
    (("eve", "login failed", None, "from 10.0.0.9", None), "A login as eve failed (from 10.0.0.9)"),
    (("ada", "notification target added", None, "phone (ntfy): https://n/x", None),
     "ada added the notification target phone (ntfy): https://n/x"),
    (("ada", "something new", None, "x=1", None), "ada: something new (x=1)"),
]  # fmt: skip


def test_an_octoprint_command_that_started_a_file_says_so() -> None:
    entry = {"user": "bob", "action": "octoprint job command", "printer": "mk3",
             "detail": "POST /api/job", "outcome": "done", "status": 204}  # fmt: skip
    assert summary(entry) == "bob sent a job command to mk3 (OctoPrint API)"
    assert summary(entry, "part.gcode") == "bob started part.gcode on mk3 (OctoPrint API)"


@pytest.mark.parametrize(("row", "sentence"), SENTENCES)
def test_each_entry_reads_as_a_sentence(row: tuple[str, str, str | None, str, str | None],
                                        sentence: str) -> None:  # fmt: skip
    user, action, printer, detail, outcome = row
    entry = {"user": user, "action": action, "printer": printer, "detail": detail,
             "outcome": outcome, "status": None}  # fmt: skip
    assert summary(entry) == sentence
    assert "POST /api" not in sentence


@pytest.mark.parametrize(
    "path",
    ["api/v1/printer/overrides", "api/v1/printer/babystep", "api/printer/printhead",
     "api/printer/tool"],
)  # fmt: skip
def test_speed_flow_and_babysteps_are_audited_as_tuning(path: str) -> None:
    assert action_of("POST", path.split("/")) == ("tune", f"POST /{path}")


def test_the_api_says_which_file_a_print_started(hub: HubProcess) -> None:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        act = audit.record_act(db, "alice", "print", "mk3", "POST /api/v1/job")
        audit.settle(db, "mk3", act, 200)
        db.execute(
            "INSERT INTO job_archive (printer, job_id, started_at, ended_at, file, started_by,"
            " outcome, archived_at) VALUES ('mk3', 1, ?, ?, 'part.gcode', 'alice', 'completed', ?)",
            (time.time() + 1, time.time() + 2, time.time() + 2),
        )
        audit.record(db, "bob", "cancel", "mk3", "POST /api/v1/job/cancel")
    finally:
        db.close()
    ada = login(hub.url, "ada", PASSWORD)
    found = entries(ada, hub.url, printer="mk3")
    assert [e["summary"] for e in found] == [
        "bob cancelled the print on mk3",
        "alice started part.gcode on mk3",
    ]
    assert found[1]["detail"] == "POST /api/v1/job" and found[1]["outcome"] == "done"
