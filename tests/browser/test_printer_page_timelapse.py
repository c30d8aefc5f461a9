"""The printer's page with a camera: a timelapse chosen at Print, its video in the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.axe_check import serious_violations
from tests.browser.conftest import screenshot
from tests.browser.printer_page_checks import no_sideways_scroll, watch_console
from tests.camera_stand_in import layered_gcode, stand_in_camera
from tests.web.server import Served, running_server

pytestmark = pytest.mark.timeout(240)

PHONE: ViewportSize = {"width": 360, "height": 740}
PART = "layered_part_PLA_0.2mm.gcode"
LAYERS = 5


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A printer with a camera whose jobs have no timelapse unless they ask."""
    with (
        stand_in_camera(tmp_path) as camera,
        running_server(tmp_path, "--camera-snapshot-url", camera.url, key=None) as server,
    ):
        yield server


def test_a_timelapse_ticked_at_print_shows_in_the_history(served: Served, page: Page) -> None:
    errors = watch_console(page)
    assert served.upload(PART, layered_gcode(LAYERS), path="/api/v1/files").status_code == 201
    served.wait_for(lambda: served.get(f"/api/v1/files/{PART}/toolpath").status_code == 200)
    page.goto(served.url + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    page.locator(f"#files li[data-name='{PART}']").get_by_role(
        "button", name=f"Print {PART}"
    ).click()
    # The printer's default is off: the box is there, not ticked.
    choice = page.get_by_label("Timelapse from the camera")
    expect(choice).to_be_visible()
    expect(choice).not_to_be_checked()
    choice.check()
    screenshot(page, "timelapse-01-print-with-timelapse")
    assert serious_violations(page) == []
    page.locator("#confirm-yes").click()
    expect(page.locator("#state")).to_have_text("Finished", timeout=60_000)

    def video_made() -> bool:
        timelapse = served.get("/api/v1/history").json()["jobs"][0]["timelapse"]
        return timelapse is not None and timelapse["state"] == "ready"

    served.wait_for(video_made, seconds=60)
    page.reload()
    link = page.locator("#history tr").first.get_by_role("link", name=f"Timelapse of {PART}")
    expect(link).to_have_text(f"Timelapse ({LAYERS} frames, 0:03)")
    # Every layer had its frame, even with moves that take no time: no note under it.
    expect(link.locator("xpath=..")).to_have_text(f"Timelapse ({LAYERS} frames, 0:03)")
    video = page.request.get(str(link.get_attribute("href")), headers={"Range": "bytes=0-9"})
    assert video.status == 206 and video.headers["content-type"] == "video/mp4"
    screenshot(page, "timelapse-02-history-desktop")

    # Another question (cancelling nothing, confirming the bed) has no timelapse box.
    page.get_by_role("button", name="Bed is clear").click()
    expect(page.locator("#state")).to_have_text("Ready")
    page.locator(f"#files li[data-name='{PART}']").get_by_role(
        "button", name=f"Print {PART}"
    ).click()
    expect(choice).not_to_be_checked()  # the default again, not the last choice
    page.keyboard.press("Escape")
    expect(page.get_by_label("Timelapse from the camera")).to_be_hidden()

    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    expect(link).to_be_visible()
    screenshot(page, "timelapse-03-history-phone")
    assert serious_violations(page) == []
    assert errors == []
