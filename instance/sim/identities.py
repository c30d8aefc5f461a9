"""How each firmware family words its banner, M115 report, oks, resends and temperatures."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HeaterReading:
    """One heater at one moment: what the firmware prints about it."""

    letter: str  # "T", "B", "C"
    index: int | None  # tool number for T0/T1, None for bed and chamber
    current: float
    target: float
    power: int


@dataclass(frozen=True, slots=True)
class Identity:
    """One firmware family: its wording, and how it treats lines, errors and resends.

    The behaviour fields follow each firmware's source; docs/firmware-behaviour.md
    names the file and function behind every value.
    """

    name: str
    banner: tuple[str, ...]
    firmware_name: str
    capabilities: tuple[tuple[str, int], ...]
    partial_capabilities: int
    advanced_ok_supported: bool
    ok_with_number: bool  # Repetier: "ok 123"
    resend_form: str  # "marlin", "nospace", "rs"
    temperature_format: str
    wait_format: str  # how temperature lines look while M109/M190 wait
    busy_keepalive: bool
    wait_when_idle: bool
    unknown_command: str  # format with {command}
    # ----- how lines are checked -----
    # False (Klipper): N and *NN are stripped, never checked; no line error ever happens.
    checks_line_numbers: bool = True
    # What a line with a bad checksum (or number) draws: "resend" (Error + Resend),
    # "discard" (RepRapFirmware 3: the line is dropped without a word, no ok).
    bad_line: str = "resend"
    # A line not starting with N but holding "*": "queue" (Marlin 1.1.7+ and 2.x: queued as
    # it is, the parser cuts the line at the first "*"), "reject" (Prusa: "No Line Number
    # with checksum" + Resend), "ignore" (Klipper/RRF: "*" is a parameter or ignored).
    checksum_without_number: str = "queue"
    # On a line error the receive buffer and the partly assembled line are discarded.
    drain_on_error: bool = True
    # UART transmit buffer in bytes; 0: printing the Error line blocks until it is on the
    # wire, so the drain comes only after it (AVR builds with TX_BUFFER_SIZE 0).
    tx_buffer: int = 0
    # An "ok" follows every "Resend:" (Marlin 1.1.9/2.1, Prusa, Repetier).
    ok_after_resend: bool = True
    # The ok after a resend: "plain" ("ok") or "queue_head" (Marlin 1.1.9's ok_to_send():
    # with ADVANCED_OK it carries the N of the command at the queue's read index).
    resend_ok: str = "plain"
    # M999 asks for a resend as a line error does (and drains like one).
    m999_resends: bool = True
    # How busy keep-alives start ("echo:busy: processing").
    busy_prefix: str = "echo:busy: "
    # Unknown G and M codes, when worded apart from other unknown commands (Prusa).
    unknown_g: str | None = None
    unknown_m: str | None = None
    # Prusa: M73 prints its progress lines.
    m73_report: bool = False
    # Prusa: when the receive buffer holds RX_BUFFER_SIZE-1 bytes, it is flushed.
    full_rx_flush: bool = False
    # Klipper: errors are "!! message" lines; M112 shuts down but keeps answering.
    error_prefix: str = "Error:"
    shutdown_keeps_answering: bool = False
    # Commands whose answer rides on the ok ("ok T:..."): M105 always; Klipper M115 too.
    ok_carries_m115: bool = False
    # Marlin 2 HOST_PROMPT_SUPPORT: M0/M600 show //action:prompt_* lines (Prusa MK3 has none).
    action_prompts: bool = False


_MARLIN_CAPS = (
    ("SERIAL_XON_XOFF", 0),
    ("BINARY_FILE_TRANSFER", 0),
    ("EEPROM", 1),
    ("VOLUMETRIC", 1),
    ("AUTOREPORT_POS", 0),
    ("AUTOREPORT_TEMP", 1),
    ("PROGRESS", 0),
    ("PRINT_JOB", 1),
    ("AUTOLEVEL", 1),
    ("RUNOUT", 0),
    ("Z_PROBE", 1),
    ("LEVELING_DATA", 1),
    ("BUILD_PERCENT", 1),
    ("SOFTWARE_POWER", 0),
    ("TOGGLE_LIGHTS", 0),
    ("CASE_LIGHT_BRIGHTNESS", 0),
    ("EMERGENCY_PARSER", 1),
    ("HOST_ACTION_COMMANDS", 1),
    ("PROMPT_SUPPORT", 1),
    ("SDCARD", 1),
    ("REPEAT", 0),
    ("SD_WRITE", 1),
    ("AUTOREPORT_SD_STATUS", 0),
    ("LONG_FILENAME", 1),
    ("THERMAL_PROTECTION", 1),
    ("MOTION_MODES", 0),
    ("ARCS", 1),
    ("BABYSTEPPING", 1),
    ("CHAMBER_TEMPERATURE", 0),
    ("MEATPACK", 0),
)

IDENTITIES: dict[str, Identity] = {
    "marlin2": Identity(
        name="marlin2",
        banner=(
            "start",
            "echo:Marlin 2.1.2.1",
            "echo: Last Updated: 2023-07-11 | Author: (fabfleet, sim)",
            "echo:Compiled: Jul 11 2023",
            "echo: Free Memory: 4217  PlannerBufferBytes: 1536",
            "echo:SD card ok",
        ),
        firmware_name=(
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Jul 11 2023 12:00:00) "
            "SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 "
            "MACHINE_TYPE:fabfleet sim EXTRUDER_COUNT:{extruders} "
            "UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff"
        ),
        capabilities=_MARLIN_CAPS,
        partial_capabilities=6,
        advanced_ok_supported=True,
        ok_with_number=False,
        resend_form="marlin",
        temperature_format="marlin2",
        wait_format="marlin2",
        busy_keepalive=True,
        wait_when_idle=False,
        unknown_command='echo:Unknown command: "{command}"',
        # queue.cpp: gcode_line_error() drains with read_serial() until -1;
        # flush_and_request_resend() ends with SERIAL_ECHOLNPGM(STR_OK).
        drain_on_error=True,
        checksum_without_number="queue",
        ok_after_resend=True,
        resend_ok="plain",
        tx_buffer=0,
        action_prompts=True,
    ),
    "marlin1": Identity(
        name="marlin1",
        banner=(
            "start",
            "echo:Marlin 1.1.9",
            "echo: Last Updated: 2018-08-01 | Author: (fabfleet, sim)",
            "Compiled: Aug  1 2018",
            "echo: Free Memory: 3075  PlannerBufferBytes: 1232",
            "echo:SD init fail",
        ),
        firmware_name=(
            "FIRMWARE_NAME:Marlin 1.1.9 (Github) "
            "SOURCE_CODE_URL:https://github.com/MarlinFirmware/Marlin "
            "PROTOCOL_VERSION:1.0 MACHINE_TYPE:fabfleet sim EXTRUDER_COUNT:{extruders} "
            "UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff"
        ),
        capabilities=_MARLIN_CAPS[:18],
        partial_capabilities=4,
        advanced_ok_supported=True,
        ok_with_number=False,
        resend_form="marlin",
        temperature_format="marlin1",
        wait_format="marlin1",
        busy_keepalive=True,
        wait_when_idle=False,
        unknown_command='echo:Unknown command: "{command}"',
        # Marlin_main.cpp: gcode_line_error() -> flush_and_request_resend(): SERIAL_FLUSH()
        # (MarlinSerial::flush() discards the RX ring), "Resend: N", ok_to_send().
        # "No Line Number with checksum" was removed in 1.1.7 ("Allow asterisks in G-Code").
        drain_on_error=True,
        checksum_without_number="queue",
        ok_after_resend=True,
        resend_ok="queue_head",
        tx_buffer=0,
    ),
    "prusa": Identity(
        name="prusa",
        banner=("start", "echo: 3.13.3-7094", "echo: Free Memory: 2163  PlannerBufferBytes: 1760"),
        firmware_name=(
            "FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin "
            "FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 "
            "MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:{extruders} "
            "UUID:00000000-0000-0000-0000-000000000000"
        ),
        capabilities=(
            ("AUTOREPORT_TEMP", 1),
            ("AUTOREPORT_FANS", 1),
            ("AUTOREPORT_POSITION", 1),
            ("EXTENDED_M20", 1),
            ("PRUSA_MMU2", 1),
        ),
        partial_capabilities=1,
        advanced_ok_supported=False,
        ok_with_number=False,
        resend_form="marlin",
        temperature_format="prusa",
        wait_format="marlin1",
        busy_keepalive=True,
        wait_when_idle=False,
        # Marlin_main.cpp process_commands(): the catch-all branch adds "(2)"; unknown G and M
        # codes print MSG_UNKNOWN_CODE "Unknown %c code: %s".
        unknown_command='echo:Unknown command: "{command}"(2)',
        unknown_g="Unknown G code: {command}",
        unknown_m="Unknown M code: {command}",
        # cmdqueue.cpp get_command(): "No Line Number with checksum" + FlushSerialRequestResend()
        # (MYSERIAL.flush() empties the RX ring, then "Resend: N" and "ok").
        drain_on_error=True,
        checksum_without_number="reject",
        ok_after_resend=True,
        m73_report=True,
        full_rx_flush=True,
    ),
    "rrf": Identity(
        name="rrf",
        banner=(),
        firmware_name=(
            "FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.4.5 "
            "ELECTRONICS: Duet 3 MB6HC v1.01 FIRMWARE_DATE: 2022-11-30 19:36:12"
        ),
        capabilities=(),
        partial_capabilities=0,
        advanced_ok_supported=False,
        ok_with_number=False,
        resend_form="rs",
        temperature_format="rrf",
        wait_format="none",
        busy_keepalive=False,
        wait_when_idle=False,
        # GCodes::HandleReply(): errorNotSupported -> "<cmd>: Command is not supported";
        # GCodes2.cpp: no command letter -> "Bad command: "; errors still get an ok.
        unknown_command="Error: Bad command: {command}",
        unknown_g="Error: {code}: Command is not supported",
        unknown_m="Error: {code}: Command is not supported",
        # StringParser::LineFinished(): a bad or (when required) missing checksum makes the
        # line vanish (Init(); return false): no error, no resend, no ok. Line numbers are
        # recorded, never checked for sequence. Only M998 answers "rs N".
        checks_line_numbers=True,
        bad_line="discard",
        checksum_without_number="ignore",
        drain_on_error=False,
        ok_after_resend=True,
        m999_resends=False,
    ),
    "repetier": Identity(
        name="repetier",
        banner=("start", "Info:External Reset", "Free RAM:3214", "Info:Power-up"),
        firmware_name=(
            "FIRMWARE_NAME:Repetier_1.0.3 "
            "FIRMWARE_URL:https://github.com/repetier/Repetier-Firmware/ "
            "PROTOCOL_VERSION:1.0 MACHINE_TYPE:Mendel EXTRUDER_COUNT:{extruders} "
            "REPETIER_PROTOCOL:3"
        ),
        capabilities=(
            ("PROGRESS", 1),
            ("AUTOREPORT_TEMP", 1),
            ("HOST_RESCUE", 1),
            ("EEPROM", 1),
            ("Z_PROBE", 1),
            ("SOFTWARE_POWER", 0),
        ),
        partial_capabilities=2,
        advanced_ok_supported=False,
        ok_with_number=True,
        resend_form="nospace",
        temperature_format="repetier",
        wait_format="repetier",
        busy_keepalive=True,
        wait_when_idle=True,
        unknown_command="Unknown command:{command}",
        # Not re-read for this release: kept as the simulator had it (drain, ok after resend).
        drain_on_error=True,
        ok_after_resend=True,
    ),
    "klipper": Identity(
        name="klipper",
        banner=(),
        firmware_name="FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-0-g0000000",
        capabilities=(),
        partial_capabilities=0,
        advanced_ok_supported=False,
        ok_with_number=False,
        resend_form="marlin",
        temperature_format="klipper",
        wait_format="klipper",
        busy_keepalive=False,
        wait_when_idle=False,
        # klippy/gcode.py GCodeDispatch.cmd_default(): respond_info('Unknown command:"%s"').
        unknown_command='// Unknown command:"{command}"',
        # _process_commands(): the line is split on letters, a leading N word skipped, "*" is
        # just another parameter; nothing is checked, every line gets "ok".
        checks_line_numbers=False,
        bad_line="resend",
        checksum_without_number="ignore",
        drain_on_error=False,
        ok_after_resend=True,
        m999_resends=False,
        error_prefix="!! ",
        shutdown_keeps_answering=True,
        ok_carries_m115=True,
    ),
}

TEMPERATURE_FORMATS = ("marlin2", "marlin1", "prusa", "rrf", "repetier", "klipper", "spaced")
RESEND_FORMS = ("marlin", "nospace", "rs", "teacup")


def resend_line(form: str, line: int, expected_checksum: int = 0) -> str:
    """A resend request for ``line`` in one of the forms hosts meet."""
    if form == "nospace":
        return f"Resend:{line}"
    if form == "rs":
        return f"rs {line}"
    if form == "teacup":
        return f"rs N{line} Expected checksum {expected_checksum}"
    return f"Resend: {line}"


def temperature_report(style: str, heaters: list[HeaterReading]) -> str:
    """The heater part of an M105 answer or autoreport, in ``style``."""
    tools = [h for h in heaters if h.letter == "T"]
    others = [h for h in heaters if h.letter != "T"]
    first = tools[0]
    parts: list[str] = []
    if style == "marlin2":
        parts.append(f"T:{first.current:.2f} /{first.target:.2f}")
        parts += [f"{h.letter}:{h.current:.2f} /{h.target:.2f}" for h in others]
        if len(tools) > 1:
            parts += [f"T{h.index}:{h.current:.2f} /{h.target:.2f}" for h in tools]
        parts.append(f"@:{first.power}")
        parts += [f"{h.letter}@:{h.power}" for h in others]
        if len(tools) > 1:
            parts += [f"@{h.index}:{h.power}" for h in tools]
    elif style in ("marlin1", "prusa"):
        parts.append(f"T:{first.current:.1f} /{first.target:.1f}")
        parts += [f"{h.letter}:{h.current:.1f} /{h.target:.1f}" for h in others]
        parts += [f"T{h.index}:{h.current:.1f} /{h.target:.1f}" for h in tools]
        parts.append(f"@:{first.power}")
        parts += [f"{h.letter}@:{h.power}" for h in others]
        if style == "prusa":
            # Prusa boards report their PINDA probe and ambient thermistors too.
            parts.append(f"P:{others[0].current if others else 0.0:.1f} A:{26.4:.1f}")
    elif style == "rrf":
        parts.append(f"T:{first.current:.1f} /{first.target:.1f}")
        parts += [f"{h.letter}:{h.current:.1f} /{h.target:.1f}" for h in others]
    elif style == "repetier":
        parts.append(f"T:{first.current:.2f} /{first.target:.0f}")
        parts += [f"{h.letter}:{h.current:.2f} /{h.target:.0f}" for h in others]
        parts += [f"{h.letter}@:{h.power}" for h in others]
        parts.append(f"@:{first.power}")
    elif style == "klipper":
        # klippy/extras/heaters.py PrinterHeaters._get_temp(): sorted gcode ids, "%s:%.1f /%.1f".
        named = [
            ("B" if h.letter == "B" else h.letter if h.letter == "C" else f"T{h.index or 0}", h)
            for h in heaters
        ]
        parts += [
            f"{name}:{h.current:.1f} /{h.target:.1f}"
            for name, h in sorted(named, key=lambda item: item[0])
        ]
    else:  # "spaced": the slash hugs the current value, as some forks print it
        parts.append(f"T:{first.current:.1f}/ {first.target:.1f}")
        parts += [f"{h.letter}:{h.current:.1f}/ {h.target:.1f}" for h in others]
    return " ".join(parts)


def wait_report(style: str, heaters: list[HeaterReading], waiting_on: HeaterReading) -> str | None:
    """The line printed about once a second while M109/M190 waits; None: prints nothing."""
    if style == "none":
        return None
    if style == "marlin1":
        # Marlin 1.x and Prusa print only the awaited heater, then "W:" residency.
        tool = waiting_on.index if waiting_on.letter == "T" and waiting_on.index else 0
        return f"{waiting_on.letter}:{waiting_on.current:.1f} E:{tool} W:?"
    if style == "repetier":
        return temperature_report("repetier", heaters) + " W:?"
    if style == "klipper":
        # heaters.py _wait_for_temperature(): respond_raw(self._get_temp(eventtime)) each second.
        return temperature_report("klipper", heaters)
    return " " + temperature_report("marlin2", heaters) + " W:?"
