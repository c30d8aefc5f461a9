"""Which enrolled device a udev event is about (the watcher's decision, without udev)."""

from __future__ import annotations

import pytest

from orchestrator.devices.hotplug import Plug, plug_of
from orchestrator.fleet.model import Camera, Fleet, Printer

PORT = "pci-0000:00:14.0-usb-0:{}:1.0"
FLEET = Fleet(
    printers=[
        Printer(name="mk3", serial="A10KZ3XY"),
        Printer(name="ender", port_path=PORT.format(4)),
        Printer(name="remote", url="socket://10.0.0.5:5001"),
    ],
    cameras=[Camera(name="top", serial="SN0001")],
)


def tty(**properties: str) -> dict[str, str]:
    return {"SUBSYSTEM": "tty", "DEVNAME": "/dev/ttyUSB0", **properties}


def video(capabilities: str, **properties: str) -> dict[str, str]:
    return {
        "SUBSYSTEM": "video4linux",
        "DEVNAME": "/dev/video0",
        "ID_V4L_CAPABILITIES": capabilities,
        **properties,
    }


@pytest.mark.parametrize(
    ("action", "properties", "expected"),
    [
        ("add", tty(ID_SERIAL_SHORT="A10KZ3XY"), Plug("add", "printer-mk3", "/dev/ttyUSB0")),
        ("remove", tty(ID_SERIAL_SHORT="A10KZ3XY"),
         Plug("remove", "printer-mk3", "/dev/ttyUSB0")),
        ("add", tty(ID_PATH=PORT.format(4)), Plug("add", "printer-ender", "/dev/ttyUSB0")),
        # Same port, other bus position: another device.
        ("add", tty(ID_PATH=PORT.format(5)), None),
        ("add", tty(ID_SERIAL_SHORT="OTHER"), None),
        # "change" and "bind" events do not replug anything.
        ("change", tty(ID_SERIAL_SHORT="A10KZ3XY"), None),
        ("bind", tty(ID_SERIAL_SHORT="A10KZ3XY"), None),
        ("add", video(":capture:", ID_SERIAL_SHORT="SN0001"),
         Plug("add", "camera-top", "/dev/video0")),
        # The webcam's metadata node has the same serial but is not the camera.
        ("add", video(":", ID_SERIAL_SHORT="SN0001"), None),
        # A tty with a camera's serial is not that camera, nor any printer.
        ("add", tty(ID_SERIAL_SHORT="SN0001"), None),
        ("add", {"SUBSYSTEM": "block", "ID_SERIAL_SHORT": "A10KZ3XY"}, None),
    ],
)  # fmt: skip
def test_plug_of(action: str, properties: dict[str, str], expected: Plug | None) -> None:
    assert plug_of(FLEET, action, properties) == expected


def test_plug_describes_itself() -> None:
    assert Plug("add", "printer-mk3", "/dev/ttyUSB0").describe() == (
        "printer-mk3 plugged in (/dev/ttyUSB0)"
    )
    assert Plug("remove", "camera-top", None).describe() == "camera-top unplugged"
