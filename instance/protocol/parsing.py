"""Turn one line a printer's firmware printed into typed replies, with no I/O."""

from __future__ import annotations

import re
from typing import Final

from instance.protocol.replies import (
    ActionCommand,
    Busy,
    Capability,
    Echo,
    FatalError,
    FirmwareInfo,
    Heater,
    LineError,
    Ok,
    Other,
    PositionReport,
    Reply,
    ResendRequest,
    Start,
    TemperatureReport,
    Wait,
)

__all__ = ["parse_firmware_info", "parse_position", "parse_reply", "parse_temperatures"]

# Decisions about lines that are not obvious from their text:
#
# - SD-card errors (``Error:volume.init failed``, ``Error:open failed, File: x``,
#   ``Error:Cannot open subdir``) become LineError with ``last_line=None``; only a
#   LineError that carries ``last_line`` says anything about the line stream.
#   ``echo:SD init fail`` stays an Echo.  Neither is fatal: they only concern SD
#   printing.  The same goes for any other ``Error:`` line that is not fatal.
# - A bare ``Unknown command:`` line (Repetier prints it without ``echo:``) is an
#   Echo with ``unknown_command`` set, like Marlin's ``echo:Unknown command: "G999"``.
# - ``E:<n>`` in an old Marlin heat-up line (``T:185.4 E:0 W:3``) names the tool the
#   bare ``T:`` belongs to, so it decides whether that reading is ``T0`` or ``T1``;
#   it is never a heater of its own.
# - ``Error: expected line 5 got 7`` gives ``last_line=4`` so that every LineError
#   means the same thing: the last line the firmware accepted.
# - ``Error:``/``!!`` lines count as fatal when they name a stop (system stopped,
#   kill() called, halted, printer stopped, shutdown) or a heater fault (MAXTEMP,
#   MINTEMP, thermal runaway, heating failed, RRF's ``Heater 0 fault``), or a
#   failed probe or homing, after which Marlin kills itself.  ``complete`` is False
#   only when the line says "system stopped", which Marlin follows with the
#   ``kill() called`` line.
# - A reading that is not a number (``T:- /0.0``) is left out of the report rather
#   than invented; a report without any reading is no report.

_PLAIN_OK: Final[tuple[Reply, ...]] = (Ok(),)
_WAIT: Final[tuple[Reply, ...]] = (Wait(),)
_START: Final[tuple[Reply, ...]] = (Start(),)

# The usual ADVANCED_OK shape, one C-level match; odd spacing and data on the
# ok line take the slower path in _parse_ok.
_ADVANCED_OK = re.compile(
    r"ok(?: N:?(\d{1,18}))?(?: P(\d{1,18}))?(?: B(\d{1,18}))?", re.ASCII
).fullmatch

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"

# Only these openings make a line a temperature report: an echo that merely
# mentions ``T:`` must not move the heater graph.  ``C:`` needs a number after it
# because ``C: X:0.00 ...`` is a position.
_TEMPERATURE_START = re.compile(r"(?:ok\s+)?(?:T\d*\s*:|B\s*:|C\s*:\s*[-+.\d])", re.ASCII)
_TEMPERATURE_FIELD = re.compile(
    rf"(?P<key>@\d*|[A-Z][A-Z0-9]*@?)\s*:\s*(?P<actual>{_NUMBER}|\?)?"
    rf"(?:\s*/\s*(?P<target>{_NUMBER}))?",
    re.ASCII,
)
_TOOL = re.compile(r"T\d+", re.ASCII)

_POSITION_START = re.compile(r"(?:ok\s+)?(?:C\s*:\s*)?X\s*:", re.ASCII)
_POSITION_FIELD = re.compile(rf"(?P<key>[A-Z][A-Z0-9]*)\s*:\s*(?P<value>{_NUMBER})", re.ASCII)

# An M115 key is an upper-case word right before ``:``; lower-case ``https:`` or
# the ``19:36`` of a date inside a value do not qualify.
_FIRMWARE_KEY = re.compile(r"(?:^|(?<=\s))([A-Z][A-Z0-9_-]*[A-Z0-9_]):", re.ASCII)

_RESEND = re.compile(r"(?:resend|rs)(?=[\s:])[\s:]*N?\s*:?\s*(\d+)", re.ASCII | re.IGNORECASE)
_LAST_LINE = re.compile(r"last\s*line\s*:?\s*(\d+)", re.ASCII | re.IGNORECASE)
_EXPECTED_LINE = re.compile(r"expected\s+line\s*:?\s*(\d+)", re.ASCII | re.IGNORECASE)
_UNKNOWN_COMMAND = re.compile(r'unknown command\s*:?\s*"?([^"]*)"?', re.IGNORECASE)
_ACTION = re.compile(r"//\s*action:(\S+)\s*(.*)", re.DOTALL)
_HEATER_FAULT = re.compile(r"heater\s*\d+\s*fault", re.ASCII)

