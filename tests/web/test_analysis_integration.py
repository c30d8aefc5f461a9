"""G-code analysis after upload: in the background, durable, native and as OctoPrint's.

Written against ``instance.analysis`` (``analyse_file(path) -> GcodeAnalysis`` with
``to_octoprint()`` and ``to_json()``).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from instance.analysis.ckernel import KERNEL_ENV
from instance.analysis.thumbnails import png_rgba
from tests.web.server import GCODE, Served, running_server

pytestmark = pytest.mark.timeout(180)

PRUSA = (GCODE / "cube_prusa_marlin2.gcode").read_bytes()


def analysed(server: Served, name: str, seconds: float = 60.0) -> dict[str, object]:
    def done() -> bool:
        status = server.get(f"/api/v1/files/{name}/analysis").json()["status"]
        assert status in ("pending", "done"), server.get(f"/api/v1/files/{name}/analysis").json()
        return bool(status == "done")

    server.wait_for(done, seconds)
    result: dict[str, object] = server.get(f"/api/v1/files/{name}/analysis").json()
    return result


def analysis_status(server: Served, name: str) -> str:
    status: str = server.get(f"/api/v1/files/{name}/analysis").json()["status"]
    return status


def test_an_upload_is_analysed_and_shown_as_gcode_analysis(shared_server: Served):
    server = shared_server
    assert server.upload("cube.gcode", PRUSA).status_code == 201
    native = analysed(server, "cube.gcode")
    result = native["result"]
    assert isinstance(result, dict)
    assert result["slicer"] == "PrusaSlicer"
    octoprint = server.get("/api/files/local/cube.gcode").json()["gcodeAnalysis"]
    # The slicer's footer: 30m 42s and 1682.58 mm.
    assert octoprint["estimatedPrintTime"] == pytest.approx(1842, rel=0.02)
    assert octoprint["filament"]["tool0"]["length"] == pytest.approx(1682.58, rel=0.01)
    assert set(octoprint["dimensions"]) >= {"width", "depth", "height"}
    assert set(octoprint["printingArea"]) == {"minX", "maxX", "minY", "maxY", "minZ", "maxZ"}
    listed = server.get("/api/files").json()["files"]
    assert next(f for f in listed if f["name"] == "cube.gcode")["gcodeAnalysis"] == octoprint
    server.upload("cube.gcode", PRUSA, print="false")  # a second copy: "cube (2).gcode"
    assert analysed(server, "cube%20%282%29.gcode")["status"] == "done"
    server.delete("/api/files/local/cube.gcode")
    server.delete("/api/files/local/cube%20%282%29.gcode")


def test_the_job_api_shows_the_analysed_estimate_and_filament(fast_server: Served):
    server = fast_server
    assert server.upload("est.gcode", PRUSA, select="true").status_code == 201
    analysed(server, "est.gcode")
    job = server.get("/api/job").json()["job"]
    assert job["estimatedPrintTime"] == pytest.approx(1842, rel=0.02)
    assert job["filament"]["tool0"]["length"] == pytest.approx(1682.58, rel=0.01)


def test_a_print_starts_at_once_while_a_big_file_is_still_being_analysed(tmp_path: Path):
    # The pure-Python kernel: the big file's analysis takes seconds (the C kernel needs
    # a fraction of one), so it is surely still running when the print's lines flow.
    with running_server(
        tmp_path, sim_args=("--fault", "slow_planner:delay=0.01"), env={KERNEL_ENV: "python"}
    ) as server:
        big = PRUSA * 30  # about 19 MB
        assert server.upload("big.gcode", big).status_code == 201
        assert server.upload("now.gcode", PRUSA).status_code == 201
        assert server.post("/api/v1/job", json={"file": "now.gcode"}).status_code == 201
        assert server.state() == "printing"

        def lines_acknowledged() -> bool:
            job = server.get("/api/v1/printer").json()["job"]
            return job is not None and job["file"] == "now.gcode" and job["lines_done"] > 0

        server.wait_for(lines_acknowledged, 60)
        # The printer is taking the file's lines while the big file is still being
        # analysed (one analysis at a time: now.gcode's own waits behind it): the print
        # waited for neither analysis.
        assert analysis_status(server, "big.gcode") == "pending"
        assert analysis_status(server, "now.gcode") == "pending"
        assert server.state() == "printing"
        server.post("/api/v1/job/cancel")
        server.wait_state("bed not cleared")


def test_the_analysis_is_kept_across_a_restart_and_redone_for_a_replaced_file(tmp_path: Path):
    with running_server(tmp_path) as server:
        assert server.upload("keep.gcode", PRUSA).status_code == 201
        first = analysed(server, "keep.gcode")
    with running_server(tmp_path) as server:
        again = server.get("/api/v1/files/keep.gcode/analysis").json()
        assert again["status"] == "done"
        assert again["analysed_at"] == first["analysed_at"]
        head = PRUSA[: len(PRUSA) // 2]
        assert server.upload("keep.gcode", head, overwrite="true").status_code == 201
        redone = analysed(server, "keep.gcode")
        assert redone["analysed_at"] != first["analysed_at"]
        result = redone["result"]
        assert isinstance(result, dict)
        assert result != first["result"]


def test_embedded_thumbnails_are_served_as_images(shared_server: Served):
    server = shared_server
    image = png_rgba(2, 2, bytes([255, 0, 0, 255]) * 4)
    encoded = base64.b64encode(image).decode()
    head = f"; thumbnail begin 2x2 {len(encoded)}\n; {encoded}\n; thumbnail end\n".encode()
    assert server.upload("thumb.gcode", head + PRUSA[:20000]).status_code == 201
    result = analysed(server, "thumb.gcode")["result"]
    assert isinstance(result, dict)
    assert [(t["width"], t["height"], t["format"]) for t in result["thumbnails"]] == [(2, 2, "png")]
    picture = server.get("/api/v1/files/thumb.gcode/thumbnails/0")
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/png"
    assert picture.content == image
    missing = server.get("/api/v1/files/thumb.gcode/thumbnails/1")
    assert missing.status_code == 404
    assert missing.json() == {"error": "thumb.gcode has no thumbnail 1"}
    server.delete("/api/v1/files/thumb.gcode")
    assert server.get("/api/v1/files/thumb.gcode/thumbnails/0").status_code == 404
