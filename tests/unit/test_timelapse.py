"""When timelapse frames are due, what the record says, which videos retention deletes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from instance.analysis.toolpath import LayerIndex
from instance.machine_state import MachineState
from instance.park import ParkMove, parse_park_gcode
from instance.scripts import JobScripts
from instance.timelapse import notes
from instance.timelapse.assemble import AssemblyError, assemble, fps_for
from instance.timelapse.due import IntervalFrames, LayerFrames
from instance.timelapse.retention import MB, limit_text, to_delete
from instance.timelapse.settings import TimelapseSettings, parse_choice, parse_mode
from instance.web.config import ConfigError, load_config

# Three layers starting at bytes 100, 250 and 400 of the file.
INDEX = LayerIndex((100, 250, 400), (0.2, 0.4, 0.6))


def test_a_layer_frame_is_due_when_its_first_line_is_acknowledged() -> None:
    frames = LayerFrames(INDEX)
    # The start G-code, then the line that ends at layer 1's start: not yet under way.
    assert [frames.acknowledged(done) for done in (20, 60, 100)] == [None, None, None]
    # The first line of layer 1 acknowledged (it ends past the layer's start).
    assert frames.acknowledged(130) == 1
    assert [frames.acknowledged(done) for done in (180, 250)] == [None, None]
    assert frames.acknowledged(290) == 2
    assert frames.acknowledged(420) == 3
    # Past the last layer's start: no more frames, however long the last layer is.
    assert [frames.acknowledged(done) for done in (500, 900)] == [None, None]
    assert frames.layer == 3


def test_an_index_known_late_gives_the_current_layer_one_frame() -> None:
    frames = LayerFrames(INDEX)
    assert frames.acknowledged(300) == 2  # layer 1 went by unseen
    assert frames.acknowledged(320) is None


def test_agrees_with_the_layer_index_placing_a_running_job() -> None:
    frames = LayerFrames(INDEX)
    due = {done: frames.acknowledged(done) for done in range(0, 600, 7)}
    began = [done for done, layer in due.items() if layer is not None]
    for done in began:
        place = INDEX.at(done)
        assert place is not None and place[0] == due[done]
        assert INDEX.at(done - 7) is None or INDEX.at(done - 7) != place  # a new layer


def test_interval_frames_are_due_every_n_seconds_and_never_in_a_burst() -> None:
    frames = IntervalFrames(10.0, start=100.0)
    assert frames.due(100.0)  # a frame at the start
    assert not frames.due(105.0)
    assert frames.wait(105.0) == 5.0
    assert frames.due(110.0)
    # The loop was late by 35 s (a busy host): one frame, then the next on the grid.
    assert frames.due(145.0)
    assert not frames.due(146.0)
    assert frames.wait(146.0) == 4.0
    with pytest.raises(ValueError, match="positive"):
        IntervalFrames(0, 0)


def test_the_record_notes_a_camera_gone_and_back() -> None:
    tally = notes.FrameTally("layer")
    for layer in (1, 2, 3):
        tally.taken(f"layer {layer}")
    for layer in (4, 5):
        tally.missing(f"layer {layer}", "camera unreachable: ClientConnectorError")
    tally.taken("layer 6")
    record = tally.record(notes.ASSEMBLING)
    assert record == {
        "state": "assembling",
        "mode": "layer",
        "frames": 4,
        "missed": 2,
        "notes": [
            "camera gone at layer 4 (camera unreachable: ClientConnectorError), back at"
            " layer 6; 2 frames missed, the video is shorter"
        ],
        "video": None,
    }
    notes.video_ready(record, "job-7.mp4", 123_456, 4, 2)
    assert record["state"] == "ready"
    assert record["video"] == {
        "file": "job-7.mp4", "size": 123_456, "frames": 4, "fps": 2, "duration_s": 2.0,
    }  # fmt: skip
    notes.deleted(record, "video deleted to keep this printer's newest 2 videos")
    assert record["state"] == "deleted" and record["video"]["frames"] == 4
    assert record["notes"][-1] == "video deleted to keep this printer's newest 2 videos"


def test_the_record_notes_skipped_and_unindexed_frames() -> None:
    tally = notes.FrameTally("layer", frames=10, dropped=1, unindexed=3)
    assert tally.notes() == [
        "1 frame skipped: the camera answered slower than the layers came",
        "the file's layers were not known yet for the first 3 layers: no frame for them",
    ]
    assert tally.record(notes.READY)["missed"] == 1


def test_retention_deletes_the_oldest_past_either_limit() -> None:
    videos = [(1, 10 * MB), (2, 30 * MB), (3, 20 * MB), (4, 5 * MB)]
    assert to_delete(videos, keep_videos=2, keep_mb=0) == [1, 2]
    assert to_delete(videos, keep_videos=0, keep_mb=40) == [1, 2]
    assert to_delete(videos, keep_videos=0, keep_mb=0) == []
    assert to_delete(videos, keep_videos=3, keep_mb=50) == [1, 2]
    assert to_delete(videos, keep_videos=3, keep_mb=60) == [1]
    # The newest video stays even when it alone is over the size limit.
    assert to_delete([(9, 500 * MB)], keep_videos=0, keep_mb=100) == []
    assert limit_text(2, 0) == "2 videos"
    assert limit_text(1, 500) == "1 video or 500 MB"


def test_a_job_choice_over_the_printer_default() -> None:
    layer = TimelapseSettings("http://camera:8080/snapshot", "layer")
    off = TimelapseSettings("http://camera:8080/snapshot", "off")
    interval = TimelapseSettings("http://camera:8080/snapshot", "interval")
    assert [layer.mode_for(c) for c in (None, True, False)] == ["layer", "layer", "off"]
    # Asked for on a printer whose default is off: a frame per layer.
    assert [off.mode_for(c) for c in (None, True, False)] == ["off", "layer", "off"]
    assert interval.mode_for(True) == "interval"
    assert parse_choice(" ON ") is True and parse_choice("off") is False
    with pytest.raises(ValueError, match="must be on or off, not 'sometimes'"):
        parse_choice("sometimes")
    with pytest.raises(ValueError, match="must be off, layer or interval"):
        parse_mode("every layer")


def test_fps_gives_short_jobs_a_watchable_video() -> None:
    assert [fps_for(n) for n in (1, 6, 50, 120, 250, 5000)] == [2, 2, 5, 12, 25, 25]


def test_serve_refuses_a_timelapse_without_a_snapshot_url(tmp_path: Path) -> None:
    given = {"port": "/dev/null", "data_dir": str(tmp_path), "timelapse": "layer"}
    with pytest.raises(ConfigError, match="--timelapse layer needs --camera-snapshot-url"):
        load_config(given, {}, None)
    with pytest.raises(ConfigError, match="is not an http:// URL"):
        load_config({**given, "camera_snapshot_url": "camera-top/snapshot"}, {}, None)
    config = load_config(
        {**given, "camera_snapshot_url": "http://camera-top:8080/snapshot",
         "timelapse_keep_mb": "500"}, {}, None,
    )  # fmt: skip
    settings = config.timelapse_settings()
    assert settings is not None
    assert (settings.mode, settings.keep_videos, settings.keep_mb) == ("layer", 20, 500)


def test_without_ffmpeg_the_record_says_so_and_keeps_the_frames(tmp_path: Path) -> None:
    (tmp_path / "000001.jpg").write_bytes(b"\xff\xd8 not much of a frame")
    with pytest.raises(AssemblyError) as refused:
        asyncio.run(assemble(tmp_path, 1, tmp_path / "out.mp4", ffmpeg="ffmpeg-not-here"))
    record = notes.FrameTally("layer", frames=1).record(notes.ASSEMBLING)
    notes.no_video(record, str(refused.value))
    assert record["state"] == "no video"
    assert record["notes"] == [
        f"ffmpeg is not installed on the print server: no video made; the 1 frames are kept"
        f" in {tmp_path}"
    ]
    assert (tmp_path / "000001.jpg").exists() and not (tmp_path / "out.mp4").exists()


def test_a_failing_ffmpeg_is_a_note_not_a_crash(tmp_path: Path) -> None:
    # Debian's ffmpeg, given a frame that is no JPEG at all.
    (tmp_path / "000001.jpg").write_bytes(b"this is not an image")
    with pytest.raises(AssemblyError, match=r"^ffmpeg failed \(exit \d+: .+\); the frames"):
        asyncio.run(assemble(tmp_path, 1, tmp_path / "out.mp4"))
    assert not list(tmp_path.glob("out.mp4*"))


def test_park_gcode_is_checked_line_by_line_and_renders_a_way_back() -> None:
    assert parse_park_gcode("G1 Z{z+2} F600 | G1 X0 Y200 F6000\n") == (
        "G1 Z{z+2} F600",
        "G1 X0 Y200 F6000",
    )
    assert parse_park_gcode("  ") == ()
    for text, says in (
        ("G91|G1 Z{height}", r"line 2: .*unknown placeholder \{height\}"),
        ("G1 Z5 ; up", r"line 1: .*no comments"),
        ("N10 G1 Z5", r"line 1: .*no line number"),
        ("G1 Z5*77", r"line 1: .*checksums"),
        ("G1 Z5\nG1 X$PARK", r"line 2: .*no \$ or \|"),
    ):
        with pytest.raises(ValueError, match=says):
            parse_park_gcode(text)
    machine = MachineState(feed_rate=1200.0)
    machine.position.update({"X": 10.0, "Y": 10.0, "Z": 0.6, "E": 6.0})
    move = ParkMove(("G1 Z{z+2} F600", "G1 X0 Y200 F6000"))
    assert move.commands(JobScripts(), machine) == (
        ["G1 Z2.6 F600", "G1 X0 Y200 F6000", "M400"],
        ["G90", "G1 X10 Y10 F6000", "G1 Z0.6 F600", "G92 E6", "G90", "M82", "G1 F1200"],
    )
    # A head whose place is not known is not moved: it could not be put back.
    assert move.commands(JobScripts(), MachineState()) is None


def test_serve_takes_park_gcode_for_layer_frames_only(tmp_path: Path) -> None:
    given = {"port": "/dev/null", "data_dir": str(tmp_path), "timelapse": "layer",
             "camera_snapshot_url": "http://camera-top:8080/snapshot"}  # fmt: skip
    settings = load_config(given, {}, None).timelapse_settings()
    assert settings is not None and settings.park == ()  # off by default
    env = {"FABFLEET_TIMELAPSE_PARK_GCODE": "G1 Z{z+2} F600|G1 X0 Y200 F6000"}
    settings = load_config(given, env, None).timelapse_settings()
    assert settings is not None and settings.park == ("G1 Z{z+2} F600", "G1 X0 Y200 F6000")
    with pytest.raises(ConfigError, match="FABFLEET_TIMELAPSE_PARK_GCODE: park G-code line 1"):
        load_config(given, {"FABFLEET_TIMELAPSE_PARK_GCODE": "G1 Z{up}"}, None)
    with pytest.raises(ConfigError, match="interval mode never parks"):
        load_config({**given, "timelapse": "interval"}, env, None)
    with pytest.raises(ConfigError, match="needs --camera-snapshot-url"):
        load_config({"port": "/dev/null", "data_dir": str(tmp_path)}, env, None)
