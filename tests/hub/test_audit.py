"""The audit log on a real hub: what is written, filtering, paging, CSV, admins only."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable

import pytest
import requests

from hub import audit
from hub.accounts import create_user
from hub.app import schemas
from hub.db import open_database
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
    assert rows[0] == ["time", "user", "action", "printer", "detail", "outcome", "status"]
    assert [r[1:] for r in rows[1:]] == [
        ["bob", "upload", "mk3", 'cube, "big".gcode', "", ""],
        ["bob", "terminal", "mk3", '\'=HYPERLINK("x")', "", ""],  # never run as a formula
    ]
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
