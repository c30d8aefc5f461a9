"""What a timelapse costs: the print's slowdown, the print server's CPU, the video's size.

The same real slicer file (tests/fixtures/gcode) prints on the same simulator (accelerated
moves, ``--time-factor``) through two print servers, one with a camera and a frame per
layer, one without; the runs alternate. The camera is tests/camera_stand_in.py serving
ffmpeg test-pattern JPEGs over real HTTP. Measured per run:

- **print duration**: the job record's end minus its start;
- **print server CPU**: user + system seconds of the server process from the start of the
  job to its end (its children excluded), and its children's from the start of the job
  until the video is made (ffmpeg, and the analysis worker a start may run: the run
  without a timelapse shows that part);
- **video**: bytes, frames, bytes per frame.

Then the **video size per hour of print**: the file's layers per hour of the slicer's own
estimate (layer mode) and 3600 / interval frames (interval mode), times the bytes per frame
of videos assembled from a static scene and from a moving one (ffmpeg's testsrc and
testsrc2 at 1280x720), the two ends of what a camera over a printer sees.

    python -m bench.timelapse [--file cube_prusa_marlin2.gcode] [--runs 3]
                              [--time-factor 60] [--interval 10] [--json out.json]
                              [--park 'G1 Z{z+2} F600|G1 X0 Y200 F6000']

With ``--park`` the print server with the timelapse parks the head for each layer's frame
(docs/timelapse.md#the-park-move): the duration it adds per park is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.simproc import BENCH_PRINTER, simulator
from instance.analysis.toolpath import build_toolpath, layer_index
from instance.timelapse.assemble import assemble
from tests.camera_stand_in import jpeg_frames, stand_in_camera
from tests.web.server import GCODE, Served, start_server

TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024
FRAME_SIZE = "1280x720"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own user + system seconds, its reaped children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / TICKS
    children = (int(fields[13]) + int(fields[14])) / TICKS
    return own, children


def slicer_hours(path: Path) -> float:
    text = path.read_text(errors="replace")
    found = re.search(r"estimated printing time \(normal mode\) = (?:(\d+)h )?(\d+)m (\d+)s", text)
    if found is None:
        raise SystemExit(f"{path.name} has no PrusaSlicer estimate")
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return hours + minutes / 60 + seconds / 3600


def one_print(served: Served, name: str) -> dict[str, Any]:
    if served.state() != "ready":
        assert served.post("/api/v1/bed/clear").status_code == 200
    pid = served.process.pid
    before, children_before = cpu_seconds(pid)
    started = served.post("/api/v1/job", json={"file": name})
    assert started.status_code == 201, started.text
    job = started.json()["job"]
    served.wait_for(lambda: served.get(f"/api/v1/history/{job}").json()["outcome"], 3600)
    after, _ = cpu_seconds(pid)

    def settled() -> bool:
        timelapse = served.get(f"/api/v1/history/{job}").json()["timelapse"]
        return timelapse is None or timelapse["state"] not in ("capturing", "assembling")

    served.wait_for(settled, 600)
    _, children_after = cpu_seconds(pid)
    record = served.get(f"/api/v1/history/{job}").json()
    assert record["outcome"] == "completed", record
    timelapse = record["timelapse"] or {}
    video = timelapse.get("video") or {}
    return {
        "duration_s": record["ended_at"] - record["started_at"],
        "server_cpu_s": after - before,
        "children_cpu_s": children_after - children_before,
        "frames": timelapse.get("frames", 0),
        "missed": timelapse.get("missed", 0),
        "notes": timelapse.get("notes", []),
        "video_bytes": video.get("size", 0),
    }


def stored(served: Served, name: str, content: bytes) -> None:
    """Uploaded, and its layer index built before the print (every layer gets its frame)."""
    assert served.upload(name, content, path="/api/v1/files").status_code == 201

    def built() -> bool:
        return served.get(f"/api/v1/files/{name}/toolpath").status_code == 200

    served.wait_for(built, 120)


def bytes_per_frame(work: Path, source: str, count: int) -> tuple[float, float]:
    """Bytes per frame of a video of ``count`` frames of ``source``, and ffmpeg's CPU s/frame."""
    folder = work / f"assemble-{source}"
    folder.mkdir()
    for number, jpeg in enumerate(jpeg_frames(work, count, FRAME_SIZE, source), 1):
        (folder / f"{number:06d}.jpg").write_bytes(jpeg)
    children = os.times()
    video = asyncio.run(assemble(folder, count, work / f"{source}.mp4"))
    spent = os.times()
    cpu = (spent.children_user - children.children_user) + (
        spent.children_system - children.children_system
    )
    return video.size / count, cpu / count


