"""A hub database written by an earlier release (tests/fixtures/upgrade/<release>/) opens
in this one: copied aside first, migrated once, every user, key, queue entry and archived
job still there; a database from a newer release is refused and left byte for byte."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.auth.signing import read_master_key
from hub.cli import main as hub_main
from hub.db import SCHEMA_VERSION
from tests.hub.conftest import login, printer_entry, start_hub_process
from tests.hub.test_gate import Gate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "upgrade"
# The release users run now, and one from before apps' keys and the archive's timelapse.
RELEASES = ("766500d", "e0780ed")
FLEET: dict[str, Any] = {
    "printers": [printer_entry(name, f"http://127.0.0.1:9/{name}/") for name in ("mk3", "ender")],
    "cameras": [],
}


# The fixtures' sessions were made on the day of their release: the hub is told to keep
# sessions for a century, so the test does not depend on how long ago that was.
KEEP_SESSIONS = {"FABFLEET_SESSION_IDLE": str(100 * 365 * 86400)}
KEEP_SESSIONS["FABFLEET_SESSION_MAX"] = KEEP_SESSIONS["FABFLEET_SESSION_IDLE"]


def manifest(release: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / release / "MANIFEST.json").read_text())
    return data


def copy_hub_data(release: str, tmp_path: Path) -> Path:
    data_dir = tmp_path / "hub-data"
    shutil.copytree(FIXTURES / release / "hub-data", data_dir)
    (data_dir / "hub.sqlite").chmod(0o600)
    return data_dir


def schema_of(path: Path) -> tuple[int, list[tuple[str, str]]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    return version, tables


def counts_of(path: Path, tables: list[str]) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.mark.parametrize("release", RELEASES)
def test_a_release_database_is_copied_aside_migrated_and_keeps_everything(
    release: str, tmp_path: Path
) -> None:
    expected = manifest(release)["hub"]
    data_dir = copy_hub_data(release, tmp_path)
    original = (data_dir / "hub.sqlite").read_bytes()
    hub = start_hub_process(data_dir, FLEET, KEEP_SESSIONS, tmp_path / "gate.key")
    try:
        # The fixture's password still logs in; its session cookie and keys still work.
        ada = login(hub.url, "ada", expected["passwords"]["ada"])
        assert ada.get(hub.url + "api/me", timeout=30).json()["name"] == "ada"
        grace = login(hub.url, "grace", expected["passwords"]["grace"])
        assert grace.get(hub.url + "api/me", timeout=30).json()["role"] == "operator"
        kept = requests.get(
            hub.url + "api/me", cookies={"fabfleet_session": expected["session"]}, timeout=30
        )
        assert kept.status_code == 200 and kept.json()["name"] == "ada"
        by_key = requests.get(
            hub.url + "api/keys", headers={"X-Api-Key": expected["keys"]["user"]}, timeout=30
        )
        assert by_key.status_code == 200, by_key.text
        keys = {key["name"]: key for key in by_key.json()["keys"]}
        assert "slicer upload" in keys
        # Queue entries and archived jobs are all there, as the release left them.
        queue = ada.get(hub.url + "api/queue", timeout=30).json()
        assert sorted(entry["id"] for entry in queue["entries"]) == expected["queue_entries"]
        history = ada.get(hub.url + "api/history?limit=100", timeout=30).json()
        assert len(history["jobs"]) == expected["counts"]["job_archive"]
    finally:
        hub.stop()
    (backup,) = data_dir.glob("hub.sqlite.v0-*.bak")
    assert backup.stat().st_mode & 0o777 == 0o600
    # The copy is the release's database as it was: its version, its tables, its rows.
    assert schema_of(backup) == schema_of(FIXTURES / release / "hub-data" / "hub.sqlite")
    assert counts_of(backup, list(expected["counts"])) == expected["counts"]
    version, tables = schema_of(data_dir / "hub.sqlite")
    assert version == SCHEMA_VERSION
    columns = {name: sql for name, sql in tables if name in ("api_keys", "job_archive")}
    assert "printer" in columns["api_keys"] and "timelapse" in columns["job_archive"]
    assert (data_dir / "hub.sqlite").read_bytes() != original
    # A second start changes nothing: no new copy, the same schema.
    again = start_hub_process(data_dir, FLEET, KEEP_SESSIONS, tmp_path / "gate.key")
    try:
        assert login(again.url, "ada", expected["passwords"]["ada"])
    finally:
        again.stop()
    assert list(data_dir.glob("hub.sqlite.*.bak")) == [backup]
    assert schema_of(data_dir / "hub.sqlite") == (version, tables)


def test_an_app_key_of_the_release_still_works_on_its_printer_only(tmp_path: Path) -> None:
    expected = manifest(RELEASES[0])["hub"]
    data_dir = copy_hub_data(RELEASES[0], tmp_path)
    hub = start_hub_process(data_dir, FLEET, KEEP_SESSIONS, tmp_path / "gate.key")
    try:
        gate = Gate(hub, read_master_key(hub.gate_key_file), {}, {})
        app = {"X-Api-Key": expected["keys"]["app"]}
        mine = gate.ask("/printers/mk3/api/version", headers=app, route="printers/mk3")
        assert mine.status_code == 200, mine.text
        other = gate.ask("/printers/ender/api/version", headers=app, route="printers/ender")
        assert other.status_code == 403, other.text
    finally:
        hub.stop()


def test_a_database_from_a_newer_release_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    data_dir = copy_hub_data(RELEASES[0], tmp_path)
    database = data_dir / "hub.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    with pytest.raises(RuntimeError, match="the hub did not start") as refused:
        start_hub_process(data_dir, FLEET, KEEP_SESSIONS, tmp_path / "gate.key")
    said = str(refused.value)
    assert f"hub database {database} was written by a newer fabfleet" in said
    assert f"schema version {SCHEMA_VERSION + 1}; this release knows up to {SCHEMA_VERSION}" in said
    assert "upgrade fabfleet" in said
    # `fabfleet user` on the host refuses it the same way: one line on stderr, exit 1.
    with pytest.raises(SystemExit) as exited:
        hub_main(["user", "list", "--data-dir", str(data_dir)])
    assert str(exited.value.code).startswith(
        f"fabfleet-hub: hub database {database} was written by a newer fabfleet"
    )
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before
    assert not list(data_dir.glob("*.bak"))


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub-data"
    data_dir.mkdir()
    database = data_dir / "hub.sqlite"
    database.write_bytes(b"not a database, half a backup\n" * 200)
    before = database.read_bytes()
    with pytest.raises(RuntimeError, match="cannot be read") as refused:
        start_hub_process(data_dir, FLEET, KEEP_SESSIONS, tmp_path / "gate.key")
    assert "it has been left as it is" in str(refused.value)
    assert database.read_bytes() == before
