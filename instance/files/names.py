"""File names a user or a slicer sends, made safe to store and to show."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 200
GCODE_SUFFIXES = (".gcode", ".gco", ".g")
_CLASH = re.compile(r"^(?P<stem>.*) \((?P<n>\d+)\)$")


class BadFileName(ValueError):
    """A name that cannot be made into a stored file's name; the message says why."""


def safe_name(raw: str) -> str:
    """The name to store ``raw`` under: its last path part, NFC, no control characters.

    Path separators from any system are cut (only the last part is kept), so
    ``../../etc/passwd`` can never leave the files directory; a name that is
    empty, only dots, or hidden (a leading dot) after that is refused rather
    than guessed at.
    """
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip()
    if not name or set(name) <= {"."}:
        raise BadFileName(f"{raw!r} is not a file name")
    if name.startswith("."):
        raise BadFileName(f"{raw!r}: hidden file names (starting with a dot) are not accepted")
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_NAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        keep = suffix if dot and len(suffix) <= 10 else ""
        budget = MAX_NAME_BYTES - len(keep.encode()) - (1 if keep else 0)
        stem = (stem if keep else name).encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = f"{stem}.{keep}" if keep else stem
    return name


def is_stored_name(name: str) -> bool:
    """Whether ``name`` could be a stored file's name exactly as given."""
    try:
        return safe_name(name) == name
    except BadFileName:
        return False


def numbered(name: str, n: int) -> str:
    """``cube.gcode`` -> ``cube (n).gcode``, the name that resolves a clash."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    match = _CLASH.match(stem)
    if match is not None:
        stem = match.group("stem")
    return f"{stem} ({n}).{suffix}" if suffix else f"{stem} ({n})"
