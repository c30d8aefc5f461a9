"""Time remaining on a printer 20x faster than its slicer said: the estimate follows the printer.

The simulator moves and heats 20 times faster than a real printer, so a file
PrusaSlicer says takes 30 minutes prints in a minute or two. The slicer's own
``M73 R`` keeps saying tens of minutes; the estimate must say what this printer's
measured pace says instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from instance.gcode_file import parse_m73
from instance.sim.options import SimOptions
from tests.conftest import GCODE, open_rig

pytestmark = pytest.mark.timeout(300)

CUBE = GCODE / "cube_prusa_marlin2.gcode"  # 30m42s by the slicer, with M73 P/R lines


def test_the_estimate_follows_a_printer_twenty_times_faster_than_sliced(tmp_path: Path) -> None:
    async def scenario() -> None:
        rig = await open_rig(
            tmp_path, SimOptions(seed=1, move_timing="accelerated", time_factor=20)
        )
        printer = rig.printer
        try:
            await printer.start_print(CUBE)
            job = printer.job
            assert job is not None
            # (print time, file fraction) samples, every 0.2 s of the event loop.
            samples: list[tuple[float, float]] = []
            while True:
                progress = job.progress()
                samples.append((progress.elapsed, progress.fraction))
                if progress.fraction >= 0.35:
                    break
                await asyncio.sleep(0.2)
            estimate = progress.remaining
            slicer_said = latest_m73_remaining(job.last_acked.number if job.last_acked else 0)
            await printer.cancel()
        finally:
            await rig.close()
        # The measured pace from 15 % to 35 % of the file, and what it leaves for the rest.
        start = next(s for s in samples if s[1] >= 0.15)
        end = samples[-1]
        pace = (end[1] - start[1]) / (end[0] - start[0])  # fraction of the file per second
        measured = (1.0 - end[1]) / pace
        assert estimate is not None
        assert measured / 2 <= estimate <= measured * 2, (estimate, measured)
        # The slicer's own figure is far outside that band: it is not what is shown.
        assert slicer_said > measured * 5, (slicer_said, measured)

    asyncio.run(scenario())


def latest_m73_remaining(line_number: int) -> float:
    """The slicer's time remaining (normal mode) at ``line_number`` of the cube, in seconds."""
    remaining = 0.0
    with CUBE.open() as lines:
        for number, text in enumerate(lines, start=1):
            if number > line_number:
                break
            if text.startswith("M73 P"):
                value = parse_m73(text.split(";")[0].strip())[1]
                remaining = value if value is not None else remaining
    return remaining
