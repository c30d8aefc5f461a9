"""Is an upload G-code text? Checked as the bytes stream in, in constant memory."""

from __future__ import annotations

import codecs
import re

HEAD_BYTES = 1024
# Undecodable bytes allowed: a stray Latin-1 degree sign in a comment is not junk.
_MAX_BAD_FRACTION = 0.001
_MIN_BAD_ALLOWED = 8
_GCODE_LINE = re.compile(rb"^\s*(?:N\d+\s*)?(?:[GMTgmt]\d|;|\()", re.M)


class NotGcode(ValueError):
    """The content is not G-code text; the message says what gave it away."""


class GcodeCheck:
    """Feed chunks in order; raises NotGcode as soon as the content gives itself away."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._head = bytearray()
        self._head_checked = False
        self._bytes = 0
        self._bad = 0

    def feed(self, chunk: bytes) -> None:
        if b"\0" in chunk:
            at = self._bytes + chunk.index(b"\0")
            raise NotGcode(f"binary content (a NUL byte at offset {at}), not G-code text")
        self._bad += self._decoder.decode(chunk).count("\ufffd")
        self._bytes += len(chunk)
        if self._bad > max(_MIN_BAD_ALLOWED, self._bytes * _MAX_BAD_FRACTION):
            raise NotGcode("not UTF-8 text: too many bytes that are not characters")
        if not self._head_checked:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self._check_head()

    def finish(self) -> None:
        """The last chunk was fed: checks what could not be checked before."""
        if self._bytes == 0:
            raise NotGcode("the file is empty")
        self._bad += self._decoder.decode(b"", final=True).count("\ufffd")
        if self._bad > max(_MIN_BAD_ALLOWED, self._bytes * _MAX_BAD_FRACTION):
            raise NotGcode("not UTF-8 text: too many bytes that are not characters")
        if not self._head_checked:
            self._check_head()

    def _check_head(self) -> None:
        self._head_checked = True
        if _GCODE_LINE.search(bytes(self._head)) is None:
            raise NotGcode(
                f"no G-code in the first {HEAD_BYTES} bytes (no G/M/T command and no ; comment)"
            )
        self._head = bytearray()
