"""The printer page in Chromium when the firmware ran a line its own drain cut.

A real print server with a simulated printer behind a real pty runs in a thread of
its own; the tail is handed to it as the protocol core reports it (the core's
detection is proven against the simulator's own count elsewhere). The operator must
see why the print paused, at desktop and phone sizes, and every warning of the job.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from instance.printer import Printer
from instance.protocol.events import TailExecuted
from instance.sim.options import SimOptions
from instance.sim.runner import serve_pty
from instance.web.config import ServeConfig
from instance.web.server import open_server
from tests.browser.conftest import screenshot
from tests.conftest import wait_until

pytestmark = pytest.mark.timeout(180)

RELATIVE = "G21\nG91\n" + "G1 X0.5 Y0.5 F600\nG1 X-0.5 Y-0.5 F600\n" * 400


@dataclass
class Running:
    url: str
    printer: Printer
    loop: asyncio.AbstractEventLoop

    def call(self, function: object) -> None:
        async def run() -> None:
            function()  # type: ignore[operator]

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)


@pytest.fixture
def paused_by_a_tail(tmp_path: Path) -> Iterator[Running]:
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    holder: list[Running] = []
    failure: list[BaseException] = []

    async def serve() -> None:
        sim = await serve_pty(SimOptions(seed=1, move_timing="real"), [], str(tmp_path / "tty"))
        server = await open_server(
            ServeConfig(
                port=str(tmp_path / "tty"),
                data_dir=tmp_path / "data",
                listen_port=0,
                printer="prusa-left",
            )
        )
        printer = server.ctx.printer
        try:
            await wait_until(lambda: printer.state.value == "ready", 60)
            path = tmp_path / "part.gcode"
            path.write_text(RELATIVE)
            await printer.start_print(path)
            await wait_until(lambda: printer.job is not None and printer.job.last_acked is not None)
            printer._on_event(TailExecuted(None, 40, ("G1 X0.5 Y0.5 F600",)))
            printer._on_event(TailExecuted("3 Y0.5 F600", 52, ()))
            await wait_until(lambda: printer.state.value == "paused", 60)
            stop.append(asyncio.Event())
            holder.append(Running(server.url, printer, asyncio.get_running_loop()))
            ready.set()
            await stop[0].wait()
        finally:
            await server.close()
            await sim.close()

    def thread() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # handed to the test
            failure.append(error)
            ready.set()

    worker = threading.Thread(target=thread, daemon=True)
    worker.start()
    assert ready.wait(120), "the print server did not come up"
    if failure:
        raise failure[0]
    running = holder[0]
    yield running
    running.loop.call_soon_threadsafe(stop[0].set)
    worker.join(30)


def test_the_page_says_why_the_print_paused_and_lists_the_warnings(
    paused_by_a_tail: Running, page: Page, browser: Browser
) -> None:
    page.goto(paused_by_a_tail.url + "/")
    expect(page.locator("#state")).to_have_text("Paused")
    notice = page.locator("#notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("relative positioning (G91)")
    warnings = page.locator("#job-warnings li")
    expect(warnings).to_have_count(2)
    expect(warnings.nth(0)).to_contain_text("G1 X0.5 Y0.5 F600")
    expect(warnings.nth(1)).to_contain_text("3 Y0.5 F600")
    expect(page.locator("#resume")).to_be_visible()
    screenshot(page, "printer-paused-by-a-tail")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    small = phone.new_page()
    small.goto(paused_by_a_tail.url + "/")
    expect(small.locator("#notice")).to_be_visible()
    box = small.locator("#notice").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(small, "printer-paused-by-a-tail-phone")
    phone.close()
