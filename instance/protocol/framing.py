"""Numbered, checksummed lines, and what is left of a G-code line once its comments go."""

from __future__ import annotations

import re

EMERGENCY_COMMANDS = frozenset({"M112", "M108", "M410"})


def checksum(payload: bytes) -> int:
    """XOR of every byte of ``payload`` (the part before ``*``)."""
    value = 0
    for byte in payload:
        value ^= byte
    return value


def frame(number: int, command: str, *, compact: bool = False) -> bytes:
    """``N<number> <command>*<checksum>\\n`` as bytes; ``compact``: no space after the number.

    Without the space, one fewer cut point of a line leaves a tail that a
    draining firmware would run as a command (see docs/firmware-behaviour.md).
    """
    separator = "" if compact else " "
    payload = f"N{number}{separator}{command}".encode("ascii", "replace")
    return payload + b"*" + str(checksum(payload)).encode("ascii") + b"\n"


def strip_comment(line: str) -> str:
    """The command part of a G-code line: no ``;`` comment, no surrounding blanks.

    Parenthesised comments are left alone: Marlin ignores them itself and a
    ``(`` may legitimately appear in an M117 message.
    """
    cut = line.find(";")
    if cut >= 0:
        line = line[:cut]
    return line.strip()


_CODE = re.compile(r"\s*([A-Za-z])(\d*(?:\.\d+)?)")


def command_code(command: str) -> str:
    """The command's code in upper case: ``G1``, ``M104``, ``T0``, ``G29.1``; "" for none."""
    match = _CODE.match(command)
    if match is None:
        return ""
    return match.group(1).upper() + match.group(2)


def is_emergency(command: str) -> bool:
    """True for commands that must skip every queue (M112, M108, M410)."""
    return command_code(command) in EMERGENCY_COMMANDS