_FATAL_WORDS: Final = (
    "system stopped",
    "kill() called",
    "halted",
    "printer stopped",
    "shutdown",
    "maxtemp",
    "mintemp",
    "thermal runaway",
    "heating failed",
    "probing failed",
    "homing failed",
)


def parse_reply(line: str) -> tuple[Reply, ...]:
    """Every reply one firmware line carries: data first, then its ``ok``; ``()`` if blank."""
    if line == "ok":
        return _PLAIN_OK
    advanced = _ADVANCED_OK(line)
    if advanced is not None:
        number, planner, buffer = advanced.groups()
        return (
            Ok(
                int(number) if number is not None else None,
                int(planner) if planner is not None else None,
                int(buffer) if buffer is not None else None,
            ),
        )
    text = line.strip()
    if not text:
        return ()
    if text.startswith("ok"):
        replies = _parse_ok(text)
        if replies is not None:
            return replies

    head = text[0]
    if head in "TB":
        temperatures = parse_temperatures(text)
        if temperatures is not None:
            return (temperatures,)
    elif head in "XC":
        position = parse_position(text)
        if position is not None:
            return (position,)
        temperatures = parse_temperatures(text)
        if temperatures is not None:
            return (temperatures,)

    lower = text[:16].lower()
    if lower.startswith("echo:"):
        return (_parse_echo(text[5:].strip()),)
    if lower.startswith("busy:"):
        return (Busy(text[5:].strip()),)
    if lower.startswith("error:"):
        return (_parse_error(text[6:].strip()),)
    if text.startswith("!!"):
        return (_parse_error(text[2:].strip()),)
    if lower.startswith("fatal:"):
        return (FatalError(text[6:].strip()),)
    if text.startswith("//"):
        return (_parse_action(text),)
    if lower.startswith(("resend", "rs")):
        match = _RESEND.match(text)
        if match is not None:
            number = _to_int(match.group(1))
            if number is not None:
                return (ResendRequest(number),)
    if lower == "wait":
        return _WAIT
    if lower == "start":
        return _START
    if lower.startswith("cap:"):
        capability = _parse_capability(text[4:])
        if capability is not None:
            return (capability,)
    if text.startswith("FIRMWARE_NAME"):
        info = parse_firmware_info(text)
        if info is not None:
            return (info,)
    if lower.startswith("unknown command"):
        return (_parse_echo(text),)
    return (Other(text),)


def _parse_ok(text: str) -> tuple[Reply, ...] | None:
    """The replies of a line starting with ``ok``; None when it is some other word."""
    if len(text) == 2:
        return _PLAIN_OK
    if not text[2].isspace():
        return None
    tokens = text[2:].split()
    number: int | None = None
    planner: int | None = None
    buffer: int | None = None
    consumed = 0
    # Inlined rather than helper calls: every ok with odd spacing or data comes here.
    for token in tokens:
        head = token[0]
        if head == "N":
            digits = token[2:] if token[1:2] == ":" else token[1:]
        elif head == "P" or head == "B":
            digits = token[1:]
        else:
            digits = token
        # int() would also take "²"-like digits, and refuses very long strings.
        if not (digits.isdigit() and digits.isascii() and len(digits) < 19):
            break
        if head == "P":
            if planner is not None:
                break
            planner = int(digits)
        elif head == "B":
            if buffer is not None:
                break
            buffer = int(digits)
        else:
            if number is not None:
                break
            number = int(digits)
        consumed += 1
    if consumed == len(tokens):
        return (Ok(number, planner, buffer),)

    data = text[2:].split(None, consumed)[-1].strip() if consumed else text[2:].strip()
    ok = Ok(number, planner, buffer, data)
    report: TemperatureReport | PositionReport | None = None
    if data[0] in "XC":
        report = parse_position(data)
    if report is None:
        report = parse_temperatures(data)
    if report is None:
        return (ok,)
    return (report, ok)


def _to_int(text: str) -> int | None:
    # int() would also take "²"-like digits, and refuses very long strings.
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    return None


