"""Accounts: the Python API on a real database, and the admins' users API on a real hub."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher, Type

from hub.app import schemas
from hub.auth import accounts
from hub.auth.accounts import (
    AccountError,
    LastAdmin,
    UnknownUser,
    UserExists,
    create_user,
    get_user,
    list_users,
    remove_user,
    set_grants,
    set_password,
    set_role,
)
from hub.auth.passwords import HASHER, WeakPassword
from hub.auth.rights import Grants, User
from hub.db import open_database
from tests.hub.conftest import HubProcess, login

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_database(tmp_path / "hub.sqlite", schemas())
    yield connection
    connection.close()


def test_a_user_is_stored_with_role_and_grants(db: sqlite3.Connection) -> None:
    grants = Grants(printers=frozenset({"mk3", "mini"}), groups=frozenset({"lab"}))
    made = create_user(db, "bob", PASSWORD, "operator", grants)
    assert made == User("bob", "operator", grants)
    assert get_user(db, "bob") == made
    assert get_user(db, "BOB") == made  # names are one user whatever the case
    assert get_user(db, "nobody") is None
    stored = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    every = create_user(db, "eve", PASSWORD, "viewer", Grants(printers=frozenset({"*"})))
    assert every.grants.everything
    assert [a.user.name for a in list_users(db)] == ["bob", "eve"]


def test_names_roles_and_passwords_are_checked(db: sqlite3.Connection) -> None:
    create_user(db, "bob", PASSWORD, "viewer")
    with pytest.raises(UserExists, match="a user named 'Bob' already exists"):
        create_user(db, "Bob", PASSWORD, "viewer")
    for bad in ("", "a b", "x" * 65, "ünïcode", "semi;colon", "new\nline"):
        with pytest.raises(AccountError, match="1-64 letters"):
            create_user(db, bad, PASSWORD, "viewer")
    with pytest.raises(AccountError, match="no role 'boss'"):
        create_user(db, "carol", PASSWORD, "boss")
    with pytest.raises(WeakPassword, match="at least 10 characters"):
        create_user(db, "carol", "123456789", "viewer")
    with pytest.raises(WeakPassword, match="empty"):
        create_user(db, "carol", " " * 12, "viewer")
    with pytest.raises(WeakPassword, match="empty"):
        create_user(db, "carol", "", "viewer")
    with pytest.raises(AccountError, match="not a printer name"):
        accounts.make_grants(["ok", "not ok"], [])
    assert [a.user.name for a in list_users(db)] == ["bob"]


def test_the_last_admin_stays(db: sqlite3.Connection) -> None:
    create_user(db, "ada", PASSWORD, "admin")
    with pytest.raises(LastAdmin, match="'ada': it is the last admin"):
        remove_user(db, "ada")
    with pytest.raises(LastAdmin):
        set_role(db, "ada", "operator")
    with pytest.raises(LastAdmin):
        accounts.set_disabled(db, "ada", True)
    create_user(db, "grace", PASSWORD, "admin")
    set_role(db, "ada", "operator")
    with pytest.raises(LastAdmin):
        remove_user(db, "grace")
    set_role(db, "ada", "admin")
    remove_user(db, "grace")
    assert [(a.user.name, a.user.role) for a in list_users(db)] == [("ada", "admin")]


def test_changes_to_unknown_users_are_refused(db: sqlite3.Connection) -> None:
    for change in (
        lambda: remove_user(db, "ghost"),
        lambda: set_password(db, "ghost", PASSWORD),
        lambda: set_role(db, "ghost", "viewer"),
        lambda: set_grants(db, "ghost", Grants()),
    ):
        with pytest.raises(UnknownUser, match="no user named 'ghost'"):
            change()


def test_grants_are_replaced_whole(db: sqlite3.Connection) -> None:
    create_user(db, "bob", PASSWORD, "operator", Grants(printers=frozenset({"mk3"})))
    set_grants(db, "bob", Grants(groups=frozenset({"lab"})))
    user = get_user(db, "bob")
    assert user is not None and user.grants == Grants(groups=frozenset({"lab"}))


def test_every_change_is_audited(db: sqlite3.Connection) -> None:
    create_user(db, "ada", PASSWORD, "admin", actor="root")
    create_user(db, "bob", PASSWORD, "viewer", actor="ada")
    set_role(db, "bob", "operator", actor="ada")
    set_grants(db, "bob", Grants(printers=frozenset({"mk3"})), actor="ada")
    set_password(db, "bob", "another long password", actor="ada")
    remove_user(db, "bob", actor="ada")
    rows = db.execute("SELECT user, action, detail FROM audit ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        ("root", "user add"),
        ("ada", "user add"),
        ("ada", "user role"),
        ("ada", "user grants"),
        ("ada", "user password"),
        ("ada", "user remove"),
    ]
    assert "viewer -> operator" in rows[2][2] and "printer mk3" in rows[3][2]
    assert all("another long password" not in r[2] for r in rows)


# --- on a running hub -----------------------------------------------------------------


@pytest.fixture
def hub(start_hub: Callable[..., HubProcess]) -> HubProcess:
    started = start_hub()
    connection = open_database(started.data_dir / "hub.sqlite", schemas())
    try:
        create_user(connection, "ada", PASSWORD, "admin")
        create_user(connection, "bob", PASSWORD, "operator", Grants(printers=frozenset({"p1"})))
    finally:
        connection.close()
    return started


def test_an_old_hash_is_renewed_at_login(hub: HubProcess) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    connection = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        connection.execute(
            "UPDATE users SET password_hash = ? WHERE name = 'bob'", (weak.hash(PASSWORD),)
        )
        login(hub.url, "bob", PASSWORD)
        renewed = connection.execute("SELECT password_hash FROM users WHERE name = 'bob'")
        stored = renewed.fetchone()[0]
    finally:
        connection.close()
    assert not HASHER.check_needs_rehash(stored)
    assert HASHER.verify(stored, PASSWORD)
    login(hub.url, "bob", PASSWORD)


def test_an_admin_manages_users(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    url = hub.url + "api/users"
    added = ada.post(
        url,
        json={
            "name": "carol",
            "password": "carol's long password",
            "role": "viewer",
            "grants": {"printers": ["p1"], "groups": ["lab"]},
        },
    )
    assert added.status_code == 201
    assert added.json()["grants"] == {"printers": ["p1"], "groups": ["lab"]}
    carol = login(hub.url, "carol", "carol's long password")
    assert carol.get(hub.url + "api/me").json()["role"] == "viewer"

    listed = ada.get(url).json()["users"]
    assert [(u["name"], u["role"]) for u in listed] == [
        ("ada", "admin"),
        ("bob", "operator"),
        ("carol", "viewer"),
    ]
    assert all("password" not in str(u) for u in listed)

    changed = ada.patch(url + "/carol", json={"role": "operator", "grants": {"printers": ["*"]}})
    assert changed.status_code == 200
    assert changed.json()["role"] == "operator"
    assert changed.json()["grants"] == {"printers": ["*"], "groups": []}
    # The change holds for carol's running session at once.
    assert carol.get(hub.url + "api/me").json()["role"] == "operator"

    assert ada.patch(url + "/carol", json={"password": "a fresh long password"}).ok
    assert carol.get(hub.url + "api/me").status_code == 401  # her sessions ended
    carol = login(hub.url, "carol", "a fresh long password")

    assert ada.patch(url + "/carol", json={"disabled": True}).json()["disabled"] is True
    assert carol.get(hub.url + "api/me").status_code == 401
    refused = requests.post(
        hub.url + "api/login", json={"username": "carol", "password": "a fresh long password"}
    )
    assert refused.status_code == 401
    assert ada.patch(url + "/carol", json={"disabled": False}).ok
    login(hub.url, "carol", "a fresh long password")

    removed = ada.delete(url + "/carol")
    assert removed.status_code == 200 and removed.json() == {"removed": "carol"}
    assert [u["name"] for u in ada.get(url).json()["users"]] == ["ada", "bob"]


def test_only_admins_manage_users(hub: HubProcess) -> None:
    bob = login(hub.url, "bob", PASSWORD)
    url = hub.url + "api/users"
    assert bob.get(url).status_code == 403
    assert "only an admin" in bob.get(url).json()["error"]
    body = {"name": "mallory", "password": "x" * 12, "role": "admin"}
    assert bob.post(url, json=body).status_code == 403
    assert bob.patch(url + "/bob", json={"role": "admin"}).status_code == 403
    assert bob.delete(url + "/ada").status_code == 403
    assert requests.get(url).status_code == 401
    assert requests.post(url, json=body).status_code == 401
    assert bob.get(hub.url + "api/me").json()["role"] == "operator"


BAD_REQUESTS: list[tuple[str, str, object, int, str]] = [
    ("POST", "", {"name": "bob", "password": PASSWORD}, 409, "already exists"),
    ("POST", "", {"name": "x y", "password": PASSWORD}, 400, "1-64 letters"),
    ("POST", "", {"name": "dan", "password": "short"}, 400, "at least 10 characters"),
    ("POST", "", {"name": "dan", "password": PASSWORD, "role": "god"}, 400, "no role 'god'"),
    ("POST", "", {"name": "dan", "password": PASSWORD, "role": 3}, 400, "'role' must be"),
    ("POST", "", {"name": "dan", "password": PASSWORD, "grants": []}, 400, "'grants' must"),
    ("POST", "", {"name": "dan", "password": PASSWORD, "grants": {"printers": "p1"}}, 400,
     "must be a list"),
    ("POST", "", {"name": "dan", "password": PASSWORD, "grants": {"rooms": []}}, 400,
     "unknown grant kind"),
    ("POST", "", {"name": "dan", "password": PASSWORD, "shoe": 1}, 400, "unknown field"),
    ("POST", "", {"password": PASSWORD}, 400, "'name' is required"),
    ("POST", "", [1], 400, "JSON object"),
    ("PATCH", "/ghost", {"role": "viewer"}, 404, "no user named 'ghost'"),
    ("PATCH", "/bob", {"role": "boss"}, 400, "no role 'boss'"),
    ("PATCH", "/bob", {"password": "tiny"}, 400, "at least 10"),
    ("PATCH", "/bob", {"disabled": "yes"}, 400, "true or false"),
    ("PATCH", "/ada", {"role": "viewer"}, 409, "last admin"),
    ("PATCH", "/ada", {"disabled": True}, 409, "last admin"),
    ("DELETE", "/ada", None, 409, "last admin"),
    ("DELETE", "/ghost", None, 404, "no user named 'ghost'"),
]  # fmt: skip


def test_bad_user_requests_are_clear_and_change_nothing(hub: HubProcess) -> None:
    ada = login(hub.url, "ada", PASSWORD)
    url = hub.url + "api/users"
    before = ada.get(url).json()
    for method, path, body, status, message in BAD_REQUESTS:
        answer = ada.request(method, url + path, json=body, timeout=10)
        assert answer.status_code == status, (method, path, body, answer.text)
        assert message in answer.json()["error"], (method, path, body)
    # A PATCH refused half way changes nothing: role and grants are checked first.
    half = ada.patch(url + "/bob", json={"grants": {"printers": ["p9"]}, "role": "boss"})
    assert half.status_code == 400
    assert ada.get(url).json() == before
