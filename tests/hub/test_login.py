"""Logging in and out of a real hub: cookies, CSRF, expiry, lockout, password change."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
import requests
from argon2 import PasswordHasher, Type, extract_parameters

from hub.app import schemas
from hub.auth import accounts
from hub.auth.accounts import create_user, remove_user
from hub.auth.passwords import MAX_LENGTH, dummy_hash
from hub.auth.rights import Grants
from hub.config import from_environment
from hub.db import open_database
from hub.server import open_hub
from tests.hub.conftest import BIN, HubProcess, login

PASSWORD = "correct horse battery"


def add_user(hub: HubProcess, name: str, role: str = "operator", password: str = PASSWORD) -> None:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, name, password, role, Grants())
    finally:
        db.close()


def post_login(url: str, username: str, password: str, **headers: str) -> requests.Response:
    return requests.post(
        url + "api/login",
        json={"username": username, "password": password},
        headers=headers,
        timeout=10,
    )


def set_cookies(answer: requests.Response) -> dict[str, SimpleCookie]:
    """Each Set-Cookie header of ``answer``, parsed, by cookie name."""
    found: dict[str, SimpleCookie] = {}
    for header in answer.raw.headers.getlist("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


@pytest.fixture
def hub(start_hub: Callable[..., HubProcess]) -> HubProcess:
    started = start_hub()
    add_user(started, "alice", "admin")
    add_user(started, "bob", "operator")
    return started


def test_login_answers_who_and_sets_strict_cookies(hub: HubProcess) -> None:
    answer = post_login(hub.url, "alice", PASSWORD)
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "alice" and body["role"] == "admin" and len(body["csrf"]) >= 32
    cookies = set_cookies(answer)
    session = cookies["fabfleet_session"]["fabfleet_session"]
    csrf = cookies["fabfleet_csrf"]["fabfleet_csrf"]
    assert session["httponly"] and session["samesite"] == "Strict" and session["path"] == "/"
    assert not session["secure"]  # plain HTTP without a proxy saying otherwise
    assert not csrf["httponly"] and csrf["samesite"] == "Strict" and csrf["path"] == "/"
    assert csrf.value == body["csrf"]
    assert len(session.value) >= 40 and session.value != csrf.value

    me = requests.get(hub.url + "api/me", cookies={"fabfleet_session": session.value}, timeout=10)
    assert me.status_code == 200
    assert me.json() == {
        "name": "alice",
        "role": "admin",
        "grants": {"printers": [], "groups": []},
        "auth": "session",
    }
    # The token is kept only hashed: the database does not hold it.
    assert session.value.encode() not in (hub.data_dir / "hub.sqlite").read_bytes()


def test_cookies_are_secure_behind_https(hub: HubProcess) -> None:
    answer = post_login(hub.url, "alice", PASSWORD, **{"X-Forwarded-Proto": "https"})
    cookies = set_cookies(answer)
    assert cookies["fabfleet_session"]["fabfleet_session"]["secure"]
    assert cookies["fabfleet_csrf"]["fabfleet_csrf"]["secure"]


def test_only_the_proxys_word_on_https_is_believed(
    start_hub: Callable[..., HubProcess],
) -> None:
    # A hub whose proxy is elsewhere: a client here claiming HTTPS does not make the
    # cookies Secure (nor would it make them anything but its own).
    hub = start_hub(extra_env={"FABFLEET_TRUSTED_PROXIES": "192.0.2.0/24"})
    add_user(hub, "alice", "admin")
    answer = post_login(hub.url, "alice", PASSWORD, **{"X-Forwarded-Proto": "https"})
    assert answer.status_code == 200
    cookies = set_cookies(answer)
    assert not cookies["fabfleet_session"]["fabfleet_session"]["secure"]
    assert not cookies["fabfleet_csrf"]["fabfleet_csrf"]["secure"]


def test_nothing_without_login(hub: HubProcess) -> None:
    assert requests.get(hub.url + "api/me", timeout=10).status_code == 401
    assert requests.get(hub.url + "api/users", timeout=10).status_code == 401
    assert requests.get(hub.url + "api/health", timeout=10).status_code == 200
    page = requests.get(hub.url, allow_redirects=False, timeout=10)
    assert page.status_code == 302 and page.headers["Location"].endswith("login")
    form = requests.get(hub.url + "login", timeout=10)
    assert form.status_code == 200 and 'id="password"' in form.text
    assert requests.get(hub.url + "static/login.js", timeout=10).status_code == 200


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every argon2 verification done in this process, as (stored hash, password given)."""
    checked: list[tuple[str, str]] = []
    real = PasswordHasher.verify

    def verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> Literal[True]:
        checked.append((str(hash), str(password)))
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    return checked


