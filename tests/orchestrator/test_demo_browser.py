"""The demo in a real browser: the hub's login, then a printer's page behind the gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import FLAGS, chromium, screenshot
from tests.orchestrator.test_demo import RunningDemo, start_demo, stop_demo
from tests.web.server import GCODE

CUBE = "my-cube.gcode"  # not one of the demo's own samples


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    running = start_demo(tmp_path, 1)
    try:
        assert running.password, running.lines
        yield running
    finally:
        assert stop_demo(running) == (0, "stopping\n", "")


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        context.close()
        browser.close()
        assert errors == [], f"the page threw: {errors}"


def test_log_in_upload_and_print_as_admin_then_back_to_login(demo: RunningDemo, page: Page) -> None:
    printer = f"{demo.site}/printers/demo-1/"
    # Not logged in: the proxy sends the browser to the hub's login, which sends it back.
    page.goto(printer)
    expect(page).to_have_url(f"{demo.site}/login?next=/printers/demo-1/")
    page.locator("#username").fill("admin")
    page.locator("#password").fill(demo.password)
    page.locator("#submit").click()
    expect(page).to_have_url(printer)
    expect(page.locator("#name")).to_have_text("demo-1")
    expect(page.locator("#link")).to_have_text("live")
    expect(page.locator("#state")).to_have_text("Ready")

    # An upload and a print change something: the page sends the session's CSRF token.
    content = (GCODE / "cube_slic3r.gcode").read_bytes()
    page.set_input_files("#upload", {"name": CUBE, "mimeType": "text/plain", "buffer": content})
    expect(page.locator("#upload-status")).to_have_text(f"Uploaded {CUBE}")
    item = page.locator(f"#files li[data-name='{CUBE}']")
    item.get_by_role("button", name="Print").click()
    page.locator("#confirm-yes").click()
    expect(page.locator("#state")).to_have_text("Printing", timeout=20_000)
    screenshot(page, "demo-printing-as-admin")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    history = requests.get(f"{printer}api/v1/history", cookies=cookies, timeout=10).json()["jobs"]
    assert [(job["file"], job["started_by"]) for job in history] == [(CUBE, "admin")]

    # The session ends (logged out elsewhere): the next action leads to the login page.
    page.context.clear_cookies()
    page.locator("#pause").click()
    expect(page).to_have_url(f"{demo.site}/login?next=%2Fprinters%2Fdemo-1%2F")
