"""A tail the firmware ran reaches everywhere a user looks: the page's state, the job's record,
the log and /metrics; under relative positioning (G91) the print pauses and says why.

Whether the core *detects* every tail is proven against the simulator's own count
(tests/unit/test_connection.py, tests/integration/test_firmware_matrix.py, bench/tails.py);
here the detection is handed to the print server as the core reports it, on a real
print server over HTTP with a simulated printer behind a real pty.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from instance.protocol.events import TailExecuted
from instance.sim.options import SimOptions
from instance.sim.runner import serve_pty
from instance.web.config import ServeConfig
from instance.web.server import open_server
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(120)

RELATIVE = "G21\nG91\n" + "G1 X0.5 Y0.5 F600\nG1 X-0.5 Y-0.5 F600\n" * 400
ABSOLUTE = "G21\nG90\n" + "G1 X10 Y10 F600\nG1 X20 Y20 F600\n" * 400


async def print_with_a_tail(
    tmp_path: Path, gcode: str, caplog: pytest.LogCaptureFixture
) -> dict[str, object]:
    link = tmp_path / "printer"
    sim = await serve_pty(SimOptions(seed=1, move_timing="real"), [], str(link))
    config = ServeConfig(port=str(link), data_dir=tmp_path / "data", listen_port=0)
    server = await open_server(config)
    printer = server.ctx.printer
    out: dict[str, object] = {}
    try:
        await wait_until(lambda: printer.state.value == "ready", 60)
        path = tmp_path / "part.gcode"
        path.write_text(gcode)
        job_id = await printer.start_print(path)
        await wait_until(lambda: printer.job is not None and printer.job.last_acked is not None)
        assert printer.job is not None
        candidates = ("G1 X0.5 Y0.5 F600",) if "G91" in gcode else ("G1 X20 Y20 F600",)
        with caplog.at_level(logging.WARNING):
            printer._on_event(TailExecuted(None, 40, candidates))  # as the core reports it
        async with aiohttp.ClientSession() as http:
            if "G91" in gcode:
                await wait_until(lambda: printer.state.value == "paused", 60)
            async with http.get(f"{server.url}/api/v1/printer") as response:
                out["state"] = await response.json()
            async with http.get(f"{server.url}/metrics") as response:
                out["metrics"] = await response.text()
            await printer.cancel()
            async with http.get(f"{server.url}/api/v1/history/{job_id}") as response:
                out["record"] = await response.json()
        out["log"] = caplog.text
    finally:
        await server.close()
        await sim.close()
    return out


def test_a_tail_under_g91_pauses_the_print_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = asyncio.run(print_with_a_tail(tmp_path, RELATIVE, caplog))
    state = seen["state"]
    assert isinstance(state, dict)
    assert state["state"] == "paused"
    assert "relative positioning (G91)" in state["notice"]
    assert state["job"]["warnings"] and "G1 X0.5 Y0.5" in state["job"]["warnings"][0]
    record = seen["record"]
    assert isinstance(record, dict)
    assert [w["kind"] for w in record["warnings"]] == ["tail"]
    assert "cut by its own buffer drain" in str(seen["log"])


def test_a_tail_under_g90_is_a_warning_and_the_print_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = asyncio.run(print_with_a_tail(tmp_path, ABSOLUTE, caplog))
    state = seen["state"]
    assert isinstance(state, dict)
    assert state["state"] == "printing"
    assert state["notice"].startswith("warning: the printer ran a line cut")
    record = seen["record"]
    assert isinstance(record, dict)
    assert [w["kind"] for w in record["warnings"]] == ["tail"]