def logins_in_process(
    tmp_path: Path, attempts: list[tuple[str, str]]
) -> tuple[list[tuple[int, Any]], str]:
    """A hub in this process (its real app: ``hub.server.open_hub``) with the user bob; the
    (status, body) of each login attempt, and bob's stored hash."""
    data = tmp_path / "in-process hub"
    data.mkdir()
    (data / "fleet.json").write_text(json.dumps({"printers": [], "cameras": []}))

    async def scenario() -> tuple[list[tuple[int, Any]], str]:
        hub = await open_hub(from_environment(data_dir=str(data), listen="127.0.0.1:0"))
        try:
            create_user(hub.ctx.db, "bob", PASSWORD, "operator", Grants())
            found = accounts.password_hash(hub.ctx.db, "bob")
            assert found is not None
            answers = []
            async with aiohttp.ClientSession() as client:
                for username, password in attempts:
                    body = {"username": username, "password": password}
                    async with client.post(hub.url + "api/login", json=body) as answer:
                        answers.append((answer.status, await answer.json()))
            return answers, found[2]
        finally:
            await hub.close()

    return asyncio.run(scenario())


def test_unknown_user_and_wrong_password_look_the_same(
    tmp_path: Path, verified: list[tuple[str, str]]
) -> None:
    """No user enumeration, by answer or by time: an unknown name costs the same argon2id
    verification as a known name's wrong password (of a dummy hash with the same
    parameters), so both take as long whatever the machine's load."""
    wrong = "not the password at all"
    answers, bobs_hash = logins_in_process(
        tmp_path, [("bob", wrong), ("nobody", wrong), ("no such name!", wrong)]
    )
    assert answers == [(401, {"error": "wrong user name or password"})] * 3
    assert verified == [(bobs_hash, wrong), (dummy_hash(), wrong), (dummy_hash(), wrong)]
    assert dummy_hash() != bobs_hash
    assert extract_parameters(dummy_hash()) == extract_parameters(bobs_hash)
    assert extract_parameters(bobs_hash).type is Type.ID


def test_logout_ends_the_session(hub: HubProcess) -> None:
    session = login(hub.url, "bob", PASSWORD)
    token = session.cookies["fabfleet_session"]
    answer = session.post(hub.url + "api/logout", timeout=10)
    assert answer.status_code == 200
    # The old cookie, sent again by anyone, no longer works.
    again = requests.get(hub.url + "api/me", cookies={"fabfleet_session": token}, timeout=10)
    assert again.status_code == 401


def test_a_change_needs_the_csrf_token(hub: HubProcess) -> None:
    session = login(hub.url, "bob", PASSWORD)
    token = str(session.headers.pop("X-CSRF-Token"))
    refused = session.post(hub.url + "api/keys", json={"name": "slicer"}, timeout=10)
    assert refused.status_code == 403
    assert refused.json() == {"error": "CSRF token missing or wrong"}
    wrong = session.post(
        hub.url + "api/keys",
        json={"name": "slicer"},
        headers={"X-CSRF-Token": token[:-1] + ("A" if token[-1] != "A" else "B")},
        timeout=10,
    )
    assert wrong.status_code == 403
    # Another session's token is not this one's.
    other = login(hub.url, "bob", PASSWORD).headers["X-CSRF-Token"]
    crossed = session.post(
        hub.url + "api/keys", json={"name": "slicer"}, headers={"X-CSRF-Token": other}, timeout=10
    )
    assert crossed.status_code == 403
    assert session.get(hub.url + "api/keys", timeout=10).json() == {"keys": []}
    made = session.post(
        hub.url + "api/keys", json={"name": "slicer"}, headers={"X-CSRF-Token": token}, timeout=10
    )
    assert made.status_code == 201
    # Logging out is a change too.
    assert session.post(hub.url + "api/logout", timeout=10).status_code == 403


