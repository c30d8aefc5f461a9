"""The timelapse's park move on a real printer service and simulator, frames from a real camera.

What the simulated firmware executed is compared with the file: at each layer boundary from
layer 2 on, exactly the park lines, M400 and the return lines, and nothing else; the
simulator's toolhead is noted before every command it runs, so the head is seen back where
it was; the stand-in camera notes how far the printer had got when each frame was asked for.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from instance.analysis.toolpath import build_toolpath, layer_index
from instance.gcode_file import GcodeFile
from instance.job_records import JobOutcome
from instance.printer import PrinterState
from instance.sim.firmware import SimulatedFirmware
from instance.timelapse.service import Timelapses
from instance.timelapse.settings import TimelapseSettings
from tests.camera_stand_in import StandInCamera, jpeg_frames, layered_gcode, stand_in_camera
from tests.conftest import open_rig, state, wait_until, without_host
from tests.integration.test_printer_jobs import number, run

pytestmark = pytest.mark.timeout(60)

LAYERS = 5
PARK = ("G1 Z{z+2} F600", "G1 X0 Y200 F6000")
# What the simulator's toolhead is: position, G91, M83, feed rate.
Head = tuple[dict[str, float], bool, bool, float]


class Recorded(list[str]):
    """The firmware's executed commands, with its toolhead as it was before each one."""

    def __init__(self, firmware: SimulatedFirmware) -> None:
        super().__init__()
        self.before: list[Head] = []
        self._firmware = firmware

    def append(self, command: str) -> None:
        head = self._firmware.toolhead
        self.before.append((dict(head.position), head.relative, head.relative_e, head.feed_rate))
        super().append(command)


@dataclass
class Run:
    outcome: JobOutcome
    executed: Recorded
    # How many commands the firmware had executed as each frame was asked for.
    asked_at: list[int]
    timelapse: dict[str, Any]
    # Line errors the printer reported (each answered by a resend).
    line_errors: int


def boundaries(gcode: Path) -> dict[int, int]:
    """The command index (in the file) of each layer's first line, layer 2 on: layer."""
    offsets = layer_index(build_toolpath(gcode)).offsets
    commands = list(GcodeFile(gcode).iter_commands(0))
    found: dict[int, int] = {}
    for layer, offset in enumerate(offsets[1:], 2):
        found[next(i for i, line in enumerate(commands) if line.end_offset > offset)] = layer
    return found


def park_block(layer: int) -> list[str]:
    """The park and return lines before ``layer``: the file left the head at X10 Y10, at
    the layer's height, 3 mm of filament per layer extruded, F6000, G90 and M82."""
    z, e = 0.2 * layer, 3.0 * (layer - 1)
    return [
        f"G1 Z{number(round(z + 2, 5))} F600", "G1 X0 Y200 F6000", "M400",
        "G90", "G1 X10 Y10 F6000", f"G1 Z{number(round(z, 5))} F600", f"G92 E{number(e)}",
        "G90", "M82", "G1 F6000",
    ]  # fmt: skip


def expected(gcode: Path) -> tuple[list[str], list[int]]:
    """The stream the firmware must run, and where each park block begins in it."""
    starts = boundaries(gcode)
    stream: list[str] = []
    blocks: list[int] = []
    for i, line in enumerate(GcodeFile(gcode).iter_commands(0)):
        if i in starts:
            blocks.append(len(stream))
            stream += park_block(starts[i])
        stream.append(line.command)
    return stream, blocks


def print_with_park(
    tmp_path: Path,
    camera: StandInCamera,
    *,
    park: tuple[str, ...] = PARK,
    faults: tuple[str, ...] = (),
    press: tuple[str, int] | None = None,
) -> Run:
    """Print the layered part with the park move; ``press``: pause or cancel while parked
    for that frame (1-based)."""
    gcode = tmp_path / "layers.gcode"
    gcode.write_bytes(layered_gcode(LAYERS))
    index = layer_index(build_toolpath(gcode))
    result: list[Run] = []

    async def scenario() -> None:
        rig = await open_rig(tmp_path / "data", faults=faults)
        firmware = rig.sim.firmware
        executed = firmware.executed = Recorded(firmware)
        asked_at: list[int] = []

        def noted() -> None:
            asked_at.append(len(executed))
            if press is not None:
                time.sleep(0.3)  # a slow camera: the button is surely pressed while parked

        camera.on_get = noted
        settings = TimelapseSettings(camera.url, "layer", park=park)
        timelapses = Timelapses(rig.printer, settings, lambda: index)
        printer = rig.printer
        try:
            job = await printer.start_print(gcode)
            timelapses.job_started(job, None)
            if press is not None:
                # Pressed while the head is parked (the camera is slow to answer).
                await wait_until(lambda: len(asked_at) >= press[1], 20)
                if press[0] == "pause":
                    await printer.pause()
                    assert state(printer) is PrinterState.PAUSED
                    await printer.resume()
                else:
                    await printer.cancel()
            record = await asyncio.wait_for(printer.wait_for_job(), 30)
            assert record is not None and record.outcome is not None
            await asyncio.wait_for(timelapses.wait(), 30)
            stored = printer.records.get(job)
            assert stored is not None and stored.timelapse is not None
            result.append(
                Run(record.outcome, executed, asked_at, stored.timelapse, printer.link.line_errors)
            )
        finally:
            await timelapses.stop()
            await rig.close()

    run(scenario(), timeout=50)
    return result[0]


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return jpeg_frames(tmp_path_factory.mktemp("frames"))


def frames_after_m400(done: Run) -> list[str]:
    """For each frame, the last command the firmware ran before it was asked for."""
    return [without_host(done.executed[:count])[-1] for count in done.asked_at]


