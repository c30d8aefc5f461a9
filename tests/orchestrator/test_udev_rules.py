"""The rendered udev rules, evaluated by the real udevadm against hand-written devices.

`udevadm test` creates real links, so it runs in a private mount namespace with
its own /dev overlay, /run and rules directory (tests/orchestrator/udev_namespace.sh).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.fleet.model import Camera, Fleet, Printer
from orchestrator.rendering.render import render_stack
from tests.orchestrator.umockdev import (
    ARDUINO,
    CAMERA_A,
    CAMERA_A_META,
    CAMERA_B,
    CAMERA_B_META,
    CH340_A,
    CH340_B,
    DEVICES,
    FTDI,
    UART,
)

SCRIPT = Path(__file__).with_name("udev_namespace.sh")
PORT = "pci-0000:00:14.0-usb-0:{}:1.0"
FLEET = Fleet(
    printers=[
        Printer(name="mk3", serial="A10KZ3XY"),
        Printer(name="ender-a", port_path=PORT.format(4)),
        Printer(name="ender-b", port_path=PORT.format(5)),
        Printer(name="uno", serial="75735323330351E0E1B1"),
        Printer(name="remote", url="socket://192.168.1.20:5001"),
    ],
    cameras=[
        Camera(name="front", port_path=PORT.format(3)),
        Camera(name="top", port_path=PORT.format(7)),
    ],
)
ALL = [FTDI, CH340_A, CH340_B, ARDUINO, CAMERA_A, CAMERA_A_META, CAMERA_B, CAMERA_B_META, UART]


def evaluate(tmp_path: Path, fleet: Fleet) -> dict[str, str]:
    """udevadm test's output for every device, by sysfs path."""
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace needs root (CI runs as root)")
    assert shutil.which("udevadm"), "udevadm is missing: scripts/bootstrap installs udev"
    rules = tmp_path / "99-fabfleet.rules"
    rules.write_bytes(render_stack(fleet, "0.0.0")["99-fabfleet.rules"])
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", str(SCRIPT), str(rules),
         str(DEVICES), *ALL],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    sections = re.split(r"^== (\S+)\n", result.stdout, flags=re.MULTILINE)[1:]
    return dict(zip(sections[::2], sections[1::2], strict=True))


def fabfleet_links(output: str) -> list[str]:
    """The /dev/fabfleet links udev would create for the device."""
    found = re.findall(r"^DEVLINKS=(.*)$", output, flags=re.MULTILINE)
    assert len(found) <= 1, output
    links = found[0].split() if found else []
    return sorted(link for link in links if link.startswith("/dev/fabfleet/"))


def test_each_link_lands_on_its_own_device_only(tmp_path: Path) -> None:
    outputs = evaluate(tmp_path, FLEET)
    links = {path: fabfleet_links(output) for path, output in outputs.items()}
    assert links == {
        FTDI: ["/dev/fabfleet/printer-mk3"],
        CH340_A: ["/dev/fabfleet/printer-ender-a"],
        CH340_B: ["/dev/fabfleet/printer-ender-b"],
        ARDUINO: ["/dev/fabfleet/printer-uno"],
        CAMERA_A: ["/dev/fabfleet/camera-front"],
        CAMERA_A_META: [],
        CAMERA_B: ["/dev/fabfleet/camera-top"],
        CAMERA_B_META: [],
        UART: [],
    }
    # The links point at the right nodes.
    assert (
        "Successfully created symlink '/dev/fabfleet/printer-ender-b' to '/dev/ttyUSB2'"
        in (outputs[CH340_B])
    )
    assert (
        "Successfully created symlink '/dev/fabfleet/camera-top' to '/dev/video2'"
        in (outputs[CAMERA_B])
    )


def test_only_the_container_user_may_open_enrolled_devices(tmp_path: Path) -> None:
    outputs = evaluate(tmp_path, FLEET)
    for path in (FTDI, CH340_A, ARDUINO, CAMERA_B):
        rule_lines = [line for line in outputs[path].splitlines() if "99-fabfleet.rules" in line]
        settings = {line.split()[-2]: line.split()[-1] for line in rule_lines}
        assert settings["OWNER"] == "10001"
        assert settings["GROUP"] == "10001"
        assert settings["MODE"] == "0660"
    assert "99-fabfleet.rules" not in outputs[CAMERA_A_META].replace(
        "Reading rules file: /etc/udev/rules.d/99-fabfleet.rules", ""
    )


def test_ftdi_latency_timer_is_set_to_one_millisecond(tmp_path: Path) -> None:
    outputs = evaluate(tmp_path, FLEET)
    assert "latency_timer=1\n" in outputs[FTDI]
    # Other adapters have no such attribute and are not touched.
    assert "latency_timer" not in outputs[CH340_A]
    assert "latency_timer" not in outputs[ARDUINO]


def test_an_unenrolled_ftdi_keeps_its_latency_timer(tmp_path: Path) -> None:
    fleet = Fleet(printers=[Printer(name="ender-a", port_path=PORT.format(4))])
    outputs = evaluate(tmp_path, fleet)
    assert "latency_timer=\n" in outputs[FTDI]
    assert fabfleet_links(outputs[FTDI]) == []


def test_a_serial_shared_by_two_cameras_would_give_both_the_link(tmp_path: Path) -> None:
    # Why `fabfleet scan` warns and `--device` picks the port path: by serial, udev
    # cannot tell the two webcams apart.
    fleet = Fleet(cameras=[Camera(name="top", serial="SN0001")])
    outputs = evaluate(tmp_path, fleet)
    assert fabfleet_links(outputs[CAMERA_A]) == ["/dev/fabfleet/camera-top"]
    assert fabfleet_links(outputs[CAMERA_B]) == ["/dev/fabfleet/camera-top"]
