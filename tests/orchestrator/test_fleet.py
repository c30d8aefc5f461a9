"""The fleet file: the model, every problem with its line, atomic rewrites."""

from __future__ import annotations

import os
import stat
import typing
from pathlib import Path

import pytest

from instance.sim.options import IDENTITIES
from orchestrator.fleet.file import (
    dump_fleet,
    load_fleet,
    parse_fleet,
    write_atomically,
    write_fleet,
    write_starter,
)
from orchestrator.fleet.model import Camera, Fleet, Printer, Simulation, after_job, presets
from orchestrator.fleet.problems import FleetFileError
from orchestrator.fleet.starter import STARTER
from orchestrator.model import stack_of

RATES = "9600, 19200, 38400, 57600, 115200, 230400, 250000, 460800, 500000, 921600, 1000000"
PORT = "pci-0000:00:14.0-usb-0:2:1.0"


def problems(text: str) -> list[str]:
    with pytest.raises(FleetFileError) as caught:
        parse_fleet(text, "fleet.yaml")
    return str(caught.value).splitlines()


def test_minimal_fleet_gets_defaults() -> None:
    fleet = parse_fleet("printers:\n  - name: mk3\n    serial: CZPX1\n", "fleet.yaml")
    printer = fleet.printers[0]
    assert (printer.baudrate, printer.receive_buffer, printer.command_buffer) == (250000, 128, 4)
    assert fleet.site.http_port == 80
    assert fleet.site.ipv6 is True
    assert fleet.site.image_base == "debian:bookworm-slim"
    assert fleet.site.state_dir == "/var/lib/fabfleet"
    assert fleet.cameras == []


def test_empty_file_is_an_empty_fleet() -> None:
    assert parse_fleet("", "fleet.yaml") == Fleet()


def test_full_fleet_loads() -> None:
    text = f"""\
site:
  http_port: 8080
  tls: {{certificate: /etc/ssl/fleet.pem, key: /etc/ssl/fleet.key}}
  ipv6: false
printers:
  - name: mk3
    serial: CZPX1
    baudrate: 115200
    camera: bench
    profile:
      max_feedrate: {{x: 200, y: 200, z: 12, e: 120}}
      max_acceleration: {{x: 1000, y: 1000}}
      bed: {{x: 250, y: 210, z: 210}}
      nozzle: 0.6
      materials: [PLA, PETG]
      tags: [workshop]
  - name: ender-1
    port_path: {PORT}
  - name: sim-1
    url: rfc2217://[::1]:5001
cameras:
  - name: bench
    port_path: {PORT}.2
    resolution: 640x480
    fps: 15
    format: yuyv
"""
    fleet = parse_fleet(text, "fleet.yaml")
    assert fleet.site.tls is not None and fleet.site.tls.key == "/etc/ssl/fleet.key"
    assert fleet.printers[0].profile is not None
    assert fleet.printers[0].profile.bed is not None and fleet.printers[0].profile.bed.x == 250
    assert [p.identity() for p in fleet.printers] == [
        ("serial", "CZPX1"),
        ("port_path", PORT),
        ("url", "rfc2217://[::1]:5001"),
    ]
    assert fleet.cameras[0].format == "yuyv"


