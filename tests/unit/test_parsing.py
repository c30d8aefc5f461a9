"""Firmware lines as Marlin, Prusa, RepRapFirmware, Repetier and Teacup print them, parsed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instance.protocol.parsing import (
    parse_firmware_info,
    parse_position,
    parse_reply,
    parse_temperatures,
)
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

REPLY_TYPES = (
    Ok,
    ResendRequest,
    LineError,
    FatalError,
    Busy,
    Wait,
    Start,
    FirmwareInfo,
    Capability,
    TemperatureReport,
    PositionReport,
    ActionCommand,
    Echo,
    Other,
)


def temps(wait: float | None = None, **heaters: Heater) -> TemperatureReport:
    return TemperatureReport(dict(heaters), wait)


OK_LINES = [
    ("ok", (Ok(),)),
    ("ok   ", (Ok(),)),
    ("ok N12 P15 B3", (Ok(12, 15, 3),)),
    ("ok N1234 P0 B0", (Ok(1234, 0, 0),)),
    ("ok N:0", (Ok(0),)),
    ("ok 123", (Ok(123),)),
    ("ok P15 B3", (Ok(None, 15, 3),)),
    ("ok  N12   P15  B3 ", (Ok(12, 15, 3),)),
    ("ok N12", (Ok(12),)),
    ("ok B3", (Ok(None, None, 3),)),
    # Data on the ok line is kept verbatim, whatever it is.
    ("ok foo bar", (Ok(data="foo bar"),)),
    ("ok N12 P15 B3 extra", (Ok(12, 15, 3, "extra"),)),
    # Not an ok at all.
    ("okay", (Other("okay"),)),
]

RESEND_LINES = [
    ("Resend: 5", (ResendRequest(5),)),
    ("Resend:5", (ResendRequest(5),)),
    ("resend: 5", (ResendRequest(5),)),
    ("Resend: N5", (ResendRequest(5),)),
    ("rs 5", (ResendRequest(5),)),
    ("rs N5", (ResendRequest(5),)),
    ("rs N2 Expected checksum 67", (ResendRequest(2),)),
    ("Resend: ", (Other("Resend:"),)),
    ("rsync", (Other("rsync"),)),
]

ERROR_LINES = [
    (
        "Error:checksum mismatch, Last Line: 5",
        (LineError("checksum mismatch, Last Line: 5", 5),),
    ),
    (
        "Error:Line Number is not Last Line Number+1, Last Line: 4",
        (LineError("Line Number is not Last Line Number+1, Last Line: 4", 4),),
    ),
    (
        "Error:No Checksum with line number, Last Line: 4",
        (LineError("No Checksum with line number, Last Line: 4", 4),),
    ),
    (
        "Error:No Line Number with checksum, Last Line: 4",
        (LineError("No Line Number with checksum, Last Line: 4", 4),),
    ),
    ("Error:Format error", (LineError("Format error"),)),
    # Repetier: the last accepted line is one before the expected one.
    ("Error:expected line 5 got 7", (LineError("expected line 5 got 7", 4),)),
    ("Error: expected line 5 got 7", (LineError("expected line 5 got 7", 4),)),
    ("Error:Wrong checksum", (LineError("Wrong checksum"),)),
    # SD card trouble concerns only SD printing: never fatal, never a line number.
    ("Error:volume.init failed", (LineError("volume.init failed"),)),
    ("Error:open failed, File: foo.gco.", (LineError("open failed, File: foo.gco."),)),
    ("Error:Cannot open subdir", (LineError("Cannot open subdir"),)),
    ("echo:SD init fail", (Echo("SD init fail"),)),
    ("echo:SD card ok", (Echo("SD card ok"),)),
    # Klipper reports non-fatal trouble with "!!".
    (
        "!! Must home axis first: 0.000 0.000 0.000 [0.000]",
        (LineError("Must home axis first: 0.000 0.000 0.000 [0.000]"),),
    ),
]

FATAL_LINES = [
    (
        "Error:Thermal Runaway, system stopped! Heater_ID: 0",
        (FatalError("Thermal Runaway, system stopped! Heater_ID: 0", complete=False),),
    ),
    (
        "Error:Thermal Runaway, system stopped! Heater_ID: bed",
        (FatalError("Thermal Runaway, system stopped! Heater_ID: bed", complete=False),),
    ),
    (
        "Error:Printer halted. kill() called!",
        (FatalError("Printer halted. kill() called!", complete=True),),
    ),
    (
        "Error:MAXTEMP triggered, system stopped! Heater_ID: bed",
        (FatalError("MAXTEMP triggered, system stopped! Heater_ID: bed", complete=False),),
    ),
    (
        "Error:MINTEMP triggered, system stopped! Heater_ID: 0",
        (FatalError("MINTEMP triggered, system stopped! Heater_ID: 0", complete=False),),
    ),
    (
        "Error:Heating failed, system stopped! Heater_ID: 0",
        (FatalError("Heating failed, system stopped! Heater_ID: 0", complete=False),),
    ),
    ("Error: Heating failed", (FatalError("Heating failed"),)),
    (
        "Error:Printer stopped due to errors. Fix the error and use M999 to restart. "
        "(Temperature is reset. Set it after restarting)",
        (
            FatalError(
                "Printer stopped due to errors. Fix the error and use M999 to restart. "
                "(Temperature is reset. Set it after restarting)"
            ),
        ),
    ),
    # Marlin 1.0 / Prusa heater errors.
    (
        "Error:0: Extruder switched off. MAXTEMP triggered !",
        (FatalError("0: Extruder switched off. MAXTEMP triggered !"),),
    ),
    ("Error:Probing Failed", (FatalError("Probing Failed"),)),
    ("Error:Homing Failed", (FatalError("Homing Failed"),)),
    # RepRapFirmware turns the heater off and pauses.
    (
        "Error: Heater 0 fault: temperature rising much more slowly than the expected 1.8°C/sec",
        (
            FatalError(
                "Heater 0 fault: temperature rising much more slowly than the expected 1.8°C/sec"
            ),
        ),
    ),
    ("!! Printer halted", (FatalError("Printer halted"),)),
    ("!! Shutdown due to webhooks request", (FatalError("Shutdown due to webhooks request"),)),
    ("fatal:Heater/sensor error", (FatalError("Heater/sensor error"),)),
]

LIVENESS_LINES = [
    ("busy: processing", (Busy("processing"),)),
    ("echo:busy: processing", (Busy("processing"),)),
    ("echo:busy: paused for user", (Busy("paused for user"),)),
    ("echo:busy: paused for input", (Busy("paused for input"),)),
    ("wait", (Wait(),)),
    ("start", (Start(),)),
    ("start   ", (Start(),)),
    ("Start", (Start(),)),
    ("starting", (Other("starting"),)),
]

M115_LINES = [
    ("Cap:AUTOREPORT_TEMP:1", (Capability("AUTOREPORT_TEMP", True),)),
    ("Cap:EMERGENCY_PARSER:0", (Capability("EMERGENCY_PARSER", False),)),
    ("Cap:SERIAL_XON_XOFF:0", (Capability("SERIAL_XON_XOFF", False),)),
    ("Cap:BROKEN", (Other("Cap:BROKEN"),)),
    (
        "FIRMWARE_NAME:Marlin 2.1.2.1 (Github) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:1 "
        "UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff",
        (
            FirmwareInfo(
                "Marlin 2.1.2.1 (Github)",
                {
                    "FIRMWARE_NAME": "Marlin 2.1.2.1 (Github)",
                    "SOURCE_CODE_URL": "github.com/MarlinFirmware/Marlin",
                    "PROTOCOL_VERSION": "1.0",
                    "MACHINE_TYPE": "Ender-3",
                    "EXTRUDER_COUNT": "1",
                    "UUID": "cede2a2f-41a2-4748-9b12-c55c62f367ff",
                },
            ),
        ),
    ),
]

ACTION_LINES = [
    ("//action:pause", (ActionCommand("pause"),)),
    ("// action:pause", (ActionCommand("pause"),)),
    ("//action:resume", (ActionCommand("resume"),)),
    ("//action:cancel", (ActionCommand("cancel"),)),
    ("//action:paused", (ActionCommand("paused"),)),
    ("//action:resumed", (ActionCommand("resumed"),)),
    ("//action:disconnect", (ActionCommand("disconnect"),)),
    ("//action:prompt_begin Filament Runout", (ActionCommand("prompt_begin", "Filament Runout"),)),
    ("//action:prompt_button Continue", (ActionCommand("prompt_button", "Continue"),)),
    ("//action:prompt_choice Purge more", (ActionCommand("prompt_choice", "Purge more"),)),
    ("//action:prompt_show", (ActionCommand("prompt_show"),)),
    ("//action:prompt_end", (ActionCommand("prompt_end"),)),
    ("//action:notification Heating...", (ActionCommand("notification", "Heating..."),)),
    ("// Klipper state: Ready", (Other("// Klipper state: Ready"),)),
]

ECHO_LINES = [
    ('echo:Unknown command: "G999"', (Echo('Unknown command: "G999"', "G999"),)),
    ('echo:Unknown command: "M9999 S1"', (Echo('Unknown command: "M9999 S1"', "M9999 S1"),)),
    # Repetier says it without echo:.
    ("Unknown command:G999", (Echo("Unknown command:G999", "G999"),)),
    ("echo:Marlin 2.1.2.1", (Echo("Marlin 2.1.2.1"),)),
    ("echo:  G21    ; Units in mm (mm)", (Echo("G21    ; Units in mm (mm)"),)),
    # A T: inside a message is not a temperature report.
    ("echo:Active Extruder: 0 T:200", (Echo("Active Extruder: 0 T:200"),)),
    ("echo:Hotend T:210.0 /210.0 reached", (Echo("Hotend T:210.0 /210.0 reached"),)),
    ("Heater T:210.0 /210.0 B:60.0", (Other("Heater T:210.0 /210.0 B:60.0"),)),
    ("Begin file list", (Other("Begin file list"),)),
    ("File opened: TEST.GCO Size: 12345", (Other("File opened: TEST.GCO Size: 12345"),)),
    ("", ()),
    ("   ", ()),
]

TEMPERATURE_LINES = [
    # Marlin 2.x M105 / autoreport, single tool.
    (
        "T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32",
        (temps(T0=Heater(210.0, 210.0, 64), B=Heater(60.0, 60.0, 32)),),
    ),
    (
        "ok T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32",
        (
            temps(T0=Heater(210.0, 210.0, 64), B=Heater(60.0, 60.0, 32)),
            Ok(data="T:210.0 /210.0 B:60.0 /60.0 @:64 B@:32"),
        ),
    ),
    # Marlin, two tools: the bare T: and @: repeat the active tool.
    (
        "ok T:21.3 /0.0 B:20.9 /0.0 T0:21.3 /0.0 T1:22.0 /0.0 @:0 B@:0 @0:0 @1:0",
        (
            temps(
                T0=Heater(21.3, 0.0, 0),
                T1=Heater(22.0, 0.0, 0),
                B=Heater(20.9, 0.0, 0),
            ),
            Ok(data="T:21.3 /0.0 B:20.9 /0.0 T0:21.3 /0.0 T1:22.0 /0.0 @:0 B@:0 @0:0 @1:0"),
        ),
    ),
    ("T:210.0/ 210.0", (temps(T0=Heater(210.0, 210.0)),)),
    ("T:210.0 / 210.0", (temps(T0=Heater(210.0, 210.0)),)),
    ("T:210.0 /210.0", (temps(T0=Heater(210.0, 210.0)),)),
    ("T: 210.0 /210.0", (temps(T0=Heater(210.0, 210.0)),)),
    ("T0:200.0 /200.0 T1:150.0 /0.0", (temps(T0=Heater(200.0, 200.0), T1=Heater(150.0, 0.0)),)),
    (
        "T:24.0 /0.0 B:23.0 /0.0 C:35.0 /40.0 @:0 B@:0 C@:12",
        (temps(T0=Heater(24.0, 0.0, 0), B=Heater(23.0, 0.0, 0), C=Heater(35.0, 40.0, 12)),),
    ),
    ("C:35.0 /40.0", (temps(C=Heater(35.0, 40.0)),)),
    # Prusa MK3S: P is the PINDA probe, A the ambient sensor.
    (
        "T:24.5 /0.0 B:23.8 /0.0 T0:24.5 /0.0 @:0 B@:0 P:0.0 A:26.4",
        (
            temps(
                T0=Heater(24.5, 0.0, 0),
                B=Heater(23.8, 0.0, 0),
                P=Heater(0.0),
                A=Heater(26.4),
            ),
        ),
    ),
    # Old Marlin M109 countdown: E: says which tool, W:? means unknown.
    ("T:180.2 E:0 W:?", (temps(T0=Heater(180.2)),)),
    ("T:185.4 E:0 W:3", (temps(3.0, T0=Heater(185.4)),)),
    ("T:185.4 E:1 W:3", (temps(3.0, T1=Heater(185.4)),)),
    # Old Marlin M190 countdown.
    (
        "B:58.2 /60.0 T:25.0 /0.0 @:0 B@:127 W:2",
        (temps(2.0, B=Heater(58.2, 60.0, 127), T0=Heater(25.0, 0.0, 0)),),
    ),
    # Marlin 2 M109 with W:.
    (
        "T:185.40 /210.00 B:60.00 /60.00 @:127 B@:0 W:?",
        (temps(T0=Heater(185.4, 210.0, 127), B=Heater(60.0, 60.0, 0)),),
    ),
    # RepRapFirmware.
    (
        "ok T:24.9 /0.0 B:24.6 /0.0",
        (temps(T0=Heater(24.9, 0.0), B=Heater(24.6, 0.0)), Ok(data="T:24.9 /0.0 B:24.6 /0.0")),
    ),
    ("T:24.9 /0.0 B:24.6 /0.0", (temps(T0=Heater(24.9, 0.0), B=Heater(24.6, 0.0)),)),
    # Repetier.
    (
        "T:25.34 /0 B:24.64 /0 B@:0 @:0",
        (temps(T0=Heater(25.34, 0.0, 0), B=Heater(24.64, 0.0, 0)),),
    ),
    # Klipper, bed first.
    ("B:23.1 /0.0 T0:22.9 /0.0", (temps(B=Heater(23.1, 0.0), T0=Heater(22.9, 0.0)),)),
    # Marlin with SHOW_TEMP_ADC_VALUES: raw ADC values in parentheses are ignored.
    (
        "T:21.3 /0.0 (4035.00) B:20.9 /0.0 (4040.00) @:0 B@:0",
        (temps(T0=Heater(21.3, 0.0, 0), B=Heater(20.9, 0.0, 0)),),
    ),
    # Disconnected thermistor / no sensor.
    ("T:-14.0 /0.0 B:-273.1 /0.0", (temps(T0=Heater(-14.0, 0.0), B=Heater(-273.1, 0.0)),)),
    ("T:- /0.0 B:22.0 /0.0", (temps(B=Heater(22.0, 0.0)),)),
    ("T:- /-", (Other("T:- /-"),)),
]

POSITION_LINES = [
    (
        "X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120",
        (PositionReport({"X": 10.0, "Y": 20.0, "Z": 0.3, "E": 0.0}),),
    ),
    (
        "X:0.00 Y:0.00 Z:0.00 E:0.00 Count A:0 B:0 Z:0",
        (PositionReport({"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}),),
    ),
    (
        "X:0.00Y:0.00Z:0.00E:0.00 Count X: 0Y:0Z:0",
        (PositionReport({"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}),),
    ),
    (
        "X:0.000 Y:0.000 Z:0.000 E:0.000 E0:-0.0 Count 0 0 0 Machine 0.000 0.000 0.000 "
        "Bed comp 0.000",
        (PositionReport({"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0, "E0": -0.0}),),
    ),
    # Prusa.
    (
        "X:12.50 Y:-3.00 Z:0.15 E:1.25 Count X: 12.50 Y:-3.00 Z:0.15 E:1.25",
        (PositionReport({"X": 12.5, "Y": -3.0, "Z": 0.15, "E": 1.25}),),
    ),
    # Smoothieware-style position on the ok line.
    (
        "ok C: X:0.00 Y:0.00 Z:0.00 E:0.00",
        (
            PositionReport({"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}),
            Ok(data="C: X:0.00 Y:0.00 Z:0.00 E:0.00"),
        ),
    ),
    ("C: X:1.00 Y:2.00 Z:3.00", (PositionReport({"X": 1.0, "Y": 2.0, "Z": 3.0}),)),
]

ALL_LINES = (
    OK_LINES
    + RESEND_LINES
    + ERROR_LINES
    + FATAL_LINES
    + LIVENESS_LINES
    + M115_LINES
    + ACTION_LINES
    + ECHO_LINES
    + TEMPERATURE_LINES
    + POSITION_LINES
)


@pytest.mark.parametrize(("line", "expected"), ALL_LINES, ids=[repr(row[0]) for row in ALL_LINES])
def test_parse_reply(line: str, expected: tuple[Reply, ...]) -> None:
    assert parse_reply(line) == expected


def test_temperature_heaters_come_tool_first() -> None:
    report = parse_temperatures("T:210.0 /210.0 B:60.0 /60.0")
    assert report is not None
    assert list(report.heaters) == ["T0", "B"]


@pytest.mark.parametrize(
    "text",
    [
        "echo:T:210.0 /210.0",
        "Active Extruder: 0 T:200",
        "X:0.00 Y:0.00",
        "",
        "ok",
        "Temperature: 20",
    ],
)
def test_parse_temperatures_refuses_non_reports(text: str) -> None:
    assert parse_temperatures(text) is None


def test_parse_temperatures_accepts_ok_prefix() -> None:
    assert parse_temperatures("ok B:60.0 /60.0") == temps(B=Heater(60.0, 60.0))


@pytest.mark.parametrize("text", ["T:210.0 /210.0", "Y:1.0 X:2.0", "echo:X:1.0", "", "Count X:1"])
def test_parse_position_refuses_non_reports(text: str) -> None:
    assert parse_position(text) is None


FIRMWARE_LINES = [
    (
        "FIRMWARE_NAME:Prusa-Firmware 3.13.2 based on Marlin "
        "FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 "
        "MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1",
        FirmwareInfo(
            "Prusa-Firmware 3.13.2 based on Marlin",
            {
                "FIRMWARE_NAME": "Prusa-Firmware 3.13.2 based on Marlin",
                "FIRMWARE_URL": "https://github.com/prusa3d/Prusa-Firmware",
                "PROTOCOL_VERSION": "1.0",
                "MACHINE_TYPE": "Prusa i3 MK3S",
                "EXTRUDER_COUNT": "1",
            },
        ),
    ),
    (
        "FIRMWARE_NAME: RepRapFirmware for Duet 2 WiFi/Ethernet FIRMWARE_VERSION: 3.4.5 "
        "ELECTRONICS: Duet WiFi 1.02 or later FIRMWARE_DATE: 2022-11-30 19:36:12",
        FirmwareInfo(
            "RepRapFirmware for Duet 2 WiFi/Ethernet",
            {
                "FIRMWARE_NAME": "RepRapFirmware for Duet 2 WiFi/Ethernet",
                "FIRMWARE_VERSION": "3.4.5",
                "ELECTRONICS": "Duet WiFi 1.02 or later",
                "FIRMWARE_DATE": "2022-11-30 19:36:12",
            },
        ),
    ),
    (
        "FIRMWARE_NAME:Repetier_1.0.4 COMPILED:Jul 12 2019 "
        "FIRMWARE_URL:https://github.com/repetier/Repetier-Firmware/ PROTOCOL_VERSION:1.0 "
        "MACHINE_TYPE:Mendel EXTRUDER_COUNT:1 REPETIER_PROTOCOL:3",
        FirmwareInfo(
            "Repetier_1.0.4",
            {
                "FIRMWARE_NAME": "Repetier_1.0.4",
                "COMPILED": "Jul 12 2019",
                "FIRMWARE_URL": "https://github.com/repetier/Repetier-Firmware/",
                "PROTOCOL_VERSION": "1.0",
                "MACHINE_TYPE": "Mendel",
                "EXTRUDER_COUNT": "1",
                "REPETIER_PROTOCOL": "3",
            },
        ),
    ),
    (
        "FIRMWARE_NAME:Marlin 1.1.9 (Github) "
        "SOURCE_CODE_URL:https://github.com/MarlinFirmware/Marlin "
        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:3D Printer EXTRUDER_COUNT:1 "
        "UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff",
        FirmwareInfo(
            "Marlin 1.1.9 (Github)",
            {
                "FIRMWARE_NAME": "Marlin 1.1.9 (Github)",
                "SOURCE_CODE_URL": "https://github.com/MarlinFirmware/Marlin",
                "PROTOCOL_VERSION": "1.0",
                "MACHINE_TYPE": "3D Printer",
                "EXTRUDER_COUNT": "1",
                "UUID": "cede2a2f-41a2-4748-9b12-c55c62f367ff",
            },
        ),
    ),
    (
        "FIRMWARE_NAME:Teacup FIRMWARE_URL:http://github.com/traumflug/Teacup_Firmware/ "
        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:Mendel EXTRUDER_COUNT:1 TEMP_SENSOR_COUNT:2 "
        "HEATER_COUNT:2",
        FirmwareInfo(
            "Teacup",
            {
                "FIRMWARE_NAME": "Teacup",
                "FIRMWARE_URL": "http://github.com/traumflug/Teacup_Firmware/",
                "PROTOCOL_VERSION": "1.0",
                "MACHINE_TYPE": "Mendel",
                "EXTRUDER_COUNT": "1",
                "TEMP_SENSOR_COUNT": "2",
                "HEATER_COUNT": "2",
            },
        ),
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"), FIRMWARE_LINES, ids=[row[1].name for row in FIRMWARE_LINES]
)
def test_parse_firmware_info(line: str, expected: FirmwareInfo) -> None:
    assert parse_firmware_info(line) == expected
    assert parse_reply(line) == (expected,)


@pytest.mark.parametrize("text", ["MACHINE_TYPE:Ender-3", "", "firmware_name:x"])
def test_parse_firmware_info_needs_a_name(text: str) -> None:
    assert parse_firmware_info(text) is None


LINE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(list("\x00\ufffd okNPB:/@TXYZECW?-.0123456789 ")),
    ),
    max_size=120,
)
PREFIXES = st.sampled_from(
    ["", "ok ", "ok N", "T:", "B:", "C:", "X:", "Error:", "echo:", "!!", "//action:", "rs ", "Cap:"]
)


@given(prefix=PREFIXES, rest=LINE_TEXT)
def test_parse_reply_never_raises(prefix: str, rest: str) -> None:
    replies = parse_reply(prefix + rest)
    assert isinstance(replies, tuple)
    assert all(isinstance(reply, REPLY_TYPES) for reply in replies)
    if (prefix + rest).strip():
        assert replies
    for reply in replies:
        if isinstance(reply, Ok):
            assert reply is replies[-1]


@given(rest=LINE_TEXT)
def test_helpers_never_raise(rest: str) -> None:
    for text in (rest, "T:" + rest, "X:" + rest, "FIRMWARE_NAME:" + rest):
        temperatures = parse_temperatures(text)
        assert temperatures is None or temperatures.heaters
        position = parse_position(text)
        assert position is None or position.axes
        info = parse_firmware_info(text)
        assert info is None or info.fields["FIRMWARE_NAME"] == info.name


@given(
    number=st.integers(min_value=0, max_value=10**9),
    planner=st.integers(min_value=0, max_value=255),
    buffer=st.integers(min_value=0, max_value=255),
)
def test_advanced_ok_round_trip(number: int, planner: int, buffer: int) -> None:
    assert parse_reply(f"ok N{number} P{planner} B{buffer}") == (Ok(number, planner, buffer),)


@given(
    line=st.integers(min_value=0, max_value=10**9),
    form=st.sampled_from(
        ["Resend: {}", "Resend:{}", "resend: {}", "rs {}", "rs N{}", "Resend: N{}"]
    ),
)
def test_resend_round_trip(line: int, form: str) -> None:
    assert parse_reply(form.format(line)) == (ResendRequest(line),)
