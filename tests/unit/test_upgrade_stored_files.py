"""The print server's data dir and the host's state files written by an earlier release
(tests/fixtures/upgrade/<release>/) open in this one: copied aside before a step changes
them, migrated once, nothing lost; newer or unreadable ones refused, byte for byte kept."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hub import door
from hub.app import schemas
from hub.db import open_database
from instance.data_format import data_dir_version, upgrade_data_dir
from instance.files.store import FileStore
from instance.job_records import SCHEMA_VERSION, JobOutcome, JobRecords
from instance.odometer_file import OdometerFile
from instance.stored_format import MARKER, FormatRefused
from orchestrator.devices.hotplug import PRESENCE_FORMAT, Plug, Presence
from orchestrator.stack.formats import printer_data_versions, state_dir_versions
from orchestrator.stack.secrets import Owner, ensure_secrets, secrets_version

FIXTURES = Path(__file__).parents[1] / "fixtures" / "upgrade"
RELEASES = ("766500d", "e0780ed")


def copied(release: str, part: str, tmp_path: Path) -> Path:
    target = tmp_path / part
    shutil.copytree(FIXTURES / release / part, target)
    return target


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (name → sha256), to see that nothing was written (the
    data dir's lock file, written by whoever holds it, is no data)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "instance.lock"
    }


def manifest(release: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / release / "MANIFEST.json").read_text())
    return data


@pytest.mark.parametrize("release", RELEASES)
def test_a_release_data_dir_opens_with_its_jobs_counters_and_files(
    release: str, tmp_path: Path
) -> None:
    data_dir = copied(release, "printer-mk3", tmp_path)
    jobs_version = manifest(release)["printer"]["job_records_version"]  # type: ignore[index]
    counters_before = (data_dir / "counters.json").read_bytes()
    assert upgrade_data_dir(data_dir) == 0
    with JobRecords(data_dir) as records:
        jobs = records.list(100)
        warned = records.warnings(jobs[0].id)
    assert [(j.file_name, j.outcome, j.started_by) for j in jobs] == [
        ("benchy.gcode", JobOutcome.INTERRUPTED, "grace"),
        ("benchy.gcode", JobOutcome.COMPLETED, "ada"),
    ]
    assert jobs[0].reason == "printer disconnected: cable"
    assert [w.kind for w in warned] == ["stall"]
    backups = sorted(data_dir.glob("jobs.sqlite3.v*.bak"))
    if jobs_version == SCHEMA_VERSION:
        assert backups == []
    else:
        # The older records were copied aside, as they were, before their steps.
        (backup,) = backups
        assert backup.name.startswith(f"jobs.sqlite3.v{jobs_version}-")
        assert backup.stat().st_mode & 0o777 == 0o600
        with contextlib.closing(sqlite3.connect(backup)) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == jobs_version
            assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 2
    odometer = OdometerFile(data_dir)
    assert odometer.problem is None
    # Read, not started again from zero (that would count from now).
    reading = odometer.odometer.reading()
    assert reading.since == 1_764_000_000.0 and reading.print_seconds == 620.0
    assert reading.jobs["completed"] == 1 and reading.jobs["interrupted"] == 1
    assert (data_dir / "counters.json").read_bytes() == counters_before
    store = FileStore(data_dir / "files", max_bytes=1 << 30, reserve_bytes=0)
    assert [f.name for f in store.list()] == ["benchy.gcode"]
    assert json.loads((data_dir / MARKER).read_text()) == {"format": data_dir_version()}
    # A second start changes nothing.
    before = digest(data_dir)
    assert upgrade_data_dir(data_dir) == data_dir_version()
    with JobRecords(data_dir) as records:
        assert len(records.list(100)) == 2
    assert sorted(data_dir.glob("*.bak")) == backups
    after = digest(data_dir)
    assert {k: v for k, v in after.items() if not k.startswith("jobs.sqlite3")} == {
        k: v for k, v in before.items() if not k.startswith("jobs.sqlite3")
    }


def newer_jobs(data_dir: Path) -> None:
    with contextlib.closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")


def newer_counters(data_dir: Path) -> None:
    document = json.loads((data_dir / "counters.json").read_text())
    (data_dir / "counters.json").write_text(json.dumps({**document, "format": 2}))


def newer_data_dir(data_dir: Path) -> None:
    (data_dir / MARKER).write_text(json.dumps({"format": data_dir_version() + 1}))


@pytest.mark.parametrize(
    ("make_newer", "said"),
    [
        (newer_jobs, f"(schema {SCHEMA_VERSION + 1}, this one knows {SCHEMA_VERSION})"),
        (newer_counters, "counters file"),
        (newer_data_dir, f"print server data dir {{data}}/{MARKER} was written by a newer"),
    ],
)
def test_the_print_server_refuses_a_newer_data_dir_and_leaves_it_as_it_is(
    make_newer: object, said: str, tmp_path: Path
) -> None:
    data_dir = copied(RELEASES[0], "printer-mk3", tmp_path)
    upgrade_data_dir(data_dir)
    assert callable(make_newer)
    make_newer(data_dir)
    before = digest(data_dir)
    # The print server exits non-zero with the reason on stderr: its container's log.
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fabfleet-instance"), "serve",
         "--port", "socket://127.0.0.1:9",
         "--data-dir", str(data_dir), "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    assert done.returncode != 0
    assert said.format(data=data_dir) in done.stderr, done.stderr
    assert "newer fabfleet" in done.stderr and "upgrade fabfleet" in done.stderr
    assert digest(data_dir) == before
    assert not list(data_dir.glob("*.bak"))


def test_an_unreadable_marker_is_refused_untouched(tmp_path: Path) -> None:
    data_dir = copied(RELEASES[0], "printer-mk3", tmp_path)
    (data_dir / MARKER).write_text('{"format": ')
    before = digest(data_dir)
    with pytest.raises(FormatRefused, match=r"cannot be read .*left as it is"):
        upgrade_data_dir(data_dir)
    assert digest(data_dir) == before


@pytest.mark.parametrize("release", RELEASES)
def test_the_presence_file_is_copied_aside_and_keeps_every_device(
    release: str, tmp_path: Path
) -> None:
    state = copied(release, "state", tmp_path)
    old = json.loads((state / "presence.json").read_text())
    presence = Presence(state / "presence.json")
    assert presence.upgrade() == 0
    (backup,) = state.glob("presence.json.v0-*.bak")
    assert json.loads(backup.read_text()) == old
    assert presence.read() == old
    assert json.loads((state / "presence.json").read_text())["format"] == PRESENCE_FORMAT
    presence.record(Plug("add", "printer-ender", "/dev/ttyUSB3"), 1.0)
    assert presence.read()["printer-ender"]["node"] == "/dev/ttyUSB3"
    assert presence.read()["printer-mk3"] == old["printer-mk3"]
    # Once is enough.
    assert presence.upgrade() == PRESENCE_FORMAT
    assert list(state.glob("presence.json.*.bak")) == [backup]


def test_a_newer_presence_file_is_refused_untouched(tmp_path: Path) -> None:
    state = copied(RELEASES[0], "state", tmp_path)
    newer = json.dumps({"format": PRESENCE_FORMAT + 1, "plugs": []})
    (state / "presence.json").write_text(newer)
    with pytest.raises(FormatRefused, match=r"presence file .* newer fabfleet \(format 2"):
        Presence(state / "presence.json").upgrade()
    assert (state / "presence.json").read_text() == newer


@pytest.mark.parametrize("release", RELEASES)
def test_the_secrets_keep_their_keys_and_gain_a_version(release: str, tmp_path: Path) -> None:
    state = copied(release, "state", tmp_path)
    keys = digest(state / "secrets")
    owner = Owner(os.getuid(), os.getgid())
    report = ensure_secrets(state, ["mk3", "ender"], owner)
    # The gate's key and every key derived from it are the release's: nothing rewritten.
    assert report.written == [] and report.removed == []
    after = digest(state / "secrets")
    assert {k: v for k, v in after.items() if k != MARKER} == keys
    assert json.loads((state / "secrets" / MARKER).read_text()) == {"format": secrets_version()}
    ensure_secrets(state, ["mk3", "ender"], owner)
    assert digest(state / "secrets") == after


def test_newer_secrets_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    state = copied(RELEASES[0], "state", tmp_path)
    (state / "secrets" / MARKER).write_text(json.dumps({"format": secrets_version() + 1}))
    before = digest(state / "secrets")
    with pytest.raises(FormatRefused, match=r"secrets directory .* upgrade fabfleet"):
        # A new printer would get a key: not from a directory this release does not know.
        ensure_secrets(state, ["mk3", "ender", "prusa-xl"], Owner(os.getuid(), os.getgid()))
    assert digest(state / "secrets") == before


def test_the_versions_a_backup_records_are_those_the_migrated_files_say(tmp_path: Path) -> None:
    """orchestrator/stack/formats.py, which `fabfleet backup` reads, agrees with the files."""
    state = copied(RELEASES[0], "state", tmp_path)
    data_dir = copied(RELEASES[0], "printer-mk3", tmp_path)
    shutil.copytree(FIXTURES / RELEASES[0] / "hub-data", state / "hub-data")
    Presence(state / "presence.json").upgrade()
    ensure_secrets(state, ["mk3", "ender"], Owner(os.getuid(), os.getgid()))
    open_database(state / "hub-data" / door.DATABASE, schemas()).close()
    upgrade_data_dir(data_dir)
    JobRecords(data_dir).close()

    def said(path: Path) -> int:
        if path.suffix in (".sqlite", ".sqlite3"):
            with contextlib.closing(sqlite3.connect(path)) as db:
                version: int = db.execute("PRAGMA user_version").fetchone()[0]
                return version
        found: int = json.loads(path.read_text())["format"]
        return found

    assert {name: said(state / name) for name in state_dir_versions()} == state_dir_versions()
    assert {
        name: said(data_dir / name) for name in printer_data_versions()
    } == printer_data_versions()