def test_every_problem_is_reported_with_its_line() -> None:
    text = """\
site:
  http_prot: 8080
printers:
  - name: Left
    serial: A1
    baudrate: 123
  - name: right
    port_path: pci-0000:00:14.0-usb-0:2:1.0
    receive_buffer: 5000
  - name: both
    serial: B
    url: socket://h:1
  - name: right
    serial: A1
    camera: nope
cameras:
  - name: cam
    serial: C1
    fps: "30"
    format: h264
"""
    assert problems(text) == [
        "fleet.yaml:2: site.http_prot: unknown key 'http_prot'; did you mean 'http_port'?",
        "fleet.yaml:4: printers[0].name: 'Left' is not a valid name; names are lowercase "
        "letters, digits and '-' (1 to 32, starting and ending with a letter or digit)",
        f"fleet.yaml:6: printers[0].baudrate: 123 is not a standard baud rate; use one of {RATES}",
        "fleet.yaml:9: printers[1].receive_buffer: 5000 is out of range; use at most 4096",
        "fleet.yaml:10: printers[2]: give exactly one identity (serial, port_path, url, "
        "simulated); found serial and url",
        "fleet.yaml:13: printers[3].name: name 'right' is already taken by a printer (line 7)",
        "fleet.yaml:15: printers[3].camera: no camera named 'nope' (enrolled cameras: cam)",
        "fleet.yaml:19: cameras[0].fps: '30' (text) is not a whole number; write it without quotes",
        "fleet.yaml:20: cameras[0].format: 'h264' is not allowed; use one of 'mjpeg' or 'yuyv'",
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("baudrat: 115200", "unknown key 'baudrat'; did you mean 'baudrate'?"),
        ("recieve_buffer: 64", "unknown key 'recieve_buffer'; did you mean 'receive_buffer'?"),
        ("cam: top", "unknown key 'cam'; did you mean 'camera'?"),
        (
            "zzz: 1",
            "unknown key 'zzz'; known keys here: name, serial, port_path, url, simulated, "
            "baudrate, receive_buffer, command_buffer, window, device_gone_timeout, profile, "
            "camera, timelapse, groups, maintenance, power",
        ),
    ],
)
def test_unknown_key_suggests_the_right_one(entry: str, expected: str) -> None:
    text = f"printers:\n  - name: mk3\n    serial: A1\n    {entry}\n"
    field = entry.split(":")[0]
    assert problems(text) == [f"fleet.yaml:4: printers[0].{field}: {expected}"]


def test_device_gone_timeout_reaches_the_print_server_and_is_checked() -> None:
    fleet = parse_fleet("printers:\n  - name: mk3\n    serial: A1\n", "fleet.yaml")
    assert fleet.printers[0].device_gone_timeout == 60
    text = "printers:\n  - {name: mk3, serial: A1, device_gone_timeout: 0}\n"
    stack = stack_of(parse_fleet(text, "fleet.yaml"), "1.0.0")
    printer = stack.service("printer-mk3")
    assert ("FABFLEET_DEVICE_GONE_TIMEOUT", "0") in [(s.name, s.value) for s in printer.environment]
    for value, says in (
        ("-5", "-5 is out of range; use at least 0"),
        ("90000", "90000 is out of range; use at most 86400"),
        ("soon", "'soon' (text) is not a whole number"),
    ):
        found = problems(
            f"printers:\n  - name: mk3\n    serial: A1\n    device_gone_timeout: {value}\n"
        )
        assert len(found) == 1 and found[0].startswith(
            "fleet.yaml:4: printers[0].device_gone_timeout: "
        ), found
        assert says in found[0], found


def test_unknown_key_in_a_nested_section() -> None:
    text = "printers:\n  - name: mk3\n    serial: A1\n    profile:\n      nozle: 0.4\n"
    assert problems(text) == [
        "fleet.yaml:5: printers[0].profile.nozle: unknown key 'nozle'; did you mean 'nozzle'?"
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("url: http://h:1", "url: 'http://h:1' is not a printer URL; use socket://host:port "
         "or rfc2217://host:port"),
        ("url: socket://h", "url: 'socket://h' is not a printer URL; use socket://host:port "
         "or rfc2217://host:port"),
        ("port_path: /dev/ttyUSB0", "port_path: '/dev/ttyUSB0' is not a udev USB port path; copy "
         "ID_PATH from `udevadm info -q property -n /dev/ttyUSB0`, e.g. "
         "pci-0000:00:14.0-usb-0:2:1.0"),
    ],
)  # fmt: skip
def test_bad_identity_values(entry: str, expected: str) -> None:
    assert problems(f"printers:\n  - name: mk3\n    {entry}\n") == [
        f"fleet.yaml:3: printers[0].{expected}"
    ]


def test_missing_identity() -> None:
    assert problems("printers:\n  - name: mk3\n") == [
        "fleet.yaml:2: printers[0]: give exactly one identity (serial, port_path, url, "
        "simulated); found none"
    ]


