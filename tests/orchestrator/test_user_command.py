"""`fabfleet user …` on the host: the hub's accounts in <state_dir>/hub-data, owned by the
containers' user, through real `fabfleet` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from hub.app import schemas
from hub.auth.accounts import get_user
from hub.db import open_database
from tests.hub.conftest import start_hub_process

FABFLEET = Path(sys.executable).parent / "fabfleet"
PASSWORD = "correct horse battery"
UID, GID = 23456, 23457


def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        f"site:\n  state_dir: {tmp_path / 'state'}\n"
        f"  container_uid: {UID}\n  container_gid: {GID}\n"
    )
    return path


def fabfleet(
    config: Path, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FABFLEET), "user", *args, "--config", str(config)],
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )


def test_the_first_admin_lands_where_the_hub_reads_it(tmp_path: Path) -> None:
    config = fleet_file(tmp_path)
    data = tmp_path / "state" / "hub-data"
    empty = fabfleet(config, "list")
    assert empty.returncode == 1
    assert "fabfleet user add NAME --admin" in empty.stderr
    assert fabfleet(config, "list", "--json").stdout.strip() == "[]"

    added = fabfleet(config, "add", "ada", "--admin", "--password-stdin", password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added ada (admin; every printer)"
    info = data.stat()
    assert oct(info.st_mode & 0o777) == "0o700"
    database = data / "hub.sqlite"
    assert oct(database.stat().st_mode & 0o777) == "0o600"
    # The hub's container runs as the fleet's container user: it must own what it writes.
    owner = (UID, GID) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    for path in [data, *data.glob("hub.sqlite*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == owner, path

    # The hub started on that directory logs her in.
    hub = start_hub_process(data, {"printers": [], "cameras": []})
    try:
        answer = requests.post(
            hub.url + "api/login", json={"username": "ada", "password": PASSWORD}, timeout=10
        )
        assert answer.status_code == 200 and answer.json()["role"] == "admin"
    finally:
        hub.stop()


def test_grants_passwords_and_removal(tmp_path: Path) -> None:
    config = fleet_file(tmp_path)
    fabfleet(config, "add", "ada", "--admin", "--password-stdin", password=PASSWORD)
    bob = fabfleet(config, "add", "bob", "--role", "operator", "--printer", "mk3", "--group",
                   "lab", "--password-stdin", password=PASSWORD)  # fmt: skip
    assert bob.returncode == 0, bob.stderr
    users = {u["name"]: u for u in json.loads(fabfleet(config, "list", "--json").stdout)}
    assert users["bob"]["grants"] == {"printers": ["mk3"], "groups": ["lab"]}
    changed = fabfleet(config, "passwd", "bob", "--password-stdin", password="a new long password")
    assert changed.returncode == 0, changed.stderr
    db = open_database(tmp_path / "state" / "hub-data" / "hub.sqlite", schemas())
    try:
        audit = [tuple(r) for r in db.execute("SELECT user, action FROM audit ORDER BY id")]
    finally:
        db.close()
    assert [a for _u, a in audit] == ["user add", "user add", "user password"]
    assert all(user.startswith("cli:") for user, _a in audit)
    removed = fabfleet(config, "remove", "bob")
    assert removed.returncode == 0
    db = open_database(tmp_path / "state" / "hub-data" / "hub.sqlite", schemas())
    try:
        assert get_user(db, "bob") is None and get_user(db, "ada") is not None
    finally:
        db.close()


def test_refusals_are_one_exact_line(tmp_path: Path) -> None:
    config = fleet_file(tmp_path)
    fabfleet(config, "add", "ada", "--admin", "--password-stdin", password=PASSWORD)
    cases = [
        (["remove", "ghost"], None, "no user named 'ghost'"),
        (["passwd", "ghost", "--password-stdin"], PASSWORD, "no user named 'ghost'"),
        (["add", "ada", "--password-stdin"], PASSWORD, "a user named 'ada' already exists"),
        (["add", "bob", "--password-stdin"], "123456789",
         "the password is too short: at least 10 characters, got 9"),
        (["remove", "ada"], None,
         "cannot remove 'ada': it is the last admin; make another admin first"),
        (["add", "bob", "--admin", "--role", "viewer", "--password-stdin"], PASSWORD,
         "--admin and --role viewer contradict each other"),
        (["add", "bob", "--role", "boss", "--password-stdin"], PASSWORD,
         "no role 'boss'; roles: admin, operator, viewer"),
    ]  # fmt: skip
    for args, password, message in cases:
        done = fabfleet(config, *args, password=password)
        assert done.returncode == 1, args
        assert done.stderr == f"fabfleet: {message}\n", args


def test_passwords_typed_twice_must_match(tmp_path: Path) -> None:
    config = fleet_file(tmp_path)
    # No terminal: the prompt reads the two lines from standard input (and warns so).
    done = subprocess.run(
        [str(FABFLEET), "user", "add", "ada", "--admin", "--config", str(config)],
        input="first long password\nsecond long password\n",
        capture_output=True, text=True, timeout=60, start_new_session=True,
        env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "fabfleet: the passwords do not match"
    assert fabfleet(config, "list", "--json").stdout.strip() == "[]"


def test_a_broken_fleet_file_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text("site:\n  state_dir: relative/path\n")
    done = fabfleet(config, "list")
    assert done.returncode == 1
    assert "state_dir" in done.stderr
    assert not (tmp_path / "relative").exists()


def test_a_refused_first_user_leaves_no_file_behind(tmp_path: Path) -> None:
    """`fabfleet user add alice --admin` without a password creates no database, no directory."""
    config = fleet_file(tmp_path)
    cases = [
        # No terminal and nothing on standard input: no password.
        (["add", "alice", "--admin"], "", "fabfleet: no password given"),
        (["add", "alice", "--admin", "--password-stdin"], "short", "the password is too short"),
        (["add", "Alice!", "--admin", "--password-stdin"], PASSWORD, "'Alice!'"),
        (["add", "alice", "--role", "boss", "--password-stdin"], PASSWORD, "no role 'boss'"),
        (["add", "alice", "--printer", "", "--password-stdin"], PASSWORD, "fabfleet: "),
    ]  # fmt: skip
    for args, password, message in cases:
        done = subprocess.run(
            [str(FABFLEET), "user", *args, "--config", str(config)],
            input=password, capture_output=True, text=True, timeout=60, start_new_session=True,
            env={"PATH": os.environ["PATH"]},
        )  # fmt: skip
        assert done.returncode == 1, args
        assert message in done.stderr.splitlines()[-1], (args, done.stderr)
        assert not (tmp_path / "state").exists(), args
    # And the same command with a password then works.
    added = fabfleet(config, "add", "alice", "--admin", "--password-stdin", password=PASSWORD)
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "state" / "hub-data" / "hub.sqlite").exists()
