"""Running fabfleet against the hand-written USB devices in tests/fixtures/udev."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

DEVICES = Path(__file__).parents[1] / "fixtures" / "udev" / "devices.umockdev"
FABFLEET = Path(sys.executable).parent / "fabfleet"
FTDI = "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0"
CH340_A = "/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/ttyUSB1/tty/ttyUSB1"
CH340_B = "/devices/pci0000:00/0000:00:14.0/usb1/1-5/1-5:1.0/ttyUSB2/tty/ttyUSB2"
ARDUINO = "/devices/pci0000:00/0000:00:14.0/usb1/1-6/1-6:1.0/tty/ttyACM0"
CAMERA_A = "/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/video4linux/video0"
CAMERA_A_META = "/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/video4linux/video1"
CAMERA_B = "/devices/pci0000:00/0000:00:14.0/usb1/1-7/1-7:1.0/video4linux/video2"
CAMERA_B_META = "/devices/pci0000:00/0000:00:14.0/usb1/1-7/1-7:1.0/video4linux/video3"
UART = "/devices/platform/serial8250/tty/ttyS0"


def umockdev_run() -> str:
    found = shutil.which("umockdev-run")
    assert found, "umockdev-run is missing: scripts/bootstrap installs Debian's umockdev"
    return found


def fabfleet(*args: str, devices: Path = DEVICES) -> subprocess.CompletedProcess[str]:
    """`fabfleet ARGS` with exactly the devices in ``devices`` plugged in."""
    return subprocess.run(
        [umockdev_run(), "-d", str(devices), "--", str(FABFLEET), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class UdevBed:
    """A command running among the fixture's devices, which the test plugs and unplugs.

    Use as a context manager; on exit the command is interrupted (Ctrl-C) and
    its exit status is in ``returncode``.
    """

    def __init__(self, command: list[str], output: Path, env: dict[str, str]) -> None:
        self.output = output
        self.returncode: int | None = None
        driver = Path(__file__).with_name("udev_testbed.py")
        self._process = subprocess.Popen(
            [sys.executable, str(driver), str(DEVICES), str(output), "--", *command],
            env={**env, "LD_PRELOAD": "libumockdev-preload.so.0"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._answer() == "ready"

    def _answer(self) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.readline().strip()

    def send(self, verb: str, device: str) -> None:
        """``verb`` (add, remove, unplug) for the device at sysfs path ``device``."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{verb} /sys{device}\n")
        self._process.stdin.flush()
        assert self._answer() == "ok"

    def text(self) -> str:
        """Everything the command printed so far."""
        return self.output.read_text(errors="replace")

    def wait_for(self, line_end: str, timeout: float = 30.0) -> str:
        """The first output line ending with ``line_end``; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if line.endswith(line_end):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no line ending {line_end!r} in:\n{self.text()}")

    def __enter__(self) -> UdevBed:
        return self

    def __exit__(self, *_: object) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self.returncode = self._process.wait(timeout=30)
        assert self._process.stdout is not None
        self._process.stdout.close()
