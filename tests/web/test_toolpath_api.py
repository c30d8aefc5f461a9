"""GET /api/v1/files/{name}/toolpath: the packed preview, cached and revalidated; errors as
JSON; and the running job's layer and Z in the printer's state."""

from __future__ import annotations

import gzip

import pytest

from instance.analysis.toolpath import decode_layers
from tests.web.server import GCODE, Served

pytestmark = pytest.mark.timeout(180)

CUBE = (GCODE / "cube_prusa_marlin2.gcode").read_bytes()  # 99 layers
SLIC3R = (GCODE / "cube_slic3r.gcode").read_bytes()  # 67 layers


def test_the_preview_is_sent_gzipped_with_a_tag_and_revalidated(shared_server: Served):
    server = shared_server
    assert server.upload("tp-cube.gcode", CUBE, path="/api/v1/files").status_code == 201
    answer = server.get("/api/v1/files/tp-cube.gcode/toolpath")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.headers["Cache-Control"] == "no-cache"
    assert answer.headers["X-Toolpath-Layers"] == "99"
    # Far smaller than the file on the wire.
    assert int(answer.headers["Content-Length"]) < len(CUBE) // 20
    layers = decode_layers(answer.content)
    assert len(layers) == 99
    assert layers[0][0] == pytest.approx(0.35)
    tag = answer.headers["ETag"]
    again = server.get("/api/v1/files/tp-cube.gcode/toolpath", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    # A client that takes no gzip gets the same bytes plain.
    plain = server.get(
        "/api/v1/files/tp-cube.gcode/toolpath", headers={"Accept-Encoding": "identity"}
    )
    assert "Content-Encoding" not in plain.headers
    assert plain.content == answer.content


def test_a_replaced_file_gets_a_new_preview(shared_server: Served):
    server = shared_server
    server.upload("tp-replaced.gcode", CUBE, path="/api/v1/files")
    first = server.get("/api/v1/files/tp-replaced.gcode/toolpath")
    assert first.headers["X-Toolpath-Layers"] == "99"
    answer = server.upload("tp-replaced.gcode", SLIC3R, path="/api/v1/files", overwrite="true")
    assert answer.status_code == 201, answer.text
    second = server.get(
        "/api/v1/files/tp-replaced.gcode/toolpath",
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert len(decode_layers(second.content)) == 67


def test_an_uploaded_file_gets_its_preview_without_being_asked(shared_server: Served):
    server = shared_server
    server.upload("tp-ahead.gcode", SLIC3R, path="/api/v1/files")
    record = server.files_dir / ".toolpath" / "tp-ahead.gcode.json"
    server.wait_for(record.exists, 60)
    packed = server.files_dir / ".toolpath" / "tp-ahead.gcode.fftp.gz"
    assert len(decode_layers(gzip.decompress(packed.read_bytes()))) == 67


@pytest.mark.parametrize(
    "path", ["/api/v1/files/tp-deleted.gcode", "/api/files/local/tp-deleted.gcode"]
)
def test_a_deleted_file_leaves_no_preview_behind(shared_server: Served, path: str):
    server = shared_server
    server.upload("tp-deleted.gcode", SLIC3R, path="/api/v1/files")
    assert server.get("/api/v1/files/tp-deleted.gcode/toolpath").status_code == 200
    assert server.delete(path).status_code == 204
    left = [p.name for p in (server.files_dir / ".toolpath").iterdir()]
    assert not [name for name in left if name.startswith("tp-deleted.gcode")]
    assert server.get("/api/v1/files/tp-deleted.gcode/toolpath").status_code == 404


def test_a_missing_file_is_404_and_an_unreadable_one_422(shared_server: Served):
    server = shared_server
    missing = server.get("/api/v1/files/nowhere.gcode/toolpath")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no file 'nowhere.gcode'"}
    # Copied in beside the uploads (a USB stick, a share): PrusaSlicer's binary G-code.
    (server.files_dir / "tp-binary.gcode").write_bytes(b"GCDE" + bytes(range(256)) * 64)
    for _ in range(2):  # the second answer comes from the stored verdict
        refused = server.get("/api/v1/files/tp-binary.gcode/toolpath")
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error.startswith("tp-binary.gcode cannot be previewed: binary G-code")


def test_a_file_without_moves_has_an_empty_preview(shared_server: Served):
    server = shared_server
    server.upload("tp-empty.gcode", b"M104 S0\nM140 S0\n; nothing else\n", path="/api/v1/files")
    answer = server.get("/api/v1/files/tp-empty.gcode/toolpath")
    assert answer.status_code == 200
    assert answer.headers["X-Toolpath-Layers"] == "0"
    assert decode_layers(answer.content) == []


def test_the_running_job_says_its_layer_and_z(server: Served):
    answer = server.upload("tp-job.gcode", CUBE, path="/api/v1/files", print="true")
    assert answer.status_code == 201, answer.text
    seen: set[int] = set()

    def two_layers() -> bool:
        job = server.get("/api/v1/printer").json()["job"]
        if job is not None and job["layer"] is not None:
            assert job["layer_count"] == 99
            assert job["z"] == pytest.approx(0.35 + 0.2 * (job["layer"] - 1), abs=1e-6)
            seen.add(job["layer"])
        return len(seen) >= 2

    server.wait_for(two_layers, 120)
    assert min(seen) >= 1
    server.post("/api/v1/job/cancel")
