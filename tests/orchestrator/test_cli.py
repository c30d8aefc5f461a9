"""The `fabfleet` command over real fleet files: enrolment, removal, listing, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from orchestrator.cli.main import app
from orchestrator.fleet.file import load_fleet

PORT = "pci-0000:00:14.0-usb-0:2:1.0"
RATES = "9600, 19200, 38400, 57600, 115200, 230400, 250000, 460800, 500000, 921600, 1000000"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "fleet.yaml"


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--config", str(config)])


@pytest.fixture
def enrolled(config: Path) -> Path:
    """A fleet with a camera, a printer linked to it, one by port path and one by URL."""
    for args in (
        ("init",),
        ("camera", "add", "top", "--serial", "C1", "--fps", "15"),
        ("printer", "add", "left", "--serial", "A1", "--camera", "top"),
        ("printer", "add", "right", "--port-path", PORT, "--baudrate", "115200"),
        ("printer", "add", "sim", "--url", "socket://127.0.0.1:5001"),
    ):
        result = run(config, *args)
        assert result.exit_code == 0, result.stderr
    return config


def test_init_writes_a_loadable_starter(config: Path) -> None:
    result = run(config, "init")
    assert result.exit_code == 0
    assert result.stdout == f"wrote {config}\n"
    assert load_fleet(config).printers == []


def test_init_refuses_to_overwrite(config: Path) -> None:
    config.write_text("printers: []\n")
    result = run(config, "init")
    assert result.exit_code == 1
    assert result.stderr == (
        f"fabfleet: {config} already exists; edit it, or remove it first to start over\n"
    )
    assert config.read_text() == "printers: []\n"


def test_config_from_environment(config: Path) -> None:
    result = CliRunner().invoke(app, ["init"], env={"FABFLEET_CONFIG": str(config)})
    assert result.exit_code == 0
    assert config.exists()


def test_missing_fleet_file(config: Path) -> None:
    result = run(config, "list")
    assert result.exit_code == 1
    assert result.stderr == (
        f"fabfleet: {config}: no fleet file; create one with `fabfleet init --config {config}`\n"
    )


def test_enrolment_is_written(enrolled: Path) -> None:
    fleet = load_fleet(enrolled)
    assert [(p.name, p.identity()) for p in fleet.printers] == [
        ("left", ("serial", "A1")),
        ("right", ("port_path", PORT)),
        ("sim", ("url", "socket://127.0.0.1:5001")),
    ]
    assert fleet.printers[0].camera == "top"
    assert fleet.printers[1].baudrate == 115200
    assert fleet.cameras[0].fps == 15


def test_list_table(enrolled: Path) -> None:
    result = run(enrolled, "list")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "NAME   KIND     IDENTITY                                DETAILS",
        "left   printer  serial=A1                               250000 baud, rx 128 B, camera top",
        f"right  printer  port_path={PORT}  115200 baud, rx 128 B",
        "sim    printer  url=socket://127.0.0.1:5001             250000 baud, rx 128 B",
        "top    camera   serial=C1                               1280x720 15 fps mjpeg",
    ]


def test_list_json(enrolled: Path) -> None:
    rows = json.loads(run(enrolled, "list", "--json").stdout)
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("printer", "left"),
        ("printer", "right"),
        ("printer", "sim"),
        ("camera", "top"),
    ]
    assert rows[0]["serial"] == "A1"
    assert rows[3]["fps"] == 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("printer", "add", "left", "--serial", "Z9"),
            "cannot add printer 'left': name 'left' is already taken by a printer",
        ),
        (
            ("printer", "add", "top", "--serial", "Z9"),
            "cannot add printer 'top': name 'top' is already taken by a camera",
        ),
        (
            ("camera", "add", "left", "--serial", "Z9"),
            "cannot add camera 'left': name 'left' is already taken by a printer",
        ),
        (
            ("printer", "add", "new", "--serial", "A1"),
            "cannot add printer 'new': serial 'A1' is already enrolled as printer 'left'; "
            "if both boards report the same serial (common with CH340), "
            "identify them by port_path instead",
        ),
        (
            ("printer", "add", "new", "--port-path", PORT),
            f"cannot add printer 'new': port_path '{PORT}' is already enrolled as printer 'right'",
        ),
        (
            ("printer", "add", "new", "--url", "socket://127.0.0.1:5001"),
            "cannot add printer 'new': url 'socket://127.0.0.1:5001' is already enrolled "
            "as printer 'sim'",
        ),
        (
            ("camera", "add", "cam2", "--port-path", PORT),
            f"cannot add camera 'cam2': port_path '{PORT}' is already enrolled as printer 'right'",
        ),
        (
            ("printer", "add", "new"),
            "give exactly one of --serial, --port-path, --device, --url or --simulated",
        ),
        (
            ("printer", "add", "new", "--serial", "Z9", "--url", "socket://h:1"),
            "give exactly one of --serial, --port-path, --device, --url or --simulated (got 2)",
        ),
        (
            ("printer", "add", "new", "--simulated", "--url", "socket://h:1"),
            "give exactly one of --serial, --port-path, --device, --url or --simulated (got 2)",
        ),
        (
            ("printer", "add", "new", "--serial", "Z9", "--time-factor", "5"),
            "--time-factor is for a simulated printer; add --simulated",
        ),
        (
            ("printer", "add", "new", "--simulated", "--time-factor", "0.5"),
            "cannot add printer 'new': simulated.time_factor: 0.5 is out of range; "
            "use at least 1.0",
        ),
        (
            ("printer", "add", "left", "--simulated"),
            "cannot add printer 'left': name 'left' is already taken by a printer",
        ),
        (("camera", "add", "cam2"), "give exactly one of --serial, --port-path or --device"),
        (
            ("printer", "add", "New_1", "--serial", "Z9"),
            "cannot add printer 'New_1': name: 'New_1' is not a valid name; names are lowercase "
            "letters, digits and '-' (1 to 32, starting and ending with a letter or digit)",
        ),
        (
            ("printer", "add", "new", "--serial", "Z9", "--camera", "side"),
            "cannot add printer 'new': no camera named 'side' (enrolled cameras: top)",
        ),
        (
            ("printer", "add", "new", "--serial", "Z9", "--baudrate", "123"),
            f"cannot add printer 'new': baudrate: 123 is not a standard baud rate; "
            f"use one of {RATES}",
        ),
        (
            ("printer", "add", "new", "--serial", "Z9", "--receive-buffer", "8"),
            "cannot add printer 'new': receive_buffer: 8 is out of range; use at least 32",
        ),
        (
            ("printer", "add", "new", "--url", "http://h:80"),
            "cannot add printer 'new': url: 'http://h:80' is not a printer URL; "
            "use socket://host:port or rfc2217://host:port",
        ),
        (
            ("camera", "add", "cam2", "--serial", "Z9", "--format", "h264"),
            "cannot add camera 'cam2': format: 'h264' is not allowed; use one of 'mjpeg' or 'yuyv'",
        ),
        (
            ("camera", "add", "cam2", "--serial", "Z9", "--resolution", "720p"),
            "cannot add camera 'cam2': resolution: '720p' is not a resolution; "
            "write width x height, e.g. 1280x720",
        ),
        (
            ("camera", "add", "cam2", "--serial", "Z9", "--fps", "120"),
            "cannot add camera 'cam2': fps: 120 is out of range; use at most 60",
        ),
        (
            ("camera", "remove", "top"),
            "cannot remove camera 'top': camera 'top' is linked to printer 'left'; "
            "unlink it in the fleet file or remove the printer first",
        ),
        (("camera", "remove", "side"), "cannot remove camera 'side': no camera named 'side'"),
        (("printer", "remove", "mk4"), "cannot remove printer 'mk4': no printer named 'mk4'"),
    ],
)
def test_refusals_leave_the_file_untouched(
    enrolled: Path, args: tuple[str, ...], message: str
) -> None:
    before = enrolled.read_bytes()
    result = run(enrolled, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"fabfleet: {message}\n"
    assert enrolled.read_bytes() == before
    assert sorted(p.name for p in enrolled.parent.iterdir()) == ["fleet.yaml"]


def test_invalid_fleet_file_is_reported_and_not_edited(config: Path) -> None:
    config.write_text("printers:\n  - name: a\n    serial: S\n    baudrat: 9600\n")
    before = config.read_bytes()
    result = run(config, "printer", "add", "b", "--serial", "T")
    assert result.exit_code == 1
    assert result.stderr == (
        f"fabfleet: {config}:4: printers[0].baudrat: unknown key 'baudrat'; "
        "did you mean 'baudrate'?\n"
    )
    assert config.read_bytes() == before


def test_simulated_printers_are_enrolled_as_written(enrolled: Path) -> None:
    first = run(enrolled, "printer", "add", "demo-1", "--simulated")
    assert (first.exit_code, first.stdout) == (0, "enrolled printer 'demo-1'\n")
    second = run(enrolled, "printer", "add", "demo-2", "--simulated", "--time-factor", "50")
    assert (second.exit_code, second.stdout) == (0, "enrolled printer 'demo-2'\n")
    # Only what was given is written: `true` keeps the simulator's defaults.
    assert enrolled.read_text().endswith(
        "  - name: demo-1\n"
        "    simulated: true\n"
        "  - name: demo-2\n"
        "    simulated:\n"
        "      time_factor: 50.0\n"
        "cameras:\n"
        "  - name: top\n"
        "    serial: C1\n"
        "    fps: 15\n"
    )
    listed = run(enrolled, "list").stdout.splitlines()
    assert listed[4:6] == [
        "demo-1  printer  simulated                               marlin2 at 20x speed, rx 128 B",
        "demo-2  printer  simulated                               marlin2 at 50x speed, rx 128 B",
    ]
    rows = json.loads(run(enrolled, "list", "--json").stdout)
    assert [(r["name"], r.get("simulated")) for r in rows[3:5]] == [
        ("demo-1", True),
        ("demo-2", {"time_factor": 50.0}),
    ]


def test_remove(enrolled: Path) -> None:
    assert run(enrolled, "printer", "remove", "left").stdout == "removed printer 'left'\n"
    assert run(enrolled, "camera", "remove", "top").stdout == "removed camera 'top'\n"
    fleet = load_fleet(enrolled)
    assert [p.name for p in fleet.printers] == ["right", "sim"]
    assert fleet.cameras == []


def test_add_to_a_file_without_sections(config: Path) -> None:
    config.write_text("")
    assert run(config, "camera", "add", "top", "--port-path", PORT).exit_code == 0
    assert run(config, "printer", "add", "mk3", "--serial", "S", "--camera", "top").exit_code == 0
    fleet = load_fleet(config)
    assert [p.name for p in fleet.printers] == ["mk3"]
    assert [c.name for c in fleet.cameras] == ["top"]
