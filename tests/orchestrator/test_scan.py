"""`fabfleet scan` and `--device` against hand-written USB devices under umockdev."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.fleet.file import load_fleet
from tests.orchestrator.umockdev import DEVICES, fabfleet

PORT = "pci-0000:00:14.0-usb-0:{}:1.0"
NO_SERIAL = (
    "! /dev/ttyUSB{n} (1a86:7523 USB Serial) has no serial number: enrol it by port path "
    "(`fabfleet printer add NAME --device /dev/ttyUSB{n}` does) and keep it in the same USB port"
)
BANDWIDTH = (
    "! bus 1 (USB 2.0 high speed): cameras /dev/video0, /dev/video2 reserve 6144 of 6000 bytes "
    "a microframe; they cannot all stream (the last to start fails with No space left on "
    "device); cap MJPEG requests with fabfleet's uvcvideo module (install.sh --with-uvc-fix, "
    "max_compressed_payload=1024): then they reserve 2048; plug /dev/video0 into a port of "
    "another bus (another root hub or USB controller; a hub on the same port shares its bus)"
)
SHARED = (
    "! serial SN0001 is shared by /dev/video0 and /dev/video2: udev cannot tell them apart by "
    "serial; enrol each by port path (`--device` does) and keep each in its own USB port"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    assert fabfleet("init", "--config", str(path)).returncode == 0
    return path


def scan_json(config: Path) -> dict[str, list[dict[str, object]]]:
    result = fabfleet("scan", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    parsed: dict[str, list[dict[str, object]]] = json.loads(result.stdout)
    return parsed


def test_scan_lists_usb_serial_ports_and_capture_nodes_only(tmp_path: Path) -> None:
    result = fabfleet("scan", "--config", str(tmp_path / "none.yaml"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NODE", "KIND", "USB", "ID", "NAME", "SERIAL", "PORT", "PATH", "DRIVER", "ENROLLED"
    ]  # fmt: skip
    rows = [line.split("  ") for line in lines[1:7]]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells == [
        ["/dev/ttyACM0", "serial", "2341:0043", "Arduino (www.arduino.cc) Arduino Uno",
         "75735323330351E0E1B1", PORT.format(6), "cdc_acm", "-"],
        ["/dev/ttyUSB0", "serial", "0403:6001", "FTDI FT232R USB UART", "A10KZ3XY",
         PORT.format(2), "ftdi_sio", "-"],
        ["/dev/ttyUSB1", "serial", "1a86:7523", "USB Serial", "-", PORT.format(4), "ch341", "-"],
        ["/dev/ttyUSB2", "serial", "1a86:7523", "USB Serial", "-", PORT.format(5), "ch341", "-"],
        ["/dev/video0", "camera", "32e4:9230", "HD USB Camera", "SN0001", PORT.format(3),
         "uvcvideo", "-"],
        ["/dev/video2", "camera", "32e4:9230", "HD USB Camera", "SN0001", PORT.format(7),
         "uvcvideo", "-"],
    ]  # fmt: skip
    # The board's own UART and the cameras' metadata nodes are not offered.
    assert "ttyS0" not in result.stdout
    assert "/dev/video1" not in result.stdout and "/dev/video3" not in result.stdout
    assert lines[7:] == [NO_SERIAL.format(n=1), NO_SERIAL.format(n=2), SHARED, BANDWIDTH]


def test_scan_json_gives_every_field(config: Path) -> None:
    report = scan_json(config)
    ftdi = next(d for d in report["devices"] if d["node"] == "/dev/ttyUSB0")
    assert ftdi == {
        "kind": "serial",
        "node": "/dev/ttyUSB0",
        "vendor_id": "0403",
        "product_id": "6001",
        "vendor": "FTDI",
        "product": "FT232R USB UART",
        "serial": "A10KZ3XY",
        "port_path": PORT.format(2),
        "driver": "ftdi_sio",
        "sys_path": "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0",
        "bus": 1,
        "speed": None,
        "enrolled": None,
    }
    camera = next(d for d in report["devices"] if d["node"] == "/dev/video2")
    assert (camera["bus"], camera["speed"]) == (1, "480")
    assert [f["devices"] for f in report["findings"]] == [
        ["/dev/ttyUSB1"],
        ["/dev/ttyUSB2"],
        ["/dev/video0", "/dev/video2"],
        ["/dev/video0", "/dev/video2"],
    ]


def test_device_enrols_by_serial_when_unique_else_by_port_path(config: Path) -> None:
    steps = [
        (("printer", "add", "mk3", "--device", "/dev/ttyUSB0"),
         "/dev/ttyUSB0: 0403:6001 FTDI FT232R USB UART, by serial A10KZ3XY\n"
         "enrolled printer 'mk3'\n"),
        (("printer", "add", "ender-a", "--device", "/dev/ttyUSB1"),
         f"/dev/ttyUSB1: 1a86:7523 USB Serial, by port path {PORT.format(4)}\n"
         "enrolled printer 'ender-a'\n"),
        (("printer", "add", "uno", "--device", "/dev/ttyACM0"),
         "/dev/ttyACM0: 2341:0043 Arduino (www.arduino.cc) Arduino Uno, "
         "by serial 75735323330351E0E1B1\nenrolled printer 'uno'\n"),
        # Both webcams say SN0001: a serial would match either, so the port decides.
        # Enrolled, with a warning: two MJPEG webcams do not fit one USB 2.0 bus.
        (("camera", "add", "top", "--device", "/dev/video2"),
         f"/dev/video2: 32e4:9230 HD USB Camera, by port path {PORT.format(7)}\n"
         "enrolled camera 'top'\n" + BANDWIDTH.replace("/dev/video2", "top (/dev/video2)") + "\n"),
    ]  # fmt: skip
    for args, expected in steps:
        result = fabfleet(*args, "--config", str(config))
        assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")
    fleet = load_fleet(config)
    assert [(p.name, p.serial, p.port_path) for p in fleet.printers] == [
        ("mk3", "A10KZ3XY", None),
        ("ender-a", None, PORT.format(4)),
        ("uno", "75735323330351E0E1B1", None),
    ]
    assert [(c.name, c.serial, c.port_path) for c in fleet.cameras] == [
        ("top", None, PORT.format(7))
    ]
    devices = {d["node"]: d["enrolled"] for d in scan_json(config)["devices"]}
    assert devices == {
        "/dev/ttyACM0": "printer uno",
        "/dev/ttyUSB0": "printer mk3",
        "/dev/ttyUSB1": "printer ender-a",
        "/dev/ttyUSB2": None,
        "/dev/video0": None,
        "/dev/video2": "camera top",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("printer", "add", "x", "--device", "/dev/ttyS0"),
         "/dev/ttyS0 is not a USB serial port; `fabfleet scan` lists them"),
        (("printer", "add", "x", "--device", "/dev/video0"),
         "/dev/video0 is not a USB serial port; `fabfleet scan` lists them"),
        (("camera", "add", "x", "--device", "/dev/ttyUSB0"),
         "/dev/ttyUSB0 is not a USB camera's capture node; `fabfleet scan` lists them"),
        (("camera", "add", "x", "--device", "/dev/video1"),
         "/dev/video1 is not a USB camera's capture node (the camera's capture node is "
         "/dev/video0); `fabfleet scan` lists them"),
        (("camera", "add", "x", "--device", "/dev/video3"),
         "/dev/video3 is not a USB camera's capture node (the camera's capture node is "
         "/dev/video2); `fabfleet scan` lists them"),
        (("printer", "add", "x", "--device", "/dev/ttyUSB9"),
         "/dev/ttyUSB9 does not exist; `fabfleet scan` lists what is plugged in"),
        (("printer", "add", "x", "--device", "/dev/ttyUSB0", "--serial", "A1"),
         "give exactly one of --serial, --port-path, --device, --url or --simulated (got 2)"),
    ],
)  # fmt: skip
def test_device_refusals_leave_the_fleet_file_untouched(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    before = config.read_bytes()
    result = fabfleet(*args, "--config", str(config))
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"fabfleet: {message}\n")
    assert config.read_bytes() == before


def test_device_already_enrolled_is_refused(config: Path) -> None:
    first = fabfleet("printer", "add", "a", "--device", "/dev/ttyUSB1", "--config", str(config))
    assert first.returncode == 0, first.stderr
    before = config.read_bytes()
    result = fabfleet("printer", "add", "b", "--device", "/dev/ttyUSB1", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr == (
        f"fabfleet: cannot add printer 'b': port_path '{PORT.format(4)}' is already enrolled "
        "as printer 'a'\n"
    )
    assert config.read_bytes() == before


def test_scan_warns_about_an_entry_enrolled_by_a_shared_serial(config: Path) -> None:
    result = fabfleet("camera", "add", "top", "--serial", "SN0001", "--config", str(config))
    assert result.returncode == 0, result.stderr
    result = fabfleet("printer", "add", "gone", "--serial", "ZZZ", "--config", str(config))
    assert result.returncode == 0, result.stderr
    result = fabfleet("printer", "add", "demo", "--simulated", "--config", str(config))
    assert result.returncode == 0, result.stderr
    result = fabfleet("scan", "--config", str(config))
    assert result.returncode == 0
    assert (
        "! camera 'top' is enrolled by serial SN0001, which /dev/video0 and /dev/video2 share, "
        "so it could be given the wrong device: remove it and add it again with --device or "
        "--port-path"
    ) in result.stdout.splitlines()
    assert "! printer 'gone' (serial ZZZ) is not plugged in" in result.stdout.splitlines()
    assert "'demo'" not in result.stdout  # simulated: nothing to plug in
    enrolled = {d["node"]: d["enrolled"] for d in scan_json(config)["devices"]}
    assert enrolled["/dev/video0"] == enrolled["/dev/video2"] == "camera top"


def test_scan_with_nothing_plugged_in(tmp_path: Path) -> None:
    # Only the mainboard's UART, which is not a USB device.
    text = DEVICES.read_text()
    uart = text[text.index("P: /devices/platform/serial8250") :]
    devices = tmp_path / "uart.umockdev"
    devices.write_text(uart)
    result = fabfleet("scan", "--config", str(tmp_path / "none.yaml"), devices=devices)
    assert (result.returncode, result.stdout) == (0, "no USB serial ports or cameras found\n")
    result = fabfleet("scan", "--json", "--config", str(tmp_path / "none.yaml"), devices=devices)
    assert json.loads(result.stdout) == {"devices": [], "findings": []}


def test_cameras_in_modes_that_fit_their_bus_get_no_bandwidth_warning(config: Path) -> None:
    for name, device in (("front", "/dev/video0"), ("top", "/dev/video2")):
        args = ("camera", "add", name, "--device", device, "--format", "yuyv")
        result = fabfleet(*args, "--resolution", "320x240", "--fps", "15", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert "!" not in result.stdout
    result = fabfleet("scan", "--config", str(config))
    assert [line for line in result.stdout.splitlines() if "bus 1" in line] == []