def test_simulated_printers() -> None:
    text = """\
printers:
  - name: a
    simulated: true
  - name: b
    simulated:
      time_factor: 50
      firmware: prusa
  - name: c
    simulated: {}
"""
    fleet = parse_fleet(text, "fleet.yaml")
    assert [p.identity() for p in fleet.printers] == [
        ("simulated", "marlin2 at 20x speed"),
        ("simulated", "prusa at 50x speed"),
        ("simulated", "marlin2 at 20x speed"),
    ]
    assert fleet.printers[0].simulated == Simulation()
    # Any number of them: each runs a simulator of its own, so nothing clashes.
    assert [p.name for p in fleet.printers] == ["a", "b", "c"]
    # Written back as given; an empty mapping is the same as `true`.
    assert dump_fleet(fleet).endswith(
        "printers:\n"
        "  - name: a\n"
        "    simulated: true\n"
        "  - name: b\n"
        "    simulated:\n"
        "      time_factor: 50.0\n"
        "      firmware: prusa\n"
        "  - name: c\n"
        "    simulated: true\n"
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("simulated: false", "simulated: false is not allowed; remove 'simulated' and give "
         "serial, port_path or url, or write 'simulated: true'"),
        ("simulated: fast", "simulated: 'fast' (text) is not a mapping; write 'key: value' "
         "lines under it"),
        ("simulated: {time_factr: 5}", "simulated.time_factr: unknown key 'time_factr'; did you "
         "mean 'time_factor'?"),
        ("simulated: {time_factor: 0.5}", "simulated.time_factor: 0.5 is out of range; use at "
         "least 1.0"),
        ("simulated: {time_factor: '5'}", "simulated.time_factor: '5' (text) is not a number; "
         "write it without quotes"),
        ("simulated: {firmware: smoothie}", "simulated.firmware: 'smoothie' is not allowed; use "
         "one of 'marlin2', 'marlin1', 'prusa', 'rrf', 'repetier' or 'klipper'"),
        ("simulated: {faults: [melted_nozzle]}", "simulated.faults[0]: --fault melted_nozzle: "
         "unknown fault 'melted_nozzle'; known: action, corrupt_line, crlf, double_resend, "
         "drop_line, emit, endless_resend, extra_ok, fatal_error, garbage, long_command, "
         "long_line, lost_ok, ok_before_output, ok_variant, random_resend, resend_format, "
         "resend_old, resend_unsent, resend_without_ok, reset, reset_on_open, silence, "
         "slow_planner, split_writes, temperature_format, unplug, unsolicited, wait_idle, "
         "write_stall; `fabfleet-sim --list-faults` lists them"),
        ("window: many\n    simulated: true",
         "window: 'many' is not allowed; use one of 'auto' or 'single'"),
    ],
)  # fmt: skip
def test_bad_simulated_printers(entry: str, expected: str) -> None:
    assert problems(f"printers:\n  - name: sim\n    {entry}\n") == [
        f"fleet.yaml:3: printers[0].{expected}"
    ]


def test_a_simulated_printer_has_no_other_identity() -> None:
    text = "printers:\n  - name: a\n    simulated: true\n    url: socket://h:1\n"
    assert problems(text) == [
        "fleet.yaml:2: printers[0]: give exactly one identity (serial, port_path, url, "
        "simulated); found url and simulated"
    ]


def test_the_firmwares_are_the_simulators() -> None:
    annotation = Simulation.model_fields["firmware"].annotation
    assert typing.get_args(annotation) == IDENTITIES


def test_duplicate_identities_across_devices() -> None:
    text = f"""\
printers:
  - name: a
    serial: S1
  - name: b
    serial: S1
  - name: c
    port_path: {PORT}
cameras:
  - name: d
    port_path: {PORT}
  - name: a
    serial: S2
"""
    assert problems(text) == [
        "fleet.yaml:5: printers[1].serial: serial 'S1' is already enrolled as printer 'a'; "
        "if both boards report the same serial (common with CH340), identify them by "
        "port_path instead (line 2)",
        f"fleet.yaml:10: cameras[0].port_path: port_path '{PORT}' is already enrolled as "
        "printer 'c' (line 6)",
        "fleet.yaml:11: cameras[1].name: name 'a' is already taken by a printer (line 2)",
    ]


