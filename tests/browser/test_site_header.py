"""The shared header's loader on the printer's page (instance/web/page/site.js): a print
server served alone, without the hub, asks for nothing of the hub and logs no error.

Behind the hub's nginx the same page wears the header: tests/hub/test_gate_pages.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.browser.conftest import screenshot
from tests.web.server import Served, running_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with running_server(tmp_path, key=None) as server:
        yield server


def test_a_printer_page_served_alone_loads_no_header_and_logs_no_error(
    served: Served, page: Page
) -> None:
    asked: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    def failed(request: Request) -> None:
        problems.append(f"{request.url} failed")

    page.on("console", seen)
    page.on("requestfailed", failed)
    page.goto(served.url)
    expect(page.locator("#link")).to_have_text("live")
    page.wait_for_load_state("networkidle")
    assert any(url.endswith("/page/site.js") for url in asked), asked
    assert not any("site-header" in url or "/static/" in url for url in asked), asked
    expect(page.locator("#site-header")).to_be_empty()
    assert problems == [], problems
    screenshot(page, "printer-page-alone-no-site-header")
