"""The in-process link: the simulated printer in the host's own event loop, on the real clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from instance.protocol.framing import frame
from instance.sim.faults import make_fault
from instance.sim.options import SimOptions
from instance.sim.runner import InProcessLink, read_record

pytestmark = pytest.mark.timeout(120)

# How long to wait for the simulator: only a failing test waits this long.
PATIENCE = 30.0


async def read_lines(link: InProcessLink, wanted: int, prefix: bytes = b"ok") -> list[bytes]:
    lines: list[bytes] = []
    buffer = b""
    while sum(line.startswith(prefix) for line in lines) < wanted:
        buffer += await asyncio.wait_for(link.read(), PATIENCE)
        *complete, buffer = buffer.split(b"\n")
        lines += complete
    return lines


def test_lines_sent_are_executed_once_and_recorded(tmp_path):
    record = tmp_path / "record.txt"

    async def scenario() -> list[str]:
        link = InProcessLink(SimOptions(latency=0.001), record_path=str(record))
        await link.open()
        assert (await read_lines(link, 1, b"start"))[0] == b"start"
        link.write(b"".join(frame(i, f"G1 X{i}") for i in range(1, 101)))
        lines = await read_lines(link, 100)
        await link.close()
        assert lines[-1] == b"ok N100 P15 B3"
        return link.firmware.executed

    executed = asyncio.run(scenario())
    assert executed == [f"G1 X{i}" for i in range(1, 101)]
    assert read_record(record) == (executed, [])


async def reopen(link: InProcessLink) -> None:
    """Open ``link`` once the unplugged device is back."""
    deadline = time.monotonic() + PATIENCE
    while True:
        try:
            await link.open()
            return
        except ConnectionError:
            assert time.monotonic() < deadline, "the device did not come back"
            await asyncio.sleep(0.05)


def test_unplug_raises_connection_error_and_the_board_comes_back_fresh():
    async def scenario() -> InProcessLink:
        fault = make_fault("unplug", {"at_line": 2, "seconds": 1.0})
        link = InProcessLink(SimOptions(), [fault])
        await link.open()
        link.write(frame(1, "G1 X1") + frame(2, "G1 X2"))
        with pytest.raises(ConnectionError):
            await read_lines(link, 5)
        with pytest.raises(ConnectionError):
            await link.open()  # the device is not there yet
        await reopen(link)
        link.write(frame(1, "M105"))
        lines = await read_lines(link, 1)
        assert b"start" in lines
        assert lines[-1].startswith(b"ok T:")
        await link.close()
        return link

    link = asyncio.run(scenario())
    assert link.firmware.executed == ["G1 X1", "M105"]
    assert link.firmware.resets == [1, 1]