def test_five_wrong_passwords_lock_the_name(hub: HubProcess) -> None:
    for _ in range(5):
        assert post_login(hub.url, "bob", "wrong password!").status_code == 401
    locked = post_login(hub.url, "bob", PASSWORD)
    assert locked.status_code == 429
    assert 800 < int(locked.headers["Retry-After"]) <= 900
    assert "too many failed logins for this user name" in locked.json()["error"]
    assert "15 minutes" in locked.json()["error"]
    # The name in other spelling is the same user.
    assert post_login(hub.url, "BOB", PASSWORD).status_code == 429
    # Others still log in from the same address.
    assert post_login(hub.url, "alice", PASSWORD).status_code == 200
    # An unknown name locks the same way, so a lock tells nothing about who exists.
    for _ in range(5):
        assert post_login(hub.url, "mallory", "wrong password!").status_code == 401
    assert post_login(hub.url, "mallory", "wrong password!").status_code == 429


def test_a_good_login_resets_the_count(hub: HubProcess) -> None:
    for _ in range(4):
        assert post_login(hub.url, "bob", "wrong password!").status_code == 401
    assert post_login(hub.url, "bob", PASSWORD).status_code == 200
    for _ in range(4):
        assert post_login(hub.url, "bob", "wrong password!").status_code == 401
    assert post_login(hub.url, "bob", PASSWORD).status_code == 200


def test_twenty_failures_lock_the_client_address(hub: HubProcess) -> None:
    # The hub's peer here is loopback, a trusted proxy: X-Forwarded-For names the client.
    attacker = {"X-Forwarded-For": "203.0.113.9, 10.0.0.2"}
    for n in range(20):
        answer = post_login(hub.url, f"guess{n}", "wrong password!", **attacker)
        assert answer.status_code == 401
    locked = post_login(hub.url, "alice", PASSWORD, **attacker)
    assert locked.status_code == 429
    assert "from this address" in locked.json()["error"]
    assert int(locked.headers["Retry-After"]) > 800
    assert post_login(hub.url, "alice", PASSWORD, **{"X-Forwarded-For": "198.51.100.4"}).ok


