"""Preview images slicers embed in G-code comments.

PrusaSlicer, SuperSlicer and OrcaSlicer write each image as a comment block::

    ; thumbnail begin 300x300 26964
    ; iVBORw0KGgoAAAANSUhEUgAAASwAAAEsCAYAAAB5fY51AAAg...
    ; thumbnail end

``thumbnail_JPG`` and ``thumbnail_QOI`` blocks (PrusaSlicer 2.6+) carry JPEG
and QOI images the same way. QOI images are converted to PNG (browsers cannot
show QOI); JPEG is kept as it is. A block that never ends, does not decode, or
whose image does not start with its format's signature is dropped.
"""

from __future__ import annotations

import binascii
import re
import struct
import zlib
from dataclasses import dataclass

_BEGIN = re.compile(rb"^thumbnail(?:_(PNG|JPG|QOI))?\s+begin\s+(\d+)\s*x\s*(\d+)\s+(\d+)", re.I)
_END = re.compile(rb"^thumbnail(?:_(?:PNG|JPG|QOI))?\s+end\b", re.I)
_SIGNATURES = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpg": b"\xff\xd8\xff",
    "qoi": b"qoif",
}
# A thumbnail bigger than this (base64 text) is not a thumbnail; stop collecting.
MAX_THUMBNAIL_TEXT = 8 * 1024 * 1024
MAX_QOI_PIXELS = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """One embedded image: its size in pixels, ``format`` ("png", "jpg" or "qoi") and bytes."""

    width: int
    height: int
    format: str
    data: bytes


class ThumbnailCollector:
    """Feed it comment text (after the ``;``), one line at a time."""

    def __init__(self) -> None:
        self.thumbnails: list[Thumbnail] = []
        self._open: tuple[int, int, str] | None = None
        self._parts: list[bytes] = []
        self._size = 0

    @property
    def collecting(self) -> bool:
        return self._open is not None

    def feed(self, text: bytes) -> bool:
        """Take one comment's text; True if it belonged to a thumbnail block."""
        if self._open is None:
            match = _BEGIN.match(text)
            if match is None:
                return False
            fmt = (match.group(1) or b"PNG").decode().lower()
            self._open = (int(match.group(2)), int(match.group(3)), fmt)
            self._parts = []
            self._size = 0
            return True
        if _END.match(text):
            self._close()
            return True
        if _BEGIN.match(text):  # a new block before the old one ended: drop the old one
            self._open = None
            return self.feed(text)
        self._size += len(text)
        if self._size > MAX_THUMBNAIL_TEXT:
            self._open = None
            self._parts = []
            return True
        self._parts.append(text)
        return True

    def _close(self) -> None:
        assert self._open is not None
        width, height, fmt = self._open
        self._open = None
        try:
            data = binascii.a2b_base64(b"".join(self._parts))
        except (binascii.Error, ValueError):
            return
        finally:
            self._parts = []
        if width <= 0 or height <= 0 or not data.startswith(_SIGNATURES[fmt]):
            return
        if fmt == "qoi":
            decoded = qoi_to_png(data)
            if decoded is None:
                return
            width, height, data = decoded
            fmt = "png"
        self.thumbnails.append(Thumbnail(width=width, height=height, format=fmt, data=data))


def png_rgba(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit RGBA PNG of ``pixels`` (rows of ``4 * width`` bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    stride = 4 * width
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        _SIGNATURES["png"]
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def qoi_to_png(data: bytes) -> tuple[int, int, bytes] | None:
    """Decode a QOI image (the "Quite OK Image" format) to PNG; None if it is broken."""
    if len(data) < 14 or not data.startswith(b"qoif"):
        return None
    width, height = struct.unpack(">II", data[4:12])
    count = width * height
    if not 0 < count <= MAX_QOI_PIXELS:
        return None
    out = bytearray(count * 4)
    index = [(0, 0, 0, 0)] * 64
    r, g, b, a = 0, 0, 0, 255
    pos, end, pixel, run = 14, len(data), 0, 0
    while pixel < count:
        if run:
            run -= 1
        else:
            if pos >= end:
                return None
            op = data[pos]
            pos += 1
            if op == 0xFE:
                if pos + 3 > end:
                    return None
                r, g, b = data[pos], data[pos + 1], data[pos + 2]
                pos += 3
            elif op == 0xFF:
                if pos + 4 > end:
                    return None
                r, g, b, a = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
                pos += 4
            elif op >> 6 == 0:
                r, g, b, a = index[op]
            elif op >> 6 == 1:
                r = (r + ((op >> 4) & 3) - 2) & 0xFF
                g = (g + ((op >> 2) & 3) - 2) & 0xFF
                b = (b + (op & 3) - 2) & 0xFF
            elif op >> 6 == 2:
                if pos >= end:
                    return None
                second = data[pos]
                pos += 1
                dg = (op & 0x3F) - 32
                r = (r + dg + (second >> 4) - 8) & 0xFF
                g = (g + dg) & 0xFF
                b = (b + dg + (second & 0x0F) - 8) & 0xFF
            else:
                run = op & 0x3F  # this pixel plus ``run`` more
            index[(r * 3 + g * 5 + b * 7 + a * 11) % 64] = (r, g, b, a)
        out[pixel * 4 : pixel * 4 + 4] = bytes((r, g, b, a))
        pixel += 1
    return width, height, png_rgba(width, height, bytes(out))
