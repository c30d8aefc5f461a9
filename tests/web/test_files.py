"""Uploads: names made safe, content checked, limits kept, storage atomic; list, get, delete."""

from __future__ import annotations

import os
import socket
import time
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.web.server import Served, gcode_head, running_server

pytestmark = pytest.mark.timeout(120)

SMALL = gcode_head("cube_slic3r.gcode", 200)


def stored_names(server: Served) -> list[str]:
    return sorted(p.name for p in server.files_dir.iterdir() if not p.name.startswith("."))


def leftovers(server: Served) -> list[str]:
    return sorted(p.name for p in (server.files_dir / ".uploads").iterdir())


def test_native_upload_lists_downloads_and_deletes(shared_server: Served):
    server = shared_server
    answer = server.upload("native.gcode", SMALL, path="/api/v1/files")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["file"]["name"] == "native.gcode"
    assert body["file"]["size"] == len(SMALL)
    assert body["job"] is None
    assert answer.headers["Location"] == f"{server.url}/api/v1/files/native.gcode"
    listed = server.get("/api/v1/files").json()
    assert "native.gcode" in [f["name"] for f in listed["files"]]
    assert listed["max_upload_bytes"] == 2048 * 1024 * 1024
    detail = server.get("/api/v1/files/native.gcode").json()
    assert detail["printing"] is False
    assert detail["analysis"]["status"] in ("pending", "done", "failed", "unavailable")
    content = server.get("/api/v1/files/native.gcode/content")
    assert content.content == SMALL
    assert content.headers["Content-Type"] == "text/x-gcode"
    assert server.delete("/api/v1/files/native.gcode").status_code == 204
    assert not (server.files_dir / "native.gcode").exists()
    assert server.get("/api/v1/files/native.gcode").status_code == 404


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../etc/passwd.gcode", "passwd.gcode"),
        ("/abs/olute.gcode", "olute.gcode"),
        # "e" + combining acute (NFD, as macOS sends it) is stored as one "é" (NFC).
        ("cafe\u0301 würfel.gcode", "café würfel.gcode"),
    ],
)
def test_names_are_made_safe(shared_server: Served, sent: str, stored: str):
    server = shared_server
    answer = server.upload(sent, SMALL)
    assert answer.status_code == 201, answer.text
    assert answer.json()["files"]["local"]["name"] == stored
    assert (server.files_dir / stored).read_bytes() == SMALL
    assert unicodedata.is_normalized("NFC", stored)
    assert not Path("/etc/passwd.gcode").exists()
    server.delete(f"/api/files/local/{quote(stored, safe='')}")


def test_control_characters_sent_in_an_encoded_name_are_removed(shared_server: Served):
    server = shared_server
    disposition = "form-data; name=\"file\"; filename*=UTF-8''bell%07%09ring%0A.gcode"
    answer = server.post(
        "/api/files/local",
        data=_multipart(disposition, SMALL),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["files"]["local"]["name"] == "bellring.gcode"
    server.delete("/api/files/local/bellring.gcode")


def _multipart(disposition: str, content: bytes) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("../..", "'../..' is not a file name"),
        (
            ".hidden.gcode",
            "'.hidden.gcode': hidden file names (starting with a dot) are not accepted",
        ),
        ("dir/", "'dir/' is not a file name"),
    ],
)
def test_unusable_names_are_refused_and_nothing_is_stored(
    shared_server: Served, sent: str, message: str
):
    server = shared_server
    before = stored_names(server)
    answer = server.upload(sent, SMALL)
    assert answer.status_code == 400
    assert answer.json() == {"error": message}
    assert stored_names(server) == before
    assert leftovers(server) == []


def test_a_clash_gets_a_number_unless_overwrite_is_asked(shared_server: Served):
    server = shared_server
    first = server.upload("clash.gcode", b"G28\n")
    second = server.upload("clash.gcode", b"G28 X\n")
    third = server.upload("clash.gcode", b"G28 Y\n")
    assert first.json()["files"]["local"]["name"] == "clash.gcode"
    assert second.json()["files"]["local"]["name"] == "clash (2).gcode"
    assert third.json()["files"]["local"]["name"] == "clash (3).gcode"
    replaced = server.upload("clash.gcode", b"G28 Z\n", overwrite="true")
    assert replaced.json()["files"]["local"]["name"] == "clash.gcode"
    assert (server.files_dir / "clash.gcode").read_bytes() == b"G28 Z\n"
    assert (server.files_dir / "clash (2).gcode").read_bytes() == b"G28 X\n"
    for name in ("clash.gcode", "clash (2).gcode", "clash (3).gcode"):
        server.delete(f"/api/v1/files/{quote(name)}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"G28\n\x00\x01\x02binary", "binary content (a NUL byte at offset 4), not G-code text"),
        (bytes(range(128, 256)) * 40, "not UTF-8 text: too many bytes that are not characters"),
        (
            b"<html><body>" + b"x" * 2000 + b"</body></html>",
            "no G-code in the first 1024 bytes (no G/M/T command and no ; comment)",
        ),
        (b"", "the file is empty"),
    ],
)
def test_content_that_is_not_gcode_is_refused_with_415(
    shared_server: Served, content: bytes, message: str
):
    server = shared_server
    before = stored_names(server)
    answer = server.upload("junk.gcode", content)
    assert answer.status_code == 415
    assert answer.json() == {"error": message}
    assert stored_names(server) == before
    assert leftovers(server) == []


