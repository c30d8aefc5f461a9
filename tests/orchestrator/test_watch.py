"""`fabfleet watch` among hand-written USB devices, restarting containers on a real engine."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.orchestrator.stack_helpers import Stack
from tests.orchestrator.umockdev import CAMERA_A, CH340_A, CH340_B, FABFLEET, FTDI, UdevBed

PORT = "pci-0000:00:14.0-usb-0:{}:1.0"
LINKS = Path("/dev/fabfleet")


@pytest.fixture
def names() -> Iterator[tuple[str, str, str]]:
    """Unique printer names, a camera name; their /dev/fabfleet links are removed after."""
    tag = uuid.uuid4().hex[:8]
    chosen = (f"mk3-{tag}", f"ender-{tag}", f"cam-{tag}")
    yield chosen
    for link in (f"printer-{chosen[0]}", f"printer-{chosen[1]}", f"camera-{chosen[2]}"):
        (LINKS / link).unlink(missing_ok=True)


def plug_link(name: str) -> None:
    """What the rendered udev rules do when the device appears (no udevd runs here)."""
    if os.geteuid() != 0:
        pytest.skip("creating /dev/fabfleet links needs root (CI runs as root)")
    LINKS.mkdir(exist_ok=True)
    (LINKS / name).symlink_to("/dev/null")


def watch(stack: Stack, tmp_path: Path) -> UdevBed:
    env = {
        **os.environ,
        "FABFLEET_CONFIG": str(stack.config),
        "FABFLEET_PROJECT": stack.project,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return UdevBed([str(FABFLEET), "watch"], tmp_path / "watch.log", env)


def test_watch_restarts_a_replugged_printer_and_starts_one_up_had_to_skip(
    stack: Stack, client: docker.DockerClient, tmp_path: Path,
    names: tuple[str, str, str],
) -> None:  # fmt: skip
    mk3, ender, cam = names
    plug_link(f"printer-{mk3}")
    stack.write(
        [{"name": mk3, "serial": "A10KZ3XY"}, {"name": ender, "port_path": PORT.format(4)}],
        [{"name": cam, "port_path": PORT.format(3)}],
    )
    up = stack.run("up")
    assert up.exit_code == 0, up.stderr
    assert f"printer-{ender}: /dev/fabfleet/printer-{ender} is not plugged in" in up.stderr
    before = stack.containers(client)
    assert f"printer-{mk3}" in before and f"printer-{ender}" not in before

    with watch(stack, tmp_path) as bed:
        bed.wait_for("watching udev for 2 printers, 1 cameras (Ctrl-C stops)")
        # The FTDI printer is replugged: its container restarts and opens the new node.
        bed.send("add", FTDI)
        bed.wait_for(f"printer-{mk3} plugged in (/dev/ttyUSB0): restarted printer-{mk3}")
        after = stack.containers(client)
        assert after[f"printer-{mk3}"][0] == before[f"printer-{mk3}"][0]
        assert after[f"printer-{mk3}"][1] != before[f"printer-{mk3}"][1]
        # udev repeats itself on a replug; one restart is enough.
        bed.send("add", FTDI)
        # A device nobody enrolled changes nothing.
        bed.send("add", CH340_B)
        # The CH340 printer was not plugged in at `up`; now udev has made its link.
        plug_link(f"printer-{ender}")
        bed.send("add", CH340_A)
        bed.wait_for(f"printer-{ender} plugged in (/dev/ttyUSB1): started printer-{ender}")
        assert (
            client.containers.get(stack.containers(client)[f"printer-{ender}"][0]).status
            == "running"
        )
        # The camera was absent at `up`, so its container runs without a device (ustreamer's
        # "offline" picture); plugged in, it is recreated with the device.
        camera_before = stack.containers(client)[f"camera-{cam}"][0]
        assert not client.containers.get(camera_before).attrs["HostConfig"]["Devices"]
        plug_link(f"camera-{cam}")
        bed.send("add", CAMERA_A)
        bed.wait_for(
            f"camera-{cam} plugged in (/dev/video0): recreated camera-{cam} with its device"
        )
        camera_after = client.containers.get(stack.containers(client)[f"camera-{cam}"][0])
        assert camera_after.id != camera_before
        devices = camera_after.attrs["HostConfig"]["Devices"]
        assert [d["PathOnHost"] for d in devices] == [f"/dev/fabfleet/camera-{cam}"]
        # Unplugged: recorded, so status and the pages can say so.
        bed.send("unplug", CAMERA_A)
        bed.wait_for(
            f"camera-{cam} unplugged (/dev/video0): its page shows it offline until it is back"
        )
    assert bed.returncode == 0
    log = bed.text()
    assert log.count(f"restarted printer-{mk3}") == 1
    assert "ttyUSB2" not in log
    assert log.splitlines()[-1].endswith(" stopped")
    presence = json.loads((stack.state_dir / "presence.json").read_text())["devices"]
    assert {s: (p["present"], p["node"]) for s, p in presence.items()} == {
        f"printer-{mk3}": (True, "/dev/ttyUSB0"),
        f"printer-{ender}": (True, "/dev/ttyUSB1"),
        f"camera-{cam}": (False, "/dev/video0"),
    }


def test_watch_follows_the_fleet_file(
    stack: Stack, client: docker.DockerClient, tmp_path: Path,
    names: tuple[str, str, str],
) -> None:  # fmt: skip
    mk3, ender, _cam = names
    stack.write([{"name": ender, "port_path": PORT.format(4)}])
    assert stack.run("up").exit_code == 0
    with watch(stack, tmp_path) as bed:
        bed.wait_for("watching udev for 1 printers, 0 cameras (Ctrl-C stops)")
        # Enrolled while the watcher runs: its events count at once.
        stack.write(
            [{"name": ender, "port_path": PORT.format(4)}, {"name": mk3, "serial": "A10KZ3XY"}]
        )
        bed.send("unplug", FTDI)
        bed.wait_for(": 2 printers, 0 cameras")
        bed.wait_for(
            f"printer-{mk3} unplugged (/dev/ttyUSB0): its page shows it offline until it is back"
        )
        # A broken edit is reported and the last good fleet stays in force.
        stack.config.write_text("printers: [\n")
        bed.send("remove", CH340_A)
        bed.wait_for("still using the previous fleet:")
        bed.wait_for(
            f"printer-{ender} unplugged (/dev/ttyUSB1): its page shows it offline until it is back"
        )
    assert bed.returncode == 0
