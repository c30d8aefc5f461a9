"""hub.door, the one way into the hub from outside it: each promise of its contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub import door
from hub.app import schemas
from hub.auth import accounts, signing
from hub.auth.passwords import HASHER
from hub.auth.rights import Grants
from hub.db import open_database
from instance.web.gate import IdentityRefused, verify

PASSWORD = "correct horse battery"
MASTER = bytes(range(32))


def users(data_dir: Path) -> dict[str, dict[str, object]]:
    return {u["name"]: u for u in json.loads(door.list_users(data_dir, as_json=True))}


def test_users_are_added_changed_listed_and_removed(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    data.mkdir()
    grants = door.grants_from(["mk4"], ["lab"], False)
    said = door.add_user(data, "ada", door.choose_role(True, None), Grants(), lambda: PASSWORD)
    assert said == "added ada (admin; every printer)"
    door.add_user(data, "bob", "viewer", grants, lambda: PASSWORD)
    assert users(data)["bob"]["grants"] == {"printers": ["mk4"], "groups": ["lab"]}

    assert door.set_role(data, "bob", "operator") == "bob is now operator"
    door.set_grants(data, "bob", door.grants_from([], [], True))
    bob = users(data)["bob"]
    assert (bob["role"], bob["grants"]) == ("operator", {"printers": ["*"], "groups": []})

    before = users(data)
    door.set_password(data, "bob", lambda: "another long passphrase")
    db = open_database(data / door.DATABASE, schemas())
    try:
        found = accounts.password_hash(db, "bob")
        assert found is not None and HASHER.verify(found[2], "another long passphrase")
    finally:
        db.close()
    assert users(data) == before

    assert "bob" in door.list_users(data, as_json=False)
    assert door.remove_user(data, "bob").startswith("removed bob")
    assert set(users(data)) == {"ada"}


def test_refusals_are_one_line_errors_and_change_nothing(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    data.mkdir()
    door.add_user(data, "ada", "admin", Grants(), lambda: PASSWORD)
    with pytest.raises(door.UserCommandError, match="last admin"):
        door.set_role(data, "ada", "viewer")
    with pytest.raises(door.UserCommandError, match="last admin"):
        door.remove_user(data, "ada")
    with pytest.raises(door.UserCommandError, match="no user named 'eve'"):
        door.set_grants(data, "eve", Grants())
    with pytest.raises(door.UserCommandError, match="contradict"):
        door.choose_role(True, "viewer")
    with pytest.raises(door.UserCommandError):
        door.grants_from(["no/slash"], [], False)
    assert users(data)["ada"]["role"] == "admin"


def test_a_refused_add_leaves_no_file(tmp_path: Path) -> None:
    data = tmp_path / "hub-data"
    with pytest.raises(door.UserCommandError):
        door.add_user(data, "bad name", "viewer", Grants(), lambda: PASSWORD)
    assert not data.exists()


def test_keys_and_identities_are_the_ones_a_print_server_accepts() -> None:
    key = door.printer_key(MASTER, "mk4")
    assert key == signing.printer_key(MASTER, "mk4")
    assert key != door.printer_key(MASTER, "mini")
    assert door.proxy_key(MASTER) == signing.proxy_key(MASTER)
    header = door.identity_header(MASTER, "mk4", "fabfleet", may_act=False)
    assert list(header) == [door.IDENTITY_HEADER] == ["X-Fabfleet-Identity"]
    identity = verify(key, "mk4", header[door.IDENTITY_HEADER])
    assert (identity.user, identity.may_act) == ("fabfleet", False)
    # Another printer's key does not accept it.
    with pytest.raises(IdentityRefused):
        verify(door.printer_key(MASTER, "mini"), "mk4", header[door.IDENTITY_HEADER])


def test_the_demo_user_is_made_then_reset_in_a_full_hub_database(tmp_path: Path) -> None:
    database = tmp_path / "hub-data" / "hub.sqlite"
    door.set_demo_user(database, "admin", PASSWORD)
    door.set_demo_user(database, "admin", "a second long passphrase")
    db = open_database(database, [])
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "sessions", "api_keys", "audit"} <= tables
        assert len(tables) > 4  # the queue's, history's ... too: what `serve` makes
        user = accounts.get_user(db, "admin")
        assert user is not None and user.admin
        assert [r[0] for r in db.execute("SELECT user FROM audit ORDER BY id")][-1] == "demo"
    finally:
        db.close()
    with pytest.raises(ValueError, match="password"):
        door.set_demo_user(database, "admin", "short")
    garbage = tmp_path / "not-a-database"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(door.DatabaseRefused, match=r"cannot be read .* left as it is"):
        door.set_demo_user(garbage, "admin", PASSWORD)
    assert garbage.read_bytes() == b"this is not a database" * 100