def parse_temperatures(text: str) -> TemperatureReport | None:
    """The report in a temperature line (``T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32``), or None.

    ``text`` must start with a temperature (``T:``, ``T0:``, ``B:``, ``C:<number>``),
    optionally after ``ok``.
    """
    text = text.strip()
    if _TEMPERATURE_START.match(text) is None:
        return None

    readings: dict[str, tuple[float, float | None]] = {}
    powers: dict[str, int] = {}
    bare_tool: tuple[float, float | None] | None = None
    bare_power: int | None = None
    active_tool = 0
    wait_remaining: float | None = None

    for match in _TEMPERATURE_FIELD.finditer(text):
        key, actual, target = match.group("key", "actual", "target")
        if key == "W":
            wait_remaining = float(actual) if actual not in (None, "?") else None
            continue
        if key == "E":
            # Old Marlin heat-up lines: E: says which tool the bare T: is.
            index = _to_int(actual) if actual is not None else None
            if index is not None:
                active_tool = index
            continue
        if key.startswith("@"):
            power = _power(actual)
            if power is None:
                continue
            if key == "@":
                bare_power = power
            else:
                powers["T" + key[1:]] = power
            continue
        if key.endswith("@"):
            power = _power(actual)
            if power is None:
                continue
            name = key[:-1]
            if name == "T":
                bare_power = power
            else:
                powers[name] = power
            continue
        if actual is None or actual == "?":
            continue
        reading = (float(actual), float(target) if target is not None else None)
        if key == "T":
            bare_tool = reading
        else:
            readings[key] = reading

    has_tools = any(_TOOL.fullmatch(name) for name in readings)
    active = f"T{active_tool}"
    if bare_tool is not None and not has_tools:
        readings = {active: bare_tool, **readings}
    # With per-tool @0: @1: present, the bare @: only repeats the active tool's.
    if bare_power is not None and not any(_TOOL.fullmatch(name) for name in powers):
        powers[active] = bare_power
    if not readings:
        return None
    heaters = {
        name: Heater(actual, target, powers.get(name))
        for name, (actual, target) in readings.items()
    }
    return TemperatureReport(heaters, wait_remaining)


def _power(value: str | None) -> int | None:
    if value is None or value == "?":
        return None
    number = float(value)
    # Power is a PWM duty (0..255 at most); anything else is line noise.
    if not -1e6 < number < 1e6:
        return None
    return int(number)


def parse_position(text: str) -> PositionReport | None:
    """The logical position of an M114 report (the part before ``Count``), if ``text`` is one."""
    text = text.strip()
    if _POSITION_START.match(text) is None:
        return None
    cut = text.find("Count")
    if cut >= 0:
        text = text[:cut]
    axes: dict[str, float] = {}
    for match in _POSITION_FIELD.finditer(text):
        key, value = match.group("key", "value")
        if key == "C":
            continue
        axes.setdefault(key, float(value))
    if not axes:
        return None
    return PositionReport(axes)


def parse_firmware_info(text: str) -> FirmwareInfo | None:
    """The fields of an M115 ``FIRMWARE_NAME:...`` line; None when there is no FIRMWARE_NAME."""
    keys = list(_FIRMWARE_KEY.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        # Smoothieware separates its fields with ", ".
        value = text[match.end() : end].strip().rstrip(",").strip()
        fields.setdefault(match.group(1), value)
    name = fields.get("FIRMWARE_NAME")
    if name is None:
        return None
    return FirmwareInfo(name, fields)


def _parse_echo(body: str) -> Busy | Echo:
    if body[:5].lower() == "busy:":
        return Busy(body[5:].strip())
    match = _UNKNOWN_COMMAND.match(body)
    if match is not None:
        return Echo(body, match.group(1).strip())
    return Echo(body)


def _parse_error(message: str) -> FatalError | LineError:
    lower = message.lower()
    if any(word in lower for word in _FATAL_WORDS) or _HEATER_FAULT.search(lower):
        return FatalError(message, complete="system stopped" not in lower)
    match = _LAST_LINE.search(message)
    if match is not None:
        return LineError(message, _to_int(match.group(1)))
    match = _EXPECTED_LINE.search(message)
    if match is not None:
        expected = _to_int(match.group(1))
        if expected is not None and expected > 0:
            return LineError(message, expected - 1)
    return LineError(message)


def _parse_action(text: str) -> ActionCommand | Other:
    match = _ACTION.match(text)
    if match is None:
        return Other(text)
    return ActionCommand(match.group(1), match.group(2).strip())


def _parse_capability(body: str) -> Capability | None:
    name, sep, value = body.rpartition(":")
    name = name.strip()
    value = value.strip()
    if not sep or not name or value not in ("0", "1"):
        return None
    return Capability(name, value == "1")
