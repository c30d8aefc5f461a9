"""Shared by the analysis tests (no tests here): fixtures, slicer figures, comment stripping."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from instance.analysis import MachineLimits

GCODE = Path(__file__).resolve().parent.parent / "fixtures" / "gcode"


@dataclass(frozen=True)
class SlicerFigures:
    """What the slicer itself printed in the file, read with plain regexes."""

    time_s: float | None
    filament_mm: float
    prusa: bool


def _duration(text: str) -> float:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(float(v) * units[u] for v, u in re.findall(r"(\d+)([dhms])", text))


def slicer_figures(path: Path) -> SlicerFigures:
    text = path.read_text(errors="replace")
    if m := re.search(r"^; estimated printing time \(normal mode\) = (.+)$", text, re.M):
        time_s: float | None = _duration(m.group(1))
    elif m := re.search(r"^;TIME:(\d+)", text, re.M):
        time_s = float(m.group(1))
    else:
        time_s = None
    if m := re.search(r"^; filament used \[mm\] = ([\d.]+)", text, re.M):
        filament = float(m.group(1))
    elif m := re.search(r"^;Filament used: ([\d.]+)m", text, re.M):
        filament = float(m.group(1)) * 1000
    else:
        m = re.search(r"^; filament used = ([\d.]+)mm", text, re.M)
        assert m is not None, path
        filament = float(m.group(1))
    return SlicerFigures(time_s, filament, "PrusaSlicer" in text[:200])


def printer_profile(path: Path) -> MachineLimits | None:
    """The printer profile the slicer planned with (its ``machine_max_*`` config lines)."""
    config = dict(re.findall(r"^; (machine_\w+) = (.*)$", path.read_text(), re.M))
    return MachineLimits.from_slicer_config(config)


def strip_comments(source: Path, into: Path) -> Path:
    """The file with every comment (and every line left empty) removed."""
    with source.open("rb") as src, into.open("wb") as dst:
        for line in src:
            command = line.split(b";", 1)[0].strip()
            if command:
                dst.write(command + b"\n")
    return into


def tiny_png(width: int, height: int) -> bytes:
    """A real PNG (8-bit RGB, a gradient), built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 40 % 256, y * 40 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its chunks' CRCs and its pixels inflate."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, size, idat = 8, (0, 0), b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height = size
    colour = data[8 + 8 + 9]  # IHDR's colour type: 2 = RGB, 6 = RGBA
    channels = {2: 3, 6: 4}[colour]
    assert len(zlib.decompress(idat)) == height * (1 + channels * width)
    return width, height


def png_pixels(data: bytes) -> list[bytes]:
    """The rows of an unfiltered 8-bit PNG, as written by our encoders."""
    _, height = png_size(data)
    idat = b""
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    assert all(raw[y * stride] == 0 for y in range(height))
    return [raw[y * stride + 1 : (y + 1) * stride] for y in range(height)]
