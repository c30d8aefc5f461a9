"""Reading a command's text the way Marlin's GCodeParser does: its code, its words, its end."""

from __future__ import annotations

import re

_CODE = re.compile(r"([GMTgmt])(\d+)(?:\.(\d+))?")
_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
LINE_PREFIX = re.compile(r"N[-+]?\d*\s*")
_STRTOL = re.compile(r"\s*([-+]?\d+)")


def cut_at_star(text: str) -> str:
    """GCodeParser::parse(): the line ends at its first "*" after the command letter."""
    star = text.find("*", 1)
    return text[:star].rstrip() if star > 0 else text


def strtol(text: str) -> int:
    """C's strtol on the start of ``text``: the leading integer, 0 when there is none."""
    match = _STRTOL.match(text)
    return int(match.group(1)) if match else 0


def words(text: str) -> dict[str, float]:
    """The parameter words of a command's text after its code: letter -> value."""
    return {m.group(1).upper(): float(m.group(2)) for m in _WORD.finditer(text)}


def command_code(command: str) -> str:
    """ "G1", "M862.3", "T0"; "" when the command starts with no G, M or T code."""
    match = _CODE.match(command)
    code = ""
    if match is not None:
        code = match.group(1).upper() + match.group(2)
        if match.group(3) is not None:
            code += "." + match.group(3)
    return code
