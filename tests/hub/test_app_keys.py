"""Apps' key requests on a real hub: the gate's narrow door without login, the relay a
print server signs, who may decide, the key limited to one printer, caps, expiry, audit,
and a database from before printer-limited keys.

The whole workflow through nginx with the real clients (pyoctoprintapi, octorest) and a
person approving in Chromium is tests/browser/test_app_keys.py.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.app_keys import MAX_PENDING, MAX_PER_MINUTE
from hub.auth.credentials import token_hash
from hub.auth.printer_requests import HEADER, sign
from hub.auth.rights import Grants
from hub.auth.signing import proxy_key, read_master_key
from hub.db import open_database
from tests.hub.conftest import HubProcess, login, printer_entry, start_hub_process

PASSWORD = "correct horse battery"
NOWHERE = "http://127.0.0.1:9"
TOKEN = "A" * 32
USERS = {
    "ada": ("admin", ()),
    "alice": ("operator", ("p1",)),
    "vera": ("viewer", ("p1",)),
    "otto": ("operator", ("p2",)),
}


def fleet() -> dict[str, Any]:
    return {
        "site": {"max_heating": 0},
        "printers": [
            printer_entry("p1", NOWHERE, camera="cam1"),
            printer_entry("p2", NOWHERE),
            printer_entry("p3", NOWHERE),
        ],
        "cameras": [{"name": "cam1", "path": "/cameras/cam1/", "upstream": NOWHERE}],
    }


@dataclass
class Hub:
    process: HubProcess
    master: bytes
    sessions: dict[str, requests.Session]

    @property
    def url(self) -> str:
        return self.process.url

    def relay(
        self, printer: str, method: str, below: str, body: bytes = b"", signer: str | None = None
    ) -> requests.Response:
        """What a print server sends the hub for an app, signed with its printer key."""
        path = f"/api/printers/{printer}/{below}"
        header = sign(self.master, signer or printer, method, path, body, time.time())
        return requests.request(
            method, self.url.rstrip("/") + path, data=body, headers={HEADER: header}, timeout=10
        )

    def ask(self, printer: str, app: str, user: str | None = None) -> requests.Response:
        return self.relay(
            printer, "POST", "app-keys", json.dumps({"app": app, "user": user}).encode()
        )

    def poll(self, printer: str, token: str) -> requests.Response:
        return self.relay(printer, "GET", f"app-keys/{token}")

    def pending(self, user: str) -> list[dict[str, Any]]:
        answer = self.sessions[user].get(self.url + "api/app-key-requests", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["requests"]  # type: ignore[no-any-return]

    def decide(self, user: str, request_id: int, verb: str) -> requests.Response:
        return self.sessions[user].post(
            self.url + f"api/app-key-requests/{request_id}/{verb}", timeout=10
        )

    def gate(
        self, uri: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> requests.Response:
        """nginx's question about ``uri`` (the site's route for it, the raw URI, the method)."""
        kind, name = uri.split("/")[1:3]
        question = {
            "X-Fabfleet-Proxy-Key": proxy_key(self.master).hex(),
            "X-Fabfleet-Route": f"{kind}/{name}",
            "X-Fabfleet-Uri": uri.partition("?")[0],
            "X-Original-URI": uri,
            "X-Original-Method": method,
        }
        return requests.get(
            self.url + "api/auth/check", headers={**question, **(headers or {})}, timeout=10
        )

    def audit(self, **query: str) -> list[str]:
        answer = self.sessions["ada"].get(self.url + "api/audit", params=query, timeout=10)
        return [f"{e['user']}: {e['action']}" for e in answer.json()["entries"]]

    def db(self) -> sqlite3.Connection:
        return open_database(self.process.data_dir / "hub.sqlite", schemas())


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    process = start_hub_process(tmp_path_factory.mktemp("appkeys"), fleet())
    try:
        db = open_database(process.data_dir / "hub.sqlite", schemas())
        try:
            for name, (role, printers) in USERS.items():
                create_user(db, name, PASSWORD, role, Grants(printers=frozenset(printers)))
        finally:
            db.close()
        sessions = {name: login(process.url, name, PASSWORD) for name in USERS}
        yield Hub(process, read_master_key(process.data_dir / "gate.key"), sessions)
    finally:
        process.stop()


def test_the_gate_opens_the_workflows_exact_paths_and_nothing_else(hub: Hub) -> None:
    open_ones = [
        ("GET", "/printers/p1/plugin/appkeys/probe"),
        ("POST", "/printers/p1/plugin/appkeys/request"),
        ("GET", f"/printers/p1/plugin/appkeys/request/{TOKEN}"),
        ("GET", f"/printers/p1/plugin/appkeys/auth/{TOKEN}"),
    ]
    for method, uri in open_ones:
        answer = hub.gate(uri, method)
        assert answer.status_code == 200, (method, uri, answer.text)
        # No identity is signed: the print server lets only these paths through without one.
        assert "X-Fabfleet-Identity" not in answer.headers
    closed = [
        ("POST", "/printers/p1/plugin/appkeys/probe"),
        ("GET", "/printers/p1/plugin/appkeys/request"),
        ("DELETE", f"/printers/p1/plugin/appkeys/request/{TOKEN}"),
        ("POST", f"/printers/p1/plugin/appkeys/auth/{TOKEN}"),
        ("GET", "/printers/p1/plugin/appkeys/request/short"),
        ("GET", f"/printers/p1/plugin/appkeys/request/{TOKEN}/more"),
        ("GET", "/printers/p1/plugin/appkeys/keys"),
        ("GET", "/printers/p1/plugin/logging/logs"),
        ("GET", "/printers/p1/api/settings"),
        ("GET", "/printers/p9/plugin/appkeys/probe"),
        ("GET", "/cameras/cam1/plugin/appkeys/probe"),
    ]
    for method, uri in closed:
        assert hub.gate(uri, method).status_code == 401, (method, uri)
    # A path nginx and the raw URI disagree about is not the workflow's either.
    question = hub.gate("/printers/p2/../p1/plugin/appkeys/probe")
    assert question.status_code == 401


def test_an_approved_key_works_on_its_printer_only_once_fetched(hub: Hub) -> None:
    asked = hub.ask("p1", "Home Assistant", "vera")
    assert asked.status_code == 201, asked.text
    token, request_id = asked.json()["token"], asked.json()["id"]
    assert hub.poll("p1", token).status_code == 202
    # Another printer cannot poll it, nor ask in p1's name.
    assert hub.poll("p2", token).status_code == 404
    assert hub.relay("p1", "GET", f"app-keys/{token}", signer="p2").status_code == 403
    sentence = "Home Assistant asks for a key to p1 as vera"
    assert [r["sentence"] for r in hub.pending("vera")] == [sentence]
    assert [r["sentence"] for r in hub.pending("ada")] == [sentence]
    # A named request is for that user (or an admin), not for others who may watch p1.
    assert hub.pending("alice") == [] and hub.pending("otto") == []
    assert hub.decide("alice", request_id, "approve").status_code == 404
    approved = hub.decide("vera", request_id, "approve")
    assert approved.status_code == 200, approved.text
    fetched = hub.poll("p1", token)
    assert fetched.status_code == 200
    key = fetched.json()["api_key"]
    assert hub.poll("p1", token).status_code == 404  # handed out once
    with_key = {"X-Api-Key": key}
    watched = hub.gate("/printers/p1/api/printer", headers=with_key)
    assert watched.status_code == 200 and watched.json()["user"] == "vera"
    # vera's rights: she may watch p1, not act on it.
    assert hub.gate("/printers/p1/api/job", "POST", with_key).status_code == 403
    for uri in ("/printers/p2/api/printer", "/cameras/cam1/?action=stream"):
        refused = hub.gate(uri, headers=with_key)
        assert refused.status_code == 403, uri
        assert "for printer 'p1' only" in refused.json()["error"]
    for path in ("api/fleet", "api/keys", "api/me"):
        hub_wide = requests.get(hub.url + path, headers=with_key, timeout=10)
        assert hub_wide.status_code == 403, path
    listed = hub.sessions["vera"].get(hub.url + "api/keys", timeout=10).json()["keys"]
    mine = [k for k in listed if k["printer"] == "p1"]
    assert [(k["app"], k["name"]) for k in mine] == [("Home Assistant", "Home Assistant (p1)")]
    revoked = hub.sessions["vera"].delete(hub.url + f"api/keys/{mine[0]['id']}", timeout=10)
    assert revoked.status_code == 200
    assert hub.gate("/printers/p1/api/printer", headers=with_key).status_code == 401
    actions = hub.audit(printer="p1")
    for entry in ("vera: api key create", "vera: app key approve", "anonymous: app key request"):
        assert entry in actions
    assert "vera: api key revoke" in hub.audit(action="api key revoke")


def test_who_may_decide_and_deny(hub: Hub) -> None:
    # Nobody named: whoever may watch the printer decides, and the key acts as them.
    unnamed = hub.ask("p1", "OctoRest").json()
    assert any(r["id"] == unnamed["id"] for r in hub.pending("alice"))
    assert all(r["id"] != unnamed["id"] for r in hub.pending("otto"))
    assert hub.decide("otto", unnamed["id"], "approve").status_code == 404
    assert hub.decide("alice", unnamed["id"], "approve").status_code == 200
    key = hub.poll("p1", unnamed["token"]).json()["api_key"]
    acting = hub.gate("/printers/p1/api/job", "POST", {"X-Api-Key": key})
    assert acting.status_code == 200 and acting.json()["user"] == "alice"
    # A named user without rights on the printer gets no key, even from an admin.
    otto = hub.ask("p1", "Cura", "otto").json()
    refused = hub.decide("ada", otto["id"], "approve")
    assert refused.status_code == 403
    assert refused.json()["error"] == "otto has no rights on printer p1: no key"
    assert hub.poll("p1", otto["token"]).status_code == 202
    # Deny: the app's next poll is 404.
    assert hub.decide("ada", otto["id"], "deny").status_code == 200
    assert hub.poll("p1", otto["token"]).status_code == 404
    assert "ada: app key deny" in hub.audit(printer="p1")


def test_bad_relays_are_refused_clearly(hub: Hub) -> None:
    cases = {
        b"not json": 400,
        json.dumps({"user": "vera"}).encode(): 400,
        json.dumps({"app": ""}).encode(): 400,
        json.dumps({"app": "x" * 65}).encode(): 400,
        json.dumps({"app": "ok", "user": 7}).encode(): 400,
        json.dumps({"app": "x" * 3000}).encode(): 413,
    }
    for body, status in cases.items():
        answer = hub.relay("p2", "POST", "app-keys", body)
        assert answer.status_code == status, (body[:40], answer.text)
        assert answer.json()["error"]
    unsigned = requests.post(hub.url + "api/printers/p2/app-keys", json={"app": "x"}, timeout=10)
    assert unsigned.status_code == 403
    assert hub.relay("p9", "POST", "app-keys", b"{}").status_code == 404


def test_requests_are_capped_rate_limited_and_expire(hub: Hub) -> None:
    made = [hub.ask("p3", f"app {n}") for n in range(MAX_PER_MINUTE + 1)]
    assert [a.status_code for a in made] == [201] * MAX_PER_MINUTE + [429]
    assert "try again in a minute" in made[-1].json()["error"]
    db = hub.db()
    try:
        # A minute later the rate allows more, but the printer's waiting requests are capped.
        db.execute("UPDATE app_key_requests SET created = created - 120 WHERE printer = 'p3'")
        for n in range(MAX_PENDING - MAX_PER_MINUTE):
            assert hub.ask("p3", f"more {n}").status_code == 201
        db.execute("UPDATE app_key_requests SET created = created - 120 WHERE printer = 'p3'")
        capped = hub.ask("p3", "one too many")
        assert capped.status_code == 429
        assert "waiting already" in capped.json()["error"]
        # Expired requests are gone: polls are 404, the list no longer shows them, and the
        # printer may ask again.
        db.execute("UPDATE app_key_requests SET expires = 0 WHERE printer = 'p3'")
    finally:
        db.close()
    assert hub.poll("p3", made[0].json()["token"]).status_code == 404
    assert [r for r in hub.pending("ada") if r["printer"] == "p3"] == []
    assert hub.ask("p3", "after expiry").status_code == 201


OLD_API_KEYS = """
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL,
    UNIQUE (user_id, name)
);
"""


def test_a_database_from_before_app_keys_is_upgraded_and_its_keys_still_work(
    tmp_path: Path,
) -> None:
    data = tmp_path / "hub"
    data.mkdir()
    path = data / "hub.sqlite"
    old = sqlite3.connect(path)
    old.executescript(OLD_API_KEYS)
    old.close()
    db = open_database(path, schemas())
    try:
        # Opening it brought the old table up to date (hub/migrations.py), after a copy.
        columns = {row[1] for row in db.execute("PRAGMA table_info(api_keys)")}
        assert {"printer", "app"} <= columns
        assert len(list(data.glob("hub.sqlite.v0-*.bak"))) == 1
        create_user(db, "ada", PASSWORD, "admin", Grants())
        # A key as the old release wrote it: no printer, no app.
        key = "ffk_from-the-old-release-000000000000000000000"
        db.execute(
            "INSERT INTO api_keys (user_id, name, key_hash, prefix, created)"
            " SELECT id, 'slicer', ?, ?, 0 FROM users WHERE name = 'ada'",
            (token_hash(key), key[:8]),
        )
    finally:
        db.close()
    process = start_hub_process(data, fleet())
    try:
        listed = requests.get(process.url + "api/keys", headers={"X-Api-Key": key}, timeout=10)
        assert listed.status_code == 200, listed.text
        assert [(k["name"], k["printer"], k["app"]) for k in listed.json()["keys"]] == [
            ("slicer", None, None)
        ]
    finally:
        process.stop()
