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
    """The wording of one firmware family."""

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
    drops_recent_duplicates: bool
    unknown_command: str  # format with {command}


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
        drops_recent_duplicates=True,
        unknown_command='echo:Unknown command: "{command}"',
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
        drops_recent_duplicates=False,
        unknown_command='echo:Unknown command: "{command}"',
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
        drops_recent_duplicates=False,
        unknown_command='echo:Unknown command: "{command}"',
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
        drops_recent_duplicates=False,
        unknown_command="Error: Unknown command: {command}",
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
        drops_recent_duplicates=False,
        unknown_command="Unknown command:{command}",
    ),
}

TEMPERATURE_FORMATS = ("marlin2", "marlin1", "prusa", "rrf", "repetier", "spaced")
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
    return " " + temperature_report("marlin2", heaters) + " W:?"