def test_gcode_with_a_stray_latin1_byte_in_a_comment_is_accepted(shared_server: Served):
    server = shared_server
    content = b"; nozzle 215\xb0C\nG28\nG1 X10\n"
    answer = server.upload("latin.gcode", content)
    assert answer.status_code == 201
    server.delete("/api/v1/files/latin.gcode")


def test_oversized_uploads_are_refused_with_413_and_leave_nothing(tmp_path: Path):
    with running_server(tmp_path, "--max-upload-mb", "1") as server:
        big = b"G1 X1 Y1\n" * 200_000  # 1.8 MB
        # requests sends a Content-Length: refused before any byte is stored.
        answer = server.upload("big.gcode", big)
        assert answer.status_code == 413
        assert answer.json() == {"error": "the file is larger than the limit of 1 MB"}
        # Chunked, without a length: refused while streaming, once past the limit.
        chunked = server.post(
            "/api/files/local",
            data=_chunked_multipart("big.gcode", big),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        assert chunked.status_code == 413
        assert chunked.json() == {
            "error": "the file is larger than the limit of 1 MB (--max-upload-mb)"
        }
        assert stored_names(server) == []
        assert leftovers(server) == []
        fits = server.upload("fits.gcode", b"G1 X1 Y1\n" * 100_000)
        assert fits.status_code == 201
        metrics = server.get("/metrics").text
        assert 'fabfleet_uploads_refused_total{printer="printer"} 2' in metrics
        assert 'fabfleet_uploads_total{printer="printer"} 1' in metrics


BOUNDARY = "fabfleet-test-boundary"


def _chunked_multipart(name: str, content: bytes):
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    for start in range(0, len(content), 65536):
        yield content[start : start + 65536]
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_control_character_in_a_part_header_is_a_bad_request(shared_server: Served):
    answer = shared_server.upload("bell\x07.gcode", SMALL)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("malformed request: ")
    assert leftovers(shared_server) == []


def test_upload_requests_without_a_file_part_or_multipart(shared_server: Served):
    server = shared_server
    no_file = server.post("/api/files/local", files={"print": (None, "true")})
    assert no_file.status_code == 400
    assert no_file.json() == {"error": "the upload has no part named 'file'"}
    not_multipart = server.post("/api/files/local", json={"file": "G28"})
    assert not_multipart.status_code == 415
    assert "multipart/form-data" in not_multipart.json()["error"]
    bad_flag = server.upload("f.gcode", SMALL, print="maybe")
    assert bad_flag.status_code == 400
    assert bad_flag.json() == {"error": "form field 'print' must be true or false, not 'maybe'"}
    sd = server.upload("f.gcode", SMALL, path="/api/files/sdcard")
    assert sd.status_code == 404
    assert leftovers(server) == []


def test_the_printing_file_cannot_be_deleted_or_replaced(server: Served):
    content = gcode_head("cube_slic3r.gcode", 4000)
    started = server.upload("busy.gcode", content, print="true")
    assert started.status_code == 201
    server.wait_state("printing")
    delete = server.delete("/api/files/local/busy.gcode")
    assert delete.status_code == 409
    assert delete.json() == {"error": "busy.gcode is being printed: it cannot be deleted now"}
    replace = server.upload("busy.gcode", SMALL, overwrite="true")
    assert replace.status_code == 409
    assert replace.json() == {"error": "busy.gcode is being printed: it cannot be replaced now"}
    assert (server.files_dir / "busy.gcode").read_bytes() == content
    assert server.get("/api/v1/files/busy.gcode").json()["printing"] is True
    # Upload-and-print on a busy printer: the file is kept, the print refused.
    second = server.upload("next.gcode", SMALL, print="true")
    assert second.status_code == 409
    assert second.json()["error"] == (
        "stored as next.gcode, but not printed: the printer is printing, not ready"
    )
    assert second.json()["files"]["local"]["name"] == "next.gcode"
    assert (server.files_dir / "next.gcode").read_bytes() == SMALL
    server.post("/api/v1/job/cancel")
    server.wait_state("bed not cleared")
    uncleared = server.upload("third.gcode", SMALL, path="/api/v1/files", print="true")
    assert uncleared.status_code == 409
    assert uncleared.json()["error"] == (
        "stored as third.gcode, not printed: the bed was not confirmed clear after the last job"
    )
    assert (server.files_dir / "third.gcode").exists()
    assert server.delete("/api/files/local/busy.gcode").status_code == 204


def test_files_are_private_and_complete_on_disk(shared_server: Served):
    server = shared_server
    answer = server.upload("private.gcode", SMALL)
    assert answer.status_code == 201
    mode = os.stat(server.files_dir / "private.gcode").st_mode & 0o777
    assert mode == 0o600
    assert (server.files_dir / "private.gcode").stat().st_size == len(SMALL)
    server.delete("/api/v1/files/private.gcode")


def test_an_upload_cut_off_midway_leaves_nothing(shared_server: Served):
    server = shared_server
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="cut.gcode"\r\n\r\n'
    ).encode() + b"G1 X1 Y1\n" * 50_000
    request = (
        "POST /api/files/local HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nX-Api-Key: {server.key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(head) * 4}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request + head)
        time.sleep(0.3)
    server.wait_for(lambda: leftovers(server) == [], 10)
    assert not (server.files_dir / "cut.gcode").exists()
    assert server.get("/api/health").status_code == 200