def test_the_head_parks_for_each_layer_frame_and_comes_back(
    tmp_path: Path, jpegs: list[bytes]
) -> None:
    with stand_in_camera(tmp_path, jpegs=jpegs) as camera:
        done = print_with_park(tmp_path, camera)
    gcode = tmp_path / "layers.gcode"
    assert done.outcome is JobOutcome.COMPLETED
    stream, blocks = expected(gcode)
    assert without_host(done.executed) == stream
    assert len(blocks) == LAYERS - 1
    # The head is back: before each layer's first line the simulator's toolhead is where
    # it was before the park's first line (position, G91/M83, feed rate).
    heads = [
        head
        for head, c in zip(done.executed.before, done.executed, strict=True)
        if without_host([c])
    ]
    size = len(park_block(2))
    for block in blocks:
        assert heads[block + size] == heads[block], stream[block + size]
        assert heads[block + 3][0]["Y"] == 200  # parked (before the return's first line)
    # Layer 1's frame at its acknowledgement; every later one once the park's M400 ran,
    # before the return's first line.
    assert len(done.asked_at) == LAYERS
    assert frames_after_m400(done)[1:] == ["M400"] * (LAYERS - 1)
    assert done.timelapse["frames"] == LAYERS and done.timelapse["state"] == "ready"


def test_a_resend_during_the_parks_keeps_the_stream_exact(
    tmp_path: Path, jpegs: list[bytes]
) -> None:
    with stand_in_camera(tmp_path, jpegs=jpegs) as camera:
        done = print_with_park(tmp_path, camera, faults=("random_resend:probability=0.1",))
    assert done.outcome is JobOutcome.COMPLETED
    assert done.line_errors >= 3, done.line_errors
    assert without_host(done.executed) == expected(tmp_path / "layers.gcode")[0]
    assert frames_after_m400(done)[1:] == ["M400"] * (LAYERS - 1)


def test_a_camera_gone_still_parks_and_the_print_completes(
    tmp_path: Path, jpegs: list[bytes]
) -> None:
    with stand_in_camera(tmp_path, frames_left=2, jpegs=jpegs) as camera:
        done = print_with_park(tmp_path, camera)
    assert done.outcome is JobOutcome.COMPLETED
    assert without_host(done.executed) == expected(tmp_path / "layers.gcode")[0]
    assert (done.timelapse["frames"], done.timelapse["missed"]) == (2, LAYERS - 2)
    assert any("camera gone at layer 3" in note for note in done.timelapse["notes"])


def pressed_while_parked(
    tmp_path: Path, jpegs: list[bytes], button: str, frame: int
) -> tuple[Run, list[str], int]:
    """The run, what the firmware ran (the host's own polls aside), and where the button's
    own lines begin in it: right after the ``M400`` of the park of frame ``frame``'s layer."""
    with stand_in_camera(tmp_path, jpegs=jpegs) as camera:
        done = print_with_park(tmp_path, camera, press=(button, frame))
    stream = without_host(done.executed)
    # The park of layer ``frame`` (layer 1's frame is not parked) ends with its M400.
    parked = [i for i, c in enumerate(stream) if c == "M400"][frame - 2]
    assert stream[parked - 2 : parked] == [
        f"G1 Z{number(0.2 * frame + 2)} F600",
        "G1 X0 Y200 F6000",
    ]
    return done, stream, parked + 1


def test_a_pause_pressed_while_parked_waits_for_the_return(
    tmp_path: Path, jpegs: list[bytes]
) -> None:
    done, stream, after = pressed_while_parked(tmp_path, jpegs, "pause", 3)
    assert done.outcome is JobOutcome.COMPLETED
    # The way back first (7 lines), then the pause (M400, M114, its script), then the
    # resume to where the head was before the park: the layer's start, not the corner.
    returned = after + 7
    assert stream[after:returned] == park_block(3)[3:]
    pause = ["M400", "M114", "G91", "G1 E-2 F2400", "G1 Z10 F600", "G90"]
    resume = ["G90", "G1 X10 Y10 F6000", "G1 Z0.6 F600", "G91", "G1 E2 F2400", "G90",
              "G92 E6", "G90", "M82", "G1 F6000"]  # fmt: skip
    assert stream[returned : returned + 16] == pause + resume
    # Take the pause's lines out: the file with one park block per boundary, no more.
    assert stream[:returned] + stream[returned + 16 :] == expected(tmp_path / "layers.gcode")[0]
    assert done.timelapse["frames"] == LAYERS


def test_a_cancel_pressed_while_parked_stops_at_once(tmp_path: Path, jpegs: list[bytes]) -> None:
    done, stream, after = pressed_while_parked(tmp_path, jpegs, "cancel", 2)
    assert done.outcome is JobOutcome.CANCELLED
    # After the park's M400: no way back, no further line of the file; the cancel's own
    # (M108 breaks a heat-up wait, M400 drains, then the cancel script).
    assert stream[after:] == [
        "M108", "M400", "M104 S0", "M140 S0", "M107", "G91", "G1 Z10 F600", "G90", "M84",
    ]  # fmt: skip


def test_without_park_gcode_the_stream_is_the_file(tmp_path: Path, jpegs: list[bytes]) -> None:
    with stand_in_camera(tmp_path, jpegs=jpegs) as camera:
        done = print_with_park(tmp_path, camera, park=())
    gcode = tmp_path / "layers.gcode"
    assert done.outcome is JobOutcome.COMPLETED
    assert without_host(done.executed) == [
        line.command for line in GcodeFile(gcode).iter_commands(0)
    ]
    assert done.timelapse["frames"] == LAYERS
