"""``fabfleet-sim --stats FILE``: what the printer has run and how often its planner ran dry.

The file is one JSON object, replaced atomically every ``interval`` seconds and
once more when the simulator stops, so a benchmark can read it at any moment:
``executed`` (commands run), ``numbered`` (numbered lines received),
``line_errors``, ``resets``, the planner's starvation counts
(``instance.sim.starvation``) and ``time`` (the wall clock when written).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from instance.sim.firmware import SimulatedFirmware


def stats_of(firmware: SimulatedFirmware) -> dict[str, object]:
    counters = firmware.counters
    return {
        "executed": len(firmware.executed),
        "numbered": counters.numbered_received,
        "line_errors": counters.line_errors,
        "resets": counters.resets,
        **counters.starvation.as_dict(),
        "time": time.time(),
    }


def write_stats(firmware: SimulatedFirmware, path: Path) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(stats_of(firmware)) + "\n", encoding="utf-8")
    os.replace(temporary, path)


async def keep_writing(firmware: SimulatedFirmware, path: Path, interval: float = 1.0) -> None:
    """Write the stats every ``interval`` seconds until cancelled, then once more."""
    try:
        while True:
            write_stats(firmware, path)
            await asyncio.sleep(interval)
    finally:
        write_stats(firmware, path)
