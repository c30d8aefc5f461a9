"""API keys on a real hub: made once, used three ways, listed without the secret, revoked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user, remove_user
from hub.auth.rights import Grants
from hub.db import open_database
from tests.hub.conftest import HubProcess, login

PASSWORD = "correct horse battery"


@pytest.fixture
def hub(start_hub: Callable[..., HubProcess]) -> HubProcess:
    started = start_hub()
    db = open_database(started.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "alice", PASSWORD, "admin")
        create_user(db, "bob", PASSWORD, "operator", Grants(printers=frozenset({"mk3"})))
        create_user(db, "carol", PASSWORD, "viewer")
    finally:
        db.close()
    return started


def make_key(session: requests.Session, url: str, name: str) -> dict[str, object]:
    answer = session.post(url + "api/keys", json={"name": name}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_key_is_shown_once_and_works_three_ways(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    made = make_key(bob, hub.url, "PrusaSlicer")
    key = made["key"]
    assert isinstance(key, str) and key.startswith("ffk_") and len(key) > 40
    assert made["name"] == "PrusaSlicer" and isinstance(made["id"], int)

    for how in (
        {"headers": {"X-Api-Key": key}},
        {"headers": {"Authorization": f"Bearer {key}"}},
        {"params": {"apikey": key}},
    ):
        me = requests.get(hub.url + "api/me", timeout=10, **how)  # type: ignore[arg-type]
        assert me.status_code == 200, how
        assert me.json()["name"] == "bob" and me.json()["auth"] == "api-key"
        assert me.json()["grants"] == {"printers": ["mk3"], "groups": []}

    listed = bob.get(hub.url + "api/keys", timeout=10).json()["keys"]
    assert len(listed) == 1
    assert listed[0]["name"] == "PrusaSlicer" and listed[0]["user"] == "bob"
    assert listed[0]["prefix"] == key[:8] and listed[0]["last_used"] is not None
    assert key not in bob.get(hub.url + "api/keys", timeout=10).text
    # Stored hashed: the database file does not contain it.
    assert key.encode() not in (hub.data_dir / "hub.sqlite").read_bytes()


def test_a_key_needs_no_csrf_token(hub: HubProcess) -> None:
    key = make_key(login(hub.url, "bob", PASSWORD), hub.url, "script")["key"]
    answer = requests.post(
        hub.url + "api/keys", json={"name": "second"}, headers={"X-Api-Key": str(key)}, timeout=10
    )
    assert answer.status_code == 201


def test_a_revoked_key_is_refused_at_once(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    made = make_key(bob, hub.url, "Cura")
    headers = {"X-Api-Key": str(made["key"])}
    assert requests.get(hub.url + "api/me", headers=headers, timeout=10).status_code == 200
    revoked = bob.delete(hub.url + f"api/keys/{made['id']}", timeout=10)
    assert revoked.status_code == 200
    answer = requests.get(hub.url + "api/me", headers=headers, timeout=10)
    assert answer.status_code == 401
    assert bob.get(hub.url + "api/keys", timeout=10).json() == {"keys": []}
    assert bob.delete(hub.url + f"api/keys/{made['id']}", timeout=10).status_code == 404


def test_a_wrong_key_is_not_a_login_even_with_a_cookie(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    answer = bob.get(hub.url + "api/me", headers={"X-Api-Key": "ffk_made_up"}, timeout=10)
    assert answer.status_code == 401


def test_keys_are_private_except_to_admins(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    carol = login(hub.url, "carol", PASSWORD)
    alice = login(hub.url, "alice", PASSWORD)
    bobs = make_key(bob, hub.url, "bob's slicer")
    make_key(carol, hub.url, "carol's script")
    assert [k["name"] for k in carol.get(hub.url + "api/keys").json()["keys"]] == ["carol's script"]
    assert carol.get(hub.url + "api/keys?all=1").status_code == 403
    # Another user's key is "not found" to a non-admin, and keeps working.
    assert carol.delete(hub.url + f"api/keys/{bobs['id']}").status_code == 404
    assert requests.get(hub.url + "api/me", headers={"X-Api-Key": str(bobs["key"])}).ok
    everyone = alice.get(hub.url + "api/keys?all=1").json()["keys"]
    assert sorted(k["user"] for k in everyone) == ["bob", "carol"]
    assert alice.get(hub.url + "api/keys").json() == {"keys": []}
    assert alice.delete(hub.url + f"api/keys/{bobs['id']}").status_code == 200
    assert (
        requests.get(hub.url + "api/me", headers={"X-Api-Key": str(bobs["key"])}).status_code == 401
    )


def test_a_removed_users_keys_stop_working(hub: HubProcess) -> None:
    key = make_key(login(hub.url, "bob", PASSWORD), hub.url, "slicer")["key"]
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        remove_user(db, "bob")
    finally:
        db.close()
    answer = requests.get(hub.url + "api/me", headers={"X-Api-Key": str(key)}, timeout=10)
    assert answer.status_code == 401


BAD_KEY_REQUESTS: list[tuple[dict[str, object], str]] = [
    ({}, "'name' is required"),
    ({"name": ""}, "1-64 characters"),
    ({"name": "   "}, "1-64 characters"),
    ({"name": "x" * 65}, "1-64 characters"),
    ({"name": 12}, "'name' is required"),
    ({"name": "a\nb"}, "control characters"),
]


def test_a_bad_key_request_is_a_clear_400(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    for body, message in BAD_KEY_REQUESTS:
        answer = bob.post(hub.url + "api/keys", json=body, timeout=10)
        assert answer.status_code == 400, body
        assert message in answer.json()["error"], body
    assert bob.get(hub.url + "api/keys", timeout=10).json() == {"keys": []}


def test_two_keys_of_one_name_are_refused(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    make_key(bob, hub.url, "slicer")
    again = bob.post(hub.url + "api/keys", json={"name": "slicer"}, timeout=10)
    assert again.status_code == 409 and "already has a key named 'slicer'" in again.json()["error"]
    for odd in ("x", "-1", "99999999999999999999999", "1.5"):
        assert bob.delete(hub.url + f"api/keys/{odd}", timeout=10).status_code == 404
    assert requests.post(hub.url + "api/keys", json={"name": "n"}, timeout=10).status_code == 401
