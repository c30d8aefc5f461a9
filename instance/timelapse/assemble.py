"""The video: Debian's ffmpeg turns a job's frames into an H.264 MP4, niced, with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# Lower priority than the print server's own loop: the printer never waits for a video.
NICENESS = 10
# The timeout: this, plus this much per frame (a Raspberry Pi 4 encodes 720p at ~10 fps).
BASE_TIMEOUT = 60.0
PER_FRAME = 0.5


@dataclass(frozen=True, slots=True)
class Video:
    path: Path
    size: int
    frames: int
    fps: int


class AssemblyError(Exception):
    """No video; the message says why in a user's words."""


def fps_for(frames: int) -> int:
    """Frames per second: a video of about 10 s until it reaches 25 fps (2 fps at least)."""
    return max(2, min(25, frames // 10))


def ffmpeg_command(ffmpeg: str, frames: Path, fps: int, out: Path) -> list[str]:
    return [
        ffmpeg, "-nostdin", "-y", "-loglevel", "error",
        "-framerate", str(fps), "-i", str(frames / "%06d.jpg"),
        # H.264 in the pixel format every player takes, even sizes as yuv420p needs.
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
        "-threads", "2", "-movflags", "+faststart", "-f", "mp4", str(out),
    ]  # fmt: skip


def _lower_priority() -> None:
    os.nice(NICENESS)


async def assemble(frames: Path, count: int, out: Path, ffmpeg: str = "ffmpeg") -> Video:
    """``out`` made from ``count`` frames ``frames/000001.jpg``…; :class:`AssemblyError`."""
    program = shutil.which(ffmpeg)
    if program is None:
        raise AssemblyError(
            f"ffmpeg is not installed on the print server: no video made; the {count} frames"
            f" are kept in {frames}"
        )
    fps = fps_for(count)
    partial = out.with_name(out.name + ".part")
    timeout = BASE_TIMEOUT + PER_FRAME * count
    process = await asyncio.create_subprocess_exec(
        *ffmpeg_command(program, frames, fps, partial),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_lower_priority,
    )
    try:
        async with asyncio.timeout(timeout):
            _, errors = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise AssemblyError(
            f"ffmpeg took longer than {timeout:.0f} s: no video; the frames are kept in {frames}"
        ) from None
    if process.returncode != 0:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        lines = errors.decode(errors="replace").strip().splitlines()
        said = lines[-1] if lines else "no message"
        raise AssemblyError(
            f"ffmpeg failed (exit {process.returncode}: {said}); the frames are kept in {frames}"
        )
    os.replace(partial, out)
    size = (await asyncio.to_thread(out.stat)).st_size
    return Video(out, size, count, fps)
