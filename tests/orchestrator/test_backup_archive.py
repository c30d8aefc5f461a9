"""The backup archive without Docker: written whole or not at all, read back only when every
member matches its manifest, and every bad input a clear `fabfleet` error."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orchestrator.backup.archive import ArchiveError, ArchiveWriter, verify
from orchestrator.backup.backup import stored_formats
from orchestrator.backup.manifest import FORMAT_VERSION, Manifest
from orchestrator.backup.sqlite_copy import check_database, copy_database
from orchestrator.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def manifest() -> Manifest:
    return Manifest("1.0", "2026-12-05T00:00:00+00:00", "fabfleet", "/var/lib/fabfleet", ["a"],
                    timelapses=True)  # fmt: skip


def write_archive(path: Path, members: dict[str, bytes]) -> None:
    with ArchiveWriter(path, manifest()) as writer:
        for name, data in members.items():
            writer.add_bytes(name, data)
        writer.finish()


MEMBERS = {
    "fleet.yaml": b"site: {}\n",
    "state/secrets/gate.key": b"00" * 32 + b"\n",
    "printers/a/files/part.gcode": b"G28\nG1 X10\n" * 1000,
}


def repacked(source: Path, target: Path, change: dict[str, bytes]) -> None:
    """``source``'s members into ``target``, with the members named in ``change`` replaced."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for info in old.getmembers():
            data = change.get(info.name)
            if data is None:
                extracted = old.extractfile(info)
                assert extracted is not None
                data = extracted.read()
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_an_archive_is_0600_and_reads_back_member_for_member(tmp_path: Path) -> None:
    path = tmp_path / "night.fabfleet"
    write_archive(path, MEMBERS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == ["night.fabfleet"]
    verified = verify(path)
    assert verified.manifest.format_version == FORMAT_VERSION
    listed = {m.path: m.sha256 for m in verified.manifest.files}
    assert listed == {n: hashlib.sha256(d).hexdigest() for n, d in MEMBERS.items()}
    assert {m.path: s.read() for m, s in verified.members()} == MEMBERS


@pytest.mark.parametrize(
    "interruption", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_an_interrupted_backup_leaves_no_archive_and_keeps_the_old_one(
    tmp_path: Path, interruption: BaseException
) -> None:
    path = tmp_path / "night.fabfleet"
    path.write_bytes(b"last night's archive")

    def interrupted_backup() -> None:
        with ArchiveWriter(path, manifest()) as writer:
            writer.add_bytes("fleet.yaml", b"site: {}\n")
            raise interruption

    with pytest.raises(type(interruption)):
        interrupted_backup()
    assert path.read_bytes() == b"last night's archive"
    assert leftovers(tmp_path) == ["night.fabfleet"]


def test_a_file_size_limit_hit_mid_write_leaves_nothing_behind(tmp_path: Path) -> None:
    # A real failing write (EFBIG from the kernel), as a full disk fails one.
    script = f"""
import os, resource, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from orchestrator.backup.archive import ArchiveWriter
from tests.orchestrator.test_backup_archive import manifest
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
try:
    with ArchiveWriter(Path({str(tmp_path / "big.fabfleet")!r}), manifest()) as writer:
        writer.add_bytes("printers/a/files/big.gcode", os.urandom(1 << 20))
        writer.finish()
except OSError as error:
    print("failed:", error.strerror)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, cwd=ROOT)  # fmt: skip
    assert done.stdout.strip() == "failed: File too large", done.stderr
    assert leftovers(tmp_path) == []


def test_truncated_corrupt_and_foreign_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.fabfleet"
    write_archive(good, MEMBERS)
    data = good.read_bytes()
    cut = tmp_path / "cut.fabfleet"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="truncated or damaged"):
        verify(cut)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.fabfleet"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ArchiveError, match=r"truncated or damaged|damaged|not a fabfleet backup"):
        verify(corrupt)
    text = tmp_path / "notes.txt"
    text.write_text("not an archive\n")
    with pytest.raises(ArchiveError, match="not a fabfleet backup"):
        verify(text)
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tar:
        info = tarfile.TarInfo("fleet.yaml")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ArchiveError, match="has no manifest"):
        verify(plain)
    with pytest.raises(ArchiveError, match="no such file"):
        verify(tmp_path / "absent.fabfleet")


def test_a_member_that_does_not_match_its_checksum_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.fabfleet"
    write_archive(good, MEMBERS)
    changed = tmp_path / "changed.fabfleet"
    repacked(good, changed, {"printers/a/files/part.gcode": b"G28\nM104 S300\n"})
    with pytest.raises(ArchiveError, match=r"part\.gcode does not match its checksum"):
        verify(changed)


def test_a_newer_format_and_an_unsafe_name_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.fabfleet"
    write_archive(good, MEMBERS)
    with tarfile.open(good) as tar:
        extracted = tar.extractfile("manifest.json")
        assert extracted is not None
        body = json.load(extracted)
    newer = tmp_path / "newer.fabfleet"
    body["format_version"] = FORMAT_VERSION + 1
    repacked(good, newer, {"manifest.json": json.dumps(body).encode()})
    with pytest.raises(ArchiveError, match=f"formats up to {FORMAT_VERSION}: upgrade fabfleet"):
        verify(newer)
    escaping = tmp_path / "escaping.fabfleet"
    with tarfile.open(escaping, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("../../etc/cron.d/x"), io.BytesIO(b""))
    with pytest.raises(ArchiveError, match="may not hold"):
        verify(escaping)


def test_the_online_copy_of_a_database_being_written_is_whole(tmp_path: Path) -> None:
    source = tmp_path / "hub.sqlite"
    db = sqlite3.connect(source, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, line TEXT)")
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            db.execute("INSERT INTO audit (line) VALUES (?)", ("x" * 200,))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.2)
        copy = tmp_path / "copy.sqlite"
        copy_database(source, copy)
    finally:
        stop.set()
        writer.join()
    assert check_database(copy) is None
    copied = sqlite3.connect(copy)
    assert copied.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert copied.execute("SELECT count(*) FROM audit").fetchone()[0] > 0
    assert not Path(f"{copy}-wal").exists()


def fabfleet(*args: str, config: Path) -> Result:
    return CliRunner().invoke(app, list(args), env={"FABFLEET_CONFIG": str(config)})


def test_the_cli_refuses_bad_archives_and_destinations_clearly(tmp_path: Path) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(f"site:\n  state_dir: {tmp_path / 'state'}\n")
    cut = tmp_path / "cut.fabfleet"
    write_archive(cut, MEMBERS)
    cut.write_bytes(cut.read_bytes()[:200])
    not_gz = tmp_path / "photo.jpg"
    not_gz.write_bytes(b"\xff\xd8\xff\xe0" + b"JFIF" * 100)
    cases = {
        str(tmp_path / "absent.fabfleet"): "no such file",
        str(cut): "is truncated or damaged",
        str(not_gz): "is not a fabfleet backup",
    }
    for archive, said in cases.items():
        result = fabfleet("restore", archive, config=config)
        assert result.exit_code == 1, result.output
        assert said in result.stderr and "nothing was restored" in result.stderr, result.stderr
    assert not (tmp_path / "state").exists()
    for destination, said in {
        str(tmp_path / "no-such-folder" / "x.fabfleet"): "cannot write in",
        str(tmp_path): "is a directory",
        str(cut): "exists; give --replace",
    }.items():
        result = fabfleet("backup", destination, config=config)
        assert result.exit_code == 1, result.output
        assert said in result.stderr, result.stderr
    assert not (tmp_path / "no-such-folder").exists()


def test_an_archive_says_its_stored_formats_and_newer_ones_are_named(tmp_path: Path) -> None:
    path = tmp_path / "night.fabfleet"
    made = manifest()
    made.formats = stored_formats()
    with ArchiveWriter(path, made) as writer:
        writer.finish()
    read = verify(path).manifest
    assert read.formats["state/hub-data/hub.sqlite"] >= 1
    assert read.newer_formats(stored_formats()) == []
    read.formats["printers/*/jobs.sqlite3"] += 1
    known = stored_formats()["printers/*/jobs.sqlite3"]
    assert read.newer_formats(stored_formats()) == [
        f"printers/*/jobs.sqlite3 (version {known + 1}; this fabfleet knows {known})"
    ]
