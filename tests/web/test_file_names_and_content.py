"""Safe names and the G-code content check, without a server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from instance.files.gcode_check import GcodeCheck, NotGcode
from instance.files.names import BadFileName, is_stored_name, numbered, safe_name
from instance.files.store import MB, DiskFull, FileStore, UploadTooLarge


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("cube.gcode", "cube.gcode"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\boot.gcode", "boot.gcode"),
        ("C:\\Users\\me\\part.gcode", "part.gcode"),
        ("  spaced name.gcode  ", "spaced name.gcode"),
        ("new\nline\r.gcode", "newline.gcode"),
        ("zero\u200bwidth.gcode", "zerowidth.gcode"),
        ("cafe\u0301.gcode", "café.gcode"),
        ("日本語.gcode", "日本語.gcode"),
        ("a" * 300 + ".gcode", "a" * 194 + ".gcode"),
    ],
)
def test_safe_names(raw: str, safe: str):
    assert safe_name(raw) == safe
    assert is_stored_name(safe)


@pytest.mark.parametrize("raw", ["", "..", "...", "/", "a/..", ".bashrc", "x/.ssh", "\x00\x01"])
def test_names_that_cannot_be_stored(raw: str):
    with pytest.raises(BadFileName):
        safe_name(raw)
    assert not is_stored_name(raw)


def test_a_long_multibyte_name_is_cut_on_a_character_boundary():
    name = safe_name("é" * 150 + ".gcode")
    assert len(name.encode()) <= 200
    assert name.endswith(".gcode")
    assert name == "é" * 97 + ".gcode"


@pytest.mark.parametrize(
    ("name", "n", "numbered_name"),
    [
        ("cube.gcode", 2, "cube (2).gcode"),
        ("cube (2).gcode", 3, "cube (3).gcode"),
        ("noext", 2, "noext (2)"),
        (".gcode", 2, ".gcode (2)"),
    ],
)
def test_clash_names(name: str, n: int, numbered_name: str):
    assert numbered(name, n) == numbered_name


def feed_all(chunks: list[bytes]) -> None:
    check = GcodeCheck()
    for chunk in chunks:
        check.feed(chunk)
    check.finish()


@pytest.mark.parametrize(
    "chunks",
    [
        [b"G28\n"],
        [b"; only a comment header\n" * 100, b"G1 X1\n"],
        [b"N10 G28*33\n"],
        [b"M104 S200\nT0\n"],
        # A UTF-8 character split across two chunks is not junk.
        [b"; \xc3", b"\xa9 caf\xc3\xa9\nG28\n"],
        [b"(a CNC-style comment)\nG0 X0\n"],
    ],
)
def test_gcode_passes(chunks: list[bytes]):
    feed_all(chunks)


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"G28\n", b"\x00"], "binary content (a NUL byte at offset 4), not G-code text"),
        ([b"hello world\n" * 100], "no G-code in the first 1024 bytes"),
        ([b"solid cube\n facet normal 0 0 1\n"], "no G-code in the first 1024 bytes"),
        ([b"G28\n" + bytes(range(128, 256)) * 10], "not UTF-8 text"),
        ([], "the file is empty"),
    ],
)
def test_not_gcode(chunks: list[bytes], message: str):
    with pytest.raises(NotGcode) as refused:
        feed_all(chunks)
    assert str(refused.value).startswith(message)


def test_an_upload_that_would_fill_the_disk_is_refused_before_anything_is_written(
    tmp_path: Path,
):
    free = shutil.disk_usage(tmp_path).free
    store = FileStore(tmp_path / "files", max_bytes=10 * MB, reserve_bytes=free + 100 * MB)
    with pytest.raises(DiskFull) as refused:
        store.begin_upload(1000)
    assert str(refused.value).startswith("not enough free disk space for this upload (")
    assert list((tmp_path / "files" / ".uploads").iterdir()) == []
    roomy = FileStore(tmp_path / "files", max_bytes=10 * MB)
    with pytest.raises(UploadTooLarge):
        roomy.begin_upload(11 * MB)
    assert list((tmp_path / "files" / ".uploads").iterdir()) == []


def test_leftovers_of_a_crashed_upload_are_removed_at_start(tmp_path: Path):
    uploads = tmp_path / "files" / ".uploads"
    uploads.mkdir(parents=True)
    (uploads / "upload-x.part").write_bytes(b"G28\n")
    store = FileStore(tmp_path / "files", max_bytes=MB)
    assert list(uploads.iterdir()) == []
    assert store.list() == []
