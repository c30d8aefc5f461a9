"""Timelapses on a real print server and simulator, frames from a real HTTP camera.

The camera is tests/camera_stand_in.py: real JPEGs over HTTP, and a port that closes when
it "goes away". The videos are Debian's ffmpeg's, read back by its ffprobe.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.camera_stand_in import StandInCamera, layered_gcode, probe_video, stand_in_camera
from tests.web.server import Served, running_server

LAYERS = 6


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInCamera]:
    with stand_in_camera(tmp_path_factory.mktemp("camera")) as found:
        yield found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, camera: StandInCamera) -> Iterator[Served]:
    """A print server whose default is a frame per layer, keeping 2 videos."""
    with running_server(
        tmp_path_factory.mktemp("timelapse"),
        "--camera-snapshot-url", camera.url, "--timelapse", "layer",
        "--timelapse-keep-videos", "2",
        sim_args=("--fault", "slow_planner:delay=0.01"),
    ) as server:  # fmt: skip
        yield server


def upload(served: Served, name: str, content: bytes) -> None:
    """Stored, and its layer index built (a start right after an upload may not have it)."""
    answer = served.post("/api/v1/files", files={"file": (name, content)})
    assert answer.status_code == 201, answer.text
    served.wait_for(lambda: served.get(f"/api/v1/files/{name}/toolpath").status_code == 200)


def print_job(served: Served, name: str, **choice: Any) -> dict[str, Any]:
    """Print ``name``; its record once the timelapse is settled (no longer being made)."""
    if served.state() != "ready":
        assert served.post("/api/v1/bed/clear").status_code == 200
    started = served.post("/api/v1/job", json={"file": name, **choice})
    assert started.status_code == 201, started.text
    job = started.json()["job"]

    def settled() -> bool:
        record = served.get(f"/api/v1/history/{job}").json()
        timelapse = record["timelapse"]
        return record["outcome"] is not None and (
            timelapse is None or timelapse["state"] not in ("capturing", "assembling")
        )

    served.wait_for(settled, seconds=60)
    record: dict[str, Any] = served.get(f"/api/v1/history/{job}").json()
    return record


def fetch_video(served: Served, job: int, tmp_path: Path) -> Path:
    answer = served.get(f"/api/v1/history/{job}/timelapse.mp4")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "video/mp4"
    path = tmp_path / f"job-{job}.mp4"
    path.write_bytes(answer.content)
    return path


def test_a_frame_per_layer_makes_a_playable_video(
    served: Served, camera: StandInCamera, tmp_path: Path
) -> None:
    upload(served, "layers.gcode", layered_gcode(LAYERS))
    record = print_job(served, "layers.gcode")
    assert record["outcome"] == "completed"
    timelapse = record["timelapse"]
    assert (timelapse["state"], timelapse["mode"]) == ("ready", "layer"), timelapse
    assert (timelapse["frames"], timelapse["missed"], timelapse["notes"]) == (LAYERS, 0, [])
    video = timelapse["video"]
    assert video["frames"] == LAYERS and video["duration_s"] > 0
    seen = probe_video(fetch_video(served, record["id"], tmp_path))
    assert seen["frames"] == LAYERS
    assert (seen["codec"], seen["pix_fmt"]) == ("h264", "yuv420p")
    assert seen["duration"] > 0
    # A player seeks with ranges; the frames are gone once the video is made.
    part = served.get(
        f"/api/v1/history/{record['id']}/timelapse.mp4", headers={"Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["Content-Range"] == f"bytes 0-99/{video['size']}"
    assert not (served.data_dir / "timelapse" / f"job-{record['id']}").exists()


def test_a_camera_gone_mid_job_leaves_a_shorter_video_and_a_note(
    served: Served, camera: StandInCamera, tmp_path: Path
) -> None:
    camera.frames_left = 3
    record = print_job(served, "layers.gcode")
    # The print never noticed.
    assert record["outcome"] == "completed"
    timelapse = record["timelapse"]
    assert timelapse["state"] == "ready"
    assert (timelapse["frames"], timelapse["missed"]) == (3, LAYERS - 3)
    [note] = timelapse["notes"]
    assert note.startswith("camera gone at layer 4 (")
    assert note.endswith(f"{LAYERS - 3} frames missed, the video is shorter")
    assert probe_video(fetch_video(served, record["id"], tmp_path))["frames"] == 3


def test_with_the_camera_gone_from_the_start_a_job_has_no_video_and_says_why(
    served: Served, camera: StandInCamera
) -> None:
    assert camera.gone.is_set()
    record = print_job(served, "layers.gcode", timelapse="on")
    assert record["outcome"] == "completed"
    timelapse = record["timelapse"]
    assert (timelapse["state"], timelapse["frames"]) == ("no video", 0)
    assert timelapse["notes"][-1] == "no frame was captured: no video"
    refused = served.get(f"/api/v1/history/{record['id']}/timelapse.mp4")
    assert refused.status_code == 404
    assert "no frame was captured" in refused.json()["error"]


def test_retention_keeps_the_newest_videos_and_notes_the_deleted(
    served: Served, camera: StandInCamera
) -> None:
    camera.come_back()
    newest = print_job(served, "layers.gcode")
    assert newest["timelapse"]["state"] == "ready"
    jobs = [j for j in served.get("/api/v1/history").json()["jobs"] if j["timelapse"]]
    # Oldest first: two videos, the job without one, the newest; 2 videos are kept.
    states = [j["timelapse"]["state"] for j in reversed(jobs)]
    assert states == ["deleted", "ready", "no video", "ready"], states
    oldest = jobs[-1]
    assert oldest["timelapse"]["video"]["frames"] == LAYERS  # what it was stays
    assert "to keep this printer's newest 2 videos" in oldest["timelapse"]["notes"][-1]
    gone = served.get(f"/api/v1/history/{oldest['id']}/timelapse.mp4")
    assert gone.status_code == 404 and "deleted" in gone.json()["error"]
    assert not (served.data_dir / "timelapse" / f"job-{oldest['id']}.mp4").exists()
    for kept in (jobs[0], jobs[2]):
        assert served.get(f"/api/v1/history/{kept['id']}/timelapse.mp4").status_code == 200


def test_a_job_chooses_no_timelapse_and_a_bad_choice_is_refused(served: Served) -> None:
    record = print_job(served, "layers.gcode", timelapse="off")
    assert (record["outcome"], record["timelapse"]) == ("completed", None)
    served.post("/api/v1/bed/clear")
    refused = served.post(
        "/api/v1/files",
        files={"file": ("again.gcode", layered_gcode(2))},
        data={"print": "true", "timelapse": "maybe"},
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "timelapse must be on or off, not 'maybe'"
    # Nothing was stored or started.
    assert served.get("/api/v1/files/again.gcode").status_code == 404
    assert served.state() == "ready"


def test_a_file_without_layers_gets_a_note_not_frames(served: Served) -> None:
    # Travel moves only: nothing is extruded, so the file has no layers to film.
    travel = (f"G0 X{10 + i} Y10 Z{i * 0.2:.1f}\n".encode() for i in range(20))
    moves = b"G28\nG90\n" + b"".join(travel)
    answer = served.post("/api/v1/files", files={"file": ("moves.gcode", moves)})
    assert answer.status_code == 201
    served.wait_for(lambda: served.get("/api/v1/files/moves.gcode/toolpath").status_code != 503)
    record = print_job(served, "moves.gcode", timelapse="on")
    assert record["outcome"] == "completed"
    timelapse = record["timelapse"]
    assert (timelapse["state"], timelapse["frames"]) == ("no video", 0)
    assert timelapse["notes"] == [
        "the file's layers were never known (no toolpath preview of it, or nothing extruded):"
        " no layer frames; interval mode films any file",
        "no frame was captured: no video",
    ]


def test_interval_mode_takes_a_frame_every_n_seconds(camera: StandInCamera, tmp_path: Path) -> None:
    with running_server(
        tmp_path, "--camera-snapshot-url", camera.url, "--timelapse", "interval",
        "--timelapse-interval", "0.5", sim_args=("--fault", "slow_planner:delay=0.05"),
    ) as server:  # fmt: skip
        if camera.gone.is_set():
            camera.come_back()
        upload(server, "layers.gcode", layered_gcode(LAYERS, moves_per_layer=4))
        record = print_job(server, "layers.gcode")
        took = record["ended_at"] - record["started_at"]
        timelapse = record["timelapse"]
        assert (timelapse["state"], timelapse["mode"], timelapse["missed"]) == (
            "ready", "interval", 0,
        )  # fmt: skip
        # The first frame at the start, then one every 0.5 s until the end.
        assert abs(timelapse["frames"] - (1 + took // 0.5)) <= 1, (timelapse, took)
        assert timelapse["frames"] >= 3
        assert (
            probe_video(fetch_video(server, record["id"], tmp_path))["frames"]
            == (timelapse["frames"])
        )
