"""A camera's snapshot URL on 127.0.0.1: real JPEGs (made by Debian's ffmpeg) over real HTTP.

It answers ``GET /snapshot`` like ustreamer does; after ``frames_left`` answers it goes
away as an unplugged camera's container would: its port closes, the next GET is refused.
Used by tests/web/test_timelapse.py and bench/timelapse.py.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def jpeg_frames(
    directory: Path, count: int = 1, size: str = "320x240", source: str = "testsrc"
) -> list[bytes]:
    """``count`` real JPEG frames of ffmpeg's test pattern ``source`` (testsrc2 moves more)."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None, "ffmpeg is in the test set of scripts/bootstrap"
    folder = directory / f"frames-{source}-{size}-{count}"
    folder.mkdir(exist_ok=True)
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{source}=size={size}:rate=5",
         "-frames:v", str(count), "-q:v", "5", str(folder / "%06d.jpg")],
        check=True, timeout=120,
    )  # fmt: skip
    return [path.read_bytes() for path in sorted(folder.glob("*.jpg"))]


class StandInCamera:
    """The camera: its snapshot URL, frames served, when it is to go away, and back again."""

    def __init__(self, jpegs: list[bytes], frames_left: int | None) -> None:
        # Served in turn, one per GET.
        self.jpegs = jpegs
        self.served = 0
        # Answers left before the camera goes away; None: never.
        self.frames_left = frames_left
        self.gone = threading.Event()
        # Called (in the server's thread) as each GET arrives: a test notes what was so then.
        self.on_get: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._start()
        self.url = f"http://127.0.0.1:{self._port}/snapshot"

    def _start(self) -> None:
        camera = self

        class Snapshot(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/snapshot":
                    self.send_error(404)
                    return
                if camera.on_get is not None:
                    camera.on_get()
                with camera._lock:
                    if camera.frames_left is not None and camera.frames_left <= 0:
                        camera.go_away()
                        self.close_connection = True
                        return
                    if camera.frames_left is not None:
                        camera.frames_left -= 1
                    jpeg = camera.jpegs[camera.served % len(camera.jpegs)]
                    camera.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(jpeg)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(jpeg)  # a client that gave up (a cancelled job)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Snapshot)
        server.daemon_threads = True
        self._port = int(server.server_address[1])
        self._server = server
        self.gone.clear()
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def go_away(self) -> None:
        """Close the port, as an unplugged camera's container does."""
        self.gone.set()
        server, self._server = self._server, None
        if server is not None:
            # From a thread of its own: shutdown() waits for the loop a handler runs in.
            threading.Thread(target=_close, args=(server,), daemon=True).start()

    def come_back(self) -> None:
        """The same URL answers again (its container started anew)."""
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.frames_left = None
        self._start()

    def close(self) -> None:
        self.go_away()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _close(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@contextmanager
def stand_in_camera(
    directory: Path, frames_left: int | None = None, jpegs: list[bytes] | None = None
) -> Iterator[StandInCamera]:
    camera = StandInCamera(jpegs or jpeg_frames(directory), frames_left)
    try:
        yield camera
    finally:
        camera.close()


def layered_gcode(layers: int, moves_per_layer: int = 3) -> bytes:
    """A small part of ``layers`` layers of 0.2 mm, each a few extruding moves."""
    lines = ["; a layered test part", "G28", "G90", "M82", "G92 E0"]
    extruded = 0.0
    corners = ((30, 10), (30, 30), (10, 30), (10, 10))
    for layer in range(1, layers + 1):
        lines += [f"G1 Z{0.2 * layer:.1f} F3000", "G1 X10 Y10 F6000"]
        for n in range(moves_per_layer):
            x, y = corners[n % len(corners)]
            extruded += 1
            lines.append(f"G1 X{x} Y{y} E{extruded:.1f} F1200")
    return ("\n".join(lines) + "\nM400\n").encode()


def probe_video(video: Path) -> dict[str, Any]:
    """ffprobe's count of the video's frames (decoded), its codec, pixel format, duration."""
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None, "ffprobe comes with ffmpeg (scripts/bootstrap)"
    out = subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,pix_fmt,nb_read_frames:format=duration", "-of", "json", str(video)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    found = json.loads(out)
    stream = found["streams"][0]
    return {
        "frames": int(stream["nb_read_frames"]),
        "codec": stream["codec_name"],
        "pix_fmt": stream["pix_fmt"],
        "duration": float(found["format"]["duration"]),
    }
