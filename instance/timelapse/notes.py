"""What a job's record says of its timelapse: the tally of frames and the notes a user reads.

No I/O. The record is a JSON object kept with the job (``JobRecords.set_timelapse``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The record's states, in the order a timelapse goes through them.
CAPTURING = "capturing"
ASSEMBLING = "assembling"
READY = "ready"
# No video: nothing captured, or ffmpeg missing or failing (the notes say which).
NO_VIDEO = "no video"
DELETED = "deleted"


@dataclass(slots=True)
class FrameTally:
    """Frames taken and missed during one job, and where the camera went away."""

    mode: str
    frames: int = 0
    missed: int = 0
    # Where the first missed frame was due ("layer 12", "0:04:10 into the job"), and why.
    gone_at: str | None = None
    gone_because: str | None = None
    # What went: the camera, or the room for frames on the print server's disk.
    gone_what: str = "camera gone"
    # Where a frame came again after the camera was gone.
    back_at: str | None = None
    # Frames due while the capture was still busy with earlier ones.
    dropped: int = 0
    # Layers begun before the file's layer index was known (no frame for them).
    unindexed: int = 0
    extra: list[str] = field(default_factory=list)

    def taken(self, where: str) -> None:
        self.frames += 1
        if self.gone_at is not None and self.back_at is None:
            self.back_at = where

    def missing(self, where: str, because: str, what: str = "camera gone") -> None:
        self.missed += 1
        if self.gone_at is None:
            self.gone_at, self.gone_because, self.gone_what = where, because, what

    def notes(self) -> list[str]:
        """The sentences the record keeps, a user's words."""
        said: list[str] = []
        if self.gone_at is not None:
            back = f", back at {self.back_at}" if self.back_at is not None else ""
            said.append(
                f"{self.gone_what} at {self.gone_at} ({self.gone_because}){back}; {self.missed}"
                f" frame{'s' if self.missed != 1 else ''} missed, the video is shorter"
            )
        if self.dropped:
            said.append(
                f"{self.dropped} frame{'s' if self.dropped != 1 else ''} skipped: the camera"
                " answered slower than the layers came"
            )
        if self.unindexed:
            said.append(
                f"the file's layers were not known yet for the first {self.unindexed}"
                f" layer{'s' if self.unindexed != 1 else ''}: no frame for them"
            )
        return said + self.extra

    def record(self, state: str) -> dict[str, Any]:
        """The record while capturing or once the frames are in."""
        return {
            "state": state,
            "mode": self.mode,
            "frames": self.frames,
            "missed": self.missed + self.dropped,
            "notes": self.notes(),
            "video": None,
        }


def video_ready(record: dict[str, Any], name: str, size: int, frames: int, fps: int) -> None:
    """The record once ffmpeg made the video ``name`` of ``size`` bytes."""
    record["state"] = READY
    record["video"] = {
        "file": name,
        "size": size,
        "frames": frames,
        "fps": fps,
        "duration_s": round(frames / fps, 3),
    }


def no_video(record: dict[str, Any], why: str) -> None:
    """The record when no video could be made; ``why`` is a note a user can act on."""
    record["state"] = NO_VIDEO
    record["video"] = None
    record["notes"] = [*record.get("notes", []), why]


def deleted(record: dict[str, Any], why: str) -> None:
    """The record once retention deleted its video: what it was stays, with a note."""
    record["state"] = DELETED
    record["notes"] = [*record.get("notes", []), why]
