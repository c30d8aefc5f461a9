"""A print server's timelapse settings: the printer's default, where its camera's snapshot is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Mode = Literal["off", "layer", "interval"]
MODES: tuple[Mode, ...] = ("off", "layer", "interval")
DEFAULT_INTERVAL = 10.0
DEFAULT_KEEP_VIDEOS = 20


@dataclass(frozen=True, slots=True)
class TimelapseSettings:
    """``mode`` is the printer's default for a job that does not choose; a job that asks for a
    timelapse on a printer whose default is off gets one frame per layer."""

    snapshot_url: str
    mode: Mode = "off"
    interval_s: float = DEFAULT_INTERVAL
    # Videos kept per printer (the oldest are deleted past either limit); 0: no limit.
    keep_videos: int = DEFAULT_KEEP_VIDEOS
    keep_mb: int = 0
    # The park G-code run before each layer's frame (layer mode; empty: no park move).
    park: tuple[str, ...] = ()

    def mode_for(self, asked: bool | None) -> Mode:
        """The mode of a job that asked ``asked`` (None: the printer's default)."""
        if asked is None:
            return self.mode
        if not asked:
            return "off"
        return "layer" if self.mode == "off" else self.mode


def parse_mode(text: str) -> Mode:
    value = text.strip().lower()
    for mode in MODES:
        if value == mode:
            return mode
    raise ValueError(f"{text.strip()!r}: must be off, layer or interval")


def parse_choice(text: str) -> bool:
    """A job's choice: on or off (true/false, yes/no, 1/0 also read)."""
    value = text.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"timelapse must be on or off, not {text.strip()!r}")


_SNAPSHOT_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


def parse_snapshot_url(text: str) -> str:
    value = text.strip()
    if not _SNAPSHOT_URL.match(value):
        raise ValueError(f"{value!r} is not an http:// URL (e.g. http://camera-top:8080/snapshot)")
    return value
