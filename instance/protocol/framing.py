"""Numbered, checksummed lines, and what is left of a G-code line once its comments go."""

from __future__ import annotations

EMERGENCY_COMMANDS = frozenset({"M112", "M108", "M410"})


def checksum(payload: bytes) -> int:
    """XOR of every byte of ``payload`` (the part before ``*``)."""
    value = 0
    for byte in payload:
        value ^= byte
    return value


def frame(number: int, command: str) -> bytes:
    """``N<number> <command>*<checksum>\\n`` as bytes."""
    payload = f"N{number} {command}".encode("ascii", "replace")
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


def command_code(command: str) -> str:
    """The command's code in upper case: ``G1``, ``M104``, ``T0``; "" for an empty line."""
    end = 0
    length = len(command)
    while end < length and not command[end].isspace():
        end += 1
        if end < length and command[end].isalpha() and end > 1:
            break
    code = command[:end].upper()
    # G1.1 style sub-codes stay part of the code; a trailing parameter does not.
    return code


def is_emergency(command: str) -> bool:
    """True for commands that must skip every queue (M112, M108, M410)."""
    return command_code(command) in EMERGENCY_COMMANDS