def test_an_idle_session_ends(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub(extra_env={"FABFLEET_SESSION_IDLE": "2"})
    add_user(hub, "bob")
    session = login(hub.url, "bob", PASSWORD)
    for _ in range(3):  # used every second: it stays alive past the idle time
        time.sleep(1)
        assert session.get(hub.url + "api/me", timeout=10).status_code == 200
    time.sleep(2.5)
    assert session.get(hub.url + "api/me", timeout=10).status_code == 401


def test_a_session_ends_at_its_maximum_age(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub(extra_env={"FABFLEET_SESSION_MAX": "3", "FABFLEET_SESSION_IDLE": "100"})
    add_user(hub, "bob")
    answer = post_login(hub.url, "bob", PASSWORD)
    max_age = set_cookies(answer)["fabfleet_session"]["fabfleet_session"]["max-age"]
    assert max_age == "3"
    cookies = {"fabfleet_session": answer.cookies["fabfleet_session"]}
    started = time.monotonic()
    while time.monotonic() - started < 2:
        assert requests.get(hub.url + "api/me", cookies=cookies, timeout=10).status_code == 200
        time.sleep(0.5)
    time.sleep(1.5)
    assert requests.get(hub.url + "api/me", cookies=cookies, timeout=10).status_code == 401


def test_changing_the_password_ends_other_sessions(hub: HubProcess) -> None:
    here = login(hub.url, "bob", PASSWORD)
    elsewhere = login(hub.url, "bob", PASSWORD)
    url = hub.url + "api/me/password"
    wrong = here.post(url, json={"old": "not my password", "new": "a new long password"})
    assert wrong.status_code == 403 and "current password is wrong" in wrong.json()["error"]
    weak = here.post(url, json={"old": PASSWORD, "new": "short"})
    assert weak.status_code == 400 and "at least 10 characters" in weak.json()["error"]
    blank = here.post(url, json={"old": PASSWORD, "new": "            "})
    assert blank.status_code == 400 and "empty" in blank.json()["error"]
    changed = here.post(url, json={"old": PASSWORD, "new": "a new long password"})
    assert changed.status_code == 200
    here.headers["X-CSRF-Token"] = changed.json()["csrf"]
    assert elsewhere.get(hub.url + "api/me", timeout=10).status_code == 401
    assert here.get(hub.url + "api/me", timeout=10).status_code == 200
    assert here.post(hub.url + "api/keys", json={"name": "k"}, timeout=10).status_code == 201
    assert post_login(hub.url, "bob", PASSWORD).status_code == 401
    assert post_login(hub.url, "bob", "a new long password").status_code == 200


def test_removing_a_user_ends_their_session(hub: HubProcess) -> None:
    session = login(hub.url, "bob", PASSWORD)
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        remove_user(db, "bob")
    finally:
        db.close()
    assert session.get(hub.url + "api/me", timeout=10).status_code == 401
    assert post_login(hub.url, "bob", PASSWORD).status_code == 401


MALFORMED_LOGINS: list[tuple[bytes, str, int, str]] = [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[1, 2]", "application/json", 400, "must be a JSON object"),
    (b'{"username": "bob"}', "application/json", 400, "'password' is required"),
    (b'{"username": 7, "password": "x"}', "application/json", 400, "'username' is required"),
    (b"\xff\xfe", "application/json", 400, "not valid JSON"),
    (b"username=bob&password=x", "application/x-www-form-urlencoded", 415, "send JSON"),
    (b'{"username": "' + b"x" * 100_000 + b'"}', "application/json", 413, "larger than"),
]


def test_a_malformed_login_is_a_clear_4xx(hub: HubProcess) -> None:
    for body, content_type, status, message in MALFORMED_LOGINS:
        answer = requests.post(
            hub.url + "api/login", data=body, headers={"Content-Type": content_type}, timeout=10
        )
        assert answer.status_code == status, body[:40]
        assert message in answer.json()["error"], body[:40]


def test_an_absurd_password_costs_no_more_than_a_long_one(
    tmp_path: Path, verified: list[tuple[str, str]]
) -> None:
    """A huge password is refused after one verification of at most MAX_LENGTH + 1
    characters, not a hash of the whole body."""
    answers, bobs_hash = logins_in_process(tmp_path, [("bob", "x" * 60_000)])
    assert answers == [(401, {"error": "wrong user name or password"})]
    assert verified == [(bobs_hash, "x" * (MAX_LENGTH + 1))]


def test_bad_session_settings_stop_the_hub_with_a_clear_message(tmp_path: Path) -> None:
    for variable, value, message in (
        (
            "FABFLEET_SESSION_IDLE",
            "soon",
            "FABFLEET_SESSION_IDLE must be whole seconds, not 'soon'",
        ),
        ("FABFLEET_SESSION_MAX", "0", "FABFLEET_SESSION_MAX must be at least 1 second"),
        ("FABFLEET_TRUSTED_PROXIES", "the proxy", "FABFLEET_TRUSTED_PROXIES: "),
    ):
        done = subprocess.run(
            [str(BIN / "fabfleet-hub"), "serve", "--data-dir", str(tmp_path), "--listen",
             "127.0.0.1:0"],
            env={"PATH": os.environ["PATH"], variable: value},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1, variable
        assert done.stderr.startswith("fabfleet-hub: " + message), done.stderr