def test_camera_with_problems_of_its_own_still_counts_as_existing() -> None:
    text = "printers:\n  - {name: a, serial: S, camera: top}\ncameras:\n  - {name: top, fps: 99}\n"
    assert problems(text) == [
        "fleet.yaml:4: cameras[0].fps: 99 is out of range; use at most 60",
        "fleet.yaml:4: cameras[0]: give exactly one identity (serial, port_path); found none",
    ]


def test_yaml_shape_problems() -> None:
    assert problems("printers:\n  - name: a\n    serial: S\n    serial: T\n") == [
        "fleet.yaml:4: printers[0].serial: 'serial' appears twice (first on line 3); keep one"
    ]
    assert problems("- a\n- b\n") == [
        "fleet.yaml:1: a fleet file is a mapping with site, printers, cameras"
    ]
    assert problems("printers: {name: a}\n") == [
        "fleet.yaml:1: printers: {'name': 'a'} is not a list; write one '- ' item per line"
    ]


def test_malformed_yaml_is_one_problem_with_the_parser_line() -> None:
    assert problems("site:\n  http_port: 80\n printers: [\n") == [
        "fleet.yaml:3: not valid YAML: while parsing a block mapping "
        "expected <block end>, but found '<block mapping start>'"
    ]
    assert problems("printers:\n  - name: a\n    serial: [S\n") == [
        "fleet.yaml:4: not valid YAML: while parsing a flow sequence "
        "expected ',' or ']', but got '<stream end>'"
    ]


