"""A big multipart upload written to disk, and a watcher of a process's peak memory."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil

MB = 1024 * 1024
BOUNDARY = "fabfleet-memory-boundary"
# A slicer-like move line, 32 bytes.
LINE = b"G1 X100.123 Y100.456 E0.01234\n"


def write_upload_body(path: Path, name: str, size: int) -> int:
    """A multipart body holding ``size`` bytes of G-code, written to disk, not memory."""
    block = LINE * (MB // len(LINE))
    with path.open("wb") as f:
        f.write(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        written = 0
        while written < size:
            f.write(block)
            written += len(block)
        f.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return written


class PeakRss(threading.Thread):
    """The highest RSS of process ``pid`` seen while running (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)