def spread(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    low, high, middle = min(values), max(values), statistics.median(values)
    return f"{middle:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--file", default="cube_prusa_marlin2.gcode")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-factor", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--park",
        default="",
        help="the park G-code of the print server with the timelapse, lines separated by |"
        " (e.g. 'G1 Z{z+2} F600|G1 X0 Y200 F6000'); default: no park move",
    )
    arguments = parser.parse_args()
    park = ("--timelapse-park-gcode", arguments.park) if arguments.park else ()
    source = GCODE / arguments.file
    layers = len(layer_index(build_toolpath(source)).offsets)
    hours = slicer_hours(source)
    sim_args = (*BENCH_PRINTER, "--move-timing", "accelerated",
                "--time-factor", f"{arguments.time_factor:g}")  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="fabfleet-bench-timelapse-") as tmp:
        work = Path(tmp)
        moving = jpeg_frames(work, 60, FRAME_SIZE, "testsrc2")
        (work / "on").mkdir()
        (work / "off").mkdir()
        with (
            stand_in_camera(work, jpegs=moving) as camera,
            simulator(work / "on", *sim_args) as sim_on,
            simulator(work / "off", *sim_args) as sim_off,
        ):
            servers = {
                "with": start_server(sim_on, work / "on" / "data", "--camera-snapshot-url",
                                     camera.url, "--timelapse", "layer", *park, key=None),
                "without": start_server(sim_off, work / "off" / "data", key=None),
            }  # fmt: skip
            try:
                for served in servers.values():
                    stored(served, arguments.file, source.read_bytes())
                for run in range(arguments.runs):
                    for mode in ("without", "with") if run % 2 == 0 else ("with", "without"):
                        found = one_print(servers[mode], arguments.file)
                        results[mode].append(found)
                        print(f"run {run + 1} {mode:7}: {json.dumps(found)}", flush=True)
            finally:
                for served in servers.values():
                    served.process.terminate()
                    served.process.wait(timeout=30)
        static_bpf, static_cpu = bytes_per_frame(work, "testsrc", 120)
        moving_bpf, moving_cpu = bytes_per_frame(work, "testsrc2", 120)
    with_runs, without_runs = results["with"], results["without"]
    ratios = [
        w["duration_s"] / o["duration_s"] for w, o in zip(with_runs, without_runs, strict=True)
    ]
    # Layer 1's frame is never parked.
    added = [
        (w["duration_s"] - o["duration_s"]) / max(1, layers - 1)
        for w, o in zip(with_runs, without_runs, strict=True)
    ]
    layer_frames_per_hour = layers / hours
    interval_frames_per_hour = 3600 / arguments.interval
    summary = {
        "file": arguments.file,
        "layers": layers,
        "slicer_hours": round(hours, 3),
        "time_factor": arguments.time_factor,
        "runs": arguments.runs,
        "duration_s": {m: spread([r["duration_s"] for r in results[m]]) for m in results},
        "slowdown_ratio": spread(ratios, 3),
        "park": arguments.park or None,
        "added_s_per_park": spread(added, 3) if arguments.park else None,
        "server_cpu_s": {m: spread([r["server_cpu_s"] for r in results[m]]) for m in results},
        "children_cpu_s": {m: spread([r["children_cpu_s"] for r in results[m]]) for m in results},
        "frames": [r["frames"] for r in with_runs],
        "missed": [r["missed"] for r in with_runs],
        "video_bytes": [r["video_bytes"] for r in with_runs],
        "bytes_per_frame_720p": {"static": round(static_bpf), "moving": round(moving_bpf)},
        "ffmpeg_cpu_s_per_frame_720p": {
            "static": round(static_cpu, 4),
            "moving": round(moving_cpu, 4),
        },
        "layer_frames_per_hour": round(layer_frames_per_hour, 1),
        "mb_per_print_hour": {
            "layer": [round(layer_frames_per_hour * b / MB, 2) for b in (static_bpf, moving_bpf)],
            f"interval_{arguments.interval:g}s": [
                round(interval_frames_per_hour * b / MB, 2) for b in (static_bpf, moving_bpf)
            ],
        },
    }
    print(json.dumps(summary, indent=1))
    if arguments.json is not None:
        arguments.json.write_text(json.dumps({"summary": summary, "runs": results}, indent=1))


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"bench.timelapse took {time.monotonic() - started:.0f} s")