def test_missing_file_names_the_path_and_init(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    with pytest.raises(FleetFileError) as caught:
        load_fleet(path)
    assert str(caught.value) == (
        f"{path}: no fleet file; create one with `fabfleet init --config {path}`"
    )


def test_starter_loads_and_its_examples_too(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "fleet.yaml"
    write_starter(path)
    assert load_fleet(path) == Fleet()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    # Uncommenting the examples gives a valid fleet: they are not decoration.
    lines = [
        line[2:] if line.startswith(("#   ", "# printers", "# cameras")) else line
        for line in STARTER.splitlines()
        if line not in ("printers: []", "cameras: []")
    ]
    fleet = parse_fleet("\n".join(lines), "starter")
    assert [p.name for p in fleet.printers] == ["prusa-mk3", "ender-1", "sim-1", "demo-1"]
    assert fleet.printers[3].simulated == Simulation(time_factor=20, firmware="marlin2")
    assert [c.name for c in fleet.cameras] == ["bench-cam"]


def test_starter_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_bytes(b"mine\n")
    with pytest.raises(FileExistsError):
        write_starter(path)
    assert path.read_bytes() == b"mine\n"
    assert os.listdir(tmp_path) == ["fleet.yaml"]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    fleet = Fleet(
        printers=[
            Printer(name="mk3", serial="CZPX1", baudrate=115200, camera="bench"),
            Printer(name="sim", url="socket://127.0.0.1:5001"),
            Printer(name="demo", simulated=Simulation(time_factor=40)),
            Printer(name="demo-2", simulated=Simulation()),
        ],
        cameras=[Camera(name="bench", port_path=PORT, fps=15)],
    )
    write_fleet(path, fleet)
    assert load_fleet(path) == fleet
    first = path.read_bytes()
    write_fleet(path, load_fleet(path))
    assert path.read_bytes() == first  # stable: rewriting changes nothing


def test_dump_keeps_only_what_was_written() -> None:
    text = "printers:\n  - name: mk3\n    serial: A1\n"
    dumped = dump_fleet(parse_fleet(text, "f"))
    assert dumped.endswith(text)
    assert "baudrate" not in dumped


def test_invalid_fleet_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("printers:\n  - name: a\n    serial: S\n")
    before = path.read_bytes()
    clash = Fleet(printers=[Printer(name="a", serial="S"), Printer(name="b", serial="S")])
    with pytest.raises(FleetFileError, match="serial 'S' is already enrolled as printer 'a'"):
        write_fleet(path, clash)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["fleet.yaml"]


def test_write_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("printers: []\n")
    path.chmod(0o600)
    # A second name for the old inode: had the write gone in place, it would change too.
    old = tmp_path / "old.yaml"
    os.link(path, old)
    write_fleet(path, Fleet(printers=[Printer(name="a", serial="S")]))
    assert old.read_text() == "printers: []\n"
    assert path.stat().st_ino != old.stat().st_ino
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_fleet(path).printers[0].name == "a"
    assert sorted(os.listdir(tmp_path)) == ["fleet.yaml", "old.yaml"]  # no temp file left


def test_new_file_is_group_readable_only(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    write_atomically(path, b"printers: []\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("printers: []\n")
    link = tmp_path / "fleet.yaml"
    link.symlink_to(real)
    write_fleet(link, Fleet(printers=[Printer(name="a", serial="S")]))
    assert link.is_symlink()
    assert load_fleet(real).printers[0].name == "a"


AFTER_JOB_AND_MATERIALS = """\
site:
  after_job: {heaters: off, fans: keep}
  materials:
    pla: {hotend: 215, bed: 55}
    PETG-CF: {hotend: 250, bed: 80}
printers:
  - name: mk3
    simulated: true
    profile:
      materials: [PLA, PETG-CF]
      after_job: {heaters: keep}
  - name: ender
    simulated: true
"""


def test_after_job_profile_over_site_over_default() -> None:
    fleet = parse_fleet(AFTER_JOB_AND_MATERIALS, "fleet.yaml")
    mk3, ender = fleet.printers
    # The profile keeps the heaters; the fans follow the site; YAML's bare `off` is off.
    assert after_job(fleet, mk3) == ("keep", "keep")
    assert after_job(fleet, ender) == ("off", "keep")
    assert after_job(Fleet(printers=[ender]), ender) == ("off", "off")


def test_presets_are_the_printers_materials_or_the_whole_table() -> None:
    fleet = parse_fleet(AFTER_JOB_AND_MATERIALS, "fleet.yaml")
    mk3, ender = fleet.printers
    # The site's pla changes the built-in PLA (spelt as built in); PETG-CF is new.
    assert presets(fleet, mk3) == [
        {"name": "PLA", "hotend": 215, "bed": 55},
        {"name": "PETG-CF", "hotend": 250, "bed": 80},
    ]
    table = presets(fleet, ender)
    assert [p["name"] for p in table] == ["PLA", "PETG", "ABS", "ASA", "TPU", "PA", "PC", "PETG-CF"]
    assert table[2] == {"name": "ABS", "hotend": 250, "bed": 100}


def test_an_unknown_material_is_named_at_its_line() -> None:
    text = "printers:\n  - name: mk3\n    simulated: true\n    profile:\n      materials:\n"
    text += "        - PLA\n        - Nylon-X\n"
    assert problems(text) == [
        "fleet.yaml:7: printers[0].profile.materials[1]: unknown material 'Nylon-X'; known: "
        "ABS, ASA, PA, PC, PETG, PLA, TPU"
        " (add it under site: materials: with its hotend and bed °C)"
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("materials: {PLA: {hotend: 900, bed: 60}}", "materials.PLA.hotend: 900 is out of range"),
        ("materials: {PLA: {hotend: 210, bed: 200}}", "materials.PLA.bed: 200 is out of range"),
        ("materials: {PLA: {hotend: 210}}", "materials.PLA.bed: 'bed' is required here"),
        ("after_job: {heaters: cold}", "after_job.heaters: 'cold' is not allowed"),
    ],
)
def test_bad_site_after_job_and_materials(entry: str, expected: str) -> None:
    (problem,) = problems(f"site:\n  {entry}\n")
    assert problem.startswith(f"fleet.yaml:2: site.{expected}"), problem


def test_a_timelapse_needs_the_printers_camera_and_sane_limits() -> None:
    head = "printers:\n  - name: mk3\n    serial: A1\n"
    cameras = "cameras:\n  - name: top\n    serial: C1\n"
    assert problems(f"{head}    timelapse: {{mode: layer}}\n") == [
        "fleet.yaml:2: printers[0]: a timelapse needs this printer's camera: add camera: <name>"
        " (an entry of cameras), or remove timelapse"
    ]
    assert problems(f"{head}    camera: top\n    timelapse: {{mode: often}}\n{cameras}") == [
        "fleet.yaml:5: printers[0].timelapse.mode: 'often' is not allowed; use one of 'off',"
        " 'layer' or 'interval'"
    ]
    [bad_interval] = problems(
        f"{head}    camera: top\n    timelapse: {{mode: interval, interval_s: 0}}\n{cameras}"
    )
    assert bad_interval.startswith("fleet.yaml:5: printers[0].timelapse.interval_s:")
    # Rendered: the printer's print server gets the camera's snapshot and its default.
    text = f"{head}    camera: top\n    timelapse: {{mode: interval, interval_s: 30}}\n{cameras}"
    fleet = parse_fleet(text, "fleet.yaml")
    printer = next(s for s in stack_of(fleet, "1").services if s.name == "printer-mk3")
    settings = {s.name: s.value for s in printer.environment}
    assert settings["FABFLEET_CAMERA_SNAPSHOT_URL"] == "http://camera-top:8080/snapshot"
    assert settings["FABFLEET_CAMERA_URL"] == "/cameras/top/stream"
    assert (settings["FABFLEET_TIMELAPSE"], settings["FABFLEET_TIMELAPSE_INTERVAL"]) == (
        "interval",
        "30",
    )
    assert "FABFLEET_TIMELAPSE_PARK_GCODE" not in settings  # no park move unless asked


def test_park_gcode_is_checked_by_line_and_reaches_the_print_server() -> None:
    head = "printers:\n  - name: mk3\n    serial: A1\n    camera: top\n    timelapse:\n"
    cameras = "cameras:\n  - name: top\n    serial: C1\n"
    park = "      park_gcode:\n        - G1 Z{z+2} F600\n"
    assert problems(f"{head}{park}        - G1 X{{q}} Y200\n        - N5 G1 X0\n{cameras}") == [
        "fleet.yaml:8: printers[0].timelapse.park_gcode[1]: park script line 'G1 X{q} Y200':"
        " unknown placeholder {q}; known: bed, e, feed, hotend, lift, retract, tool, travel,"
        " x, y, z, each maybe plus or minus a number ({z+2})",
        "fleet.yaml:9: printers[0].timelapse.park_gcode[2]: 'N5 G1 X0': no line number (N…);"
        " the print server numbers the lines",
    ]
    [interval] = problems(f"{head}      mode: interval\n{park}{cameras}")
    assert interval.startswith("fleet.yaml:5: printers[0].timelapse: park_gcode is for layer")
    fleet = parse_fleet(f"{head}{park}        - G1 X0 Y200 F6000\n{cameras}", "fleet.yaml")
    printer = next(s for s in stack_of(fleet, "1").services if s.name == "printer-mk3")
    settings = {s.name: s.value for s in printer.environment}
    assert settings["FABFLEET_TIMELAPSE_PARK_GCODE"] == "G1 Z{z+2} F600|G1 X0 Y200 F6000"


def test_tls_is_the_sites_files_or_a_certificate_up_makes() -> None:
    own = parse_fleet(
        "site:\n  https_port: 8443\n  tls:\n    self_signed: true\n"
        "    names: [farm.lab.example, 192.168.1.20, '*.farm.example']\n",
        "fleet.yaml",
    )
    assert own.site.tls is not None and own.site.tls.files() is None
    assert (own.site.https_port, own.site.tls.names[1]) == (8443, "192.168.1.20")
    assert problems("site:\n  tls:\n    key: /etc/k.pem\n") == [
        "fleet.yaml:2: site.tls: give both certificate and key (PEM files), or write "
        "self_signed: true"
    ]
    assert problems("site:\n  tls: {self_signed: true, key: /etc/k.pem}\n") == [
        "fleet.yaml:2: site.tls: self_signed makes its own certificate and key: remove "
        "certificate and key, or remove self_signed"
    ]
    assert problems("site:\n  tls:\n    self_signed: true\n    names: [farm lab]\n") == [
        "fleet.yaml:4: site.tls.names[0]: 'farm lab' is neither a host name nor an IP "
        "address; write e.g. farm.lab.example, farm or 192.168.1.20"
    ]
    assert problems(
        "site:\n  http_port: 8443\n  https_port: 8443\n  tls: {self_signed: true}\n"
    ) == [
        "fleet.yaml:1: site: https_port and http_port are both 8443; HTTP needs a port of its"
        " own (it redirects to HTTPS)"
    ]
