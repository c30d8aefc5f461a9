"""The printer's page on a print server whose disk is full: an upload is refused with the
reason under the upload box, at desktop and phone size; it works again once space returns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.dropping import drop_file
from tests.small_volume import fill, small_volume
from tests.web.server import Served, running_server

PART = "G28\nG1 X10 Y10 F3000\n"


@pytest.fixture
def full(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """A print server (no API key, as behind the hub) whose data dir is a full 16 MB tmpfs."""
    with (
        small_volume(tmp_path / "data", 16) as volume,
        running_server(tmp_path, "--disk-reserve-mb", "1", key=None) as s,
    ):
        yield s, fill(volume)


def test_a_full_disk_is_said_under_the_upload_box(full: tuple[Served, Path], page: Page) -> None:
    served, filler = full
    page.goto(served.url + "/")
    expect(page.locator("#link")).to_have_text("live")
    drop_file(page, "part.gcode", PART)
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Upload refused: not enough free disk space for this upload")
    expect(page.locator("#files li[data-name='part.gcode']")).to_have_count(0)
    screenshot(page, "disk-full-01-refused")
    assert_accessible(page, "the printer page refusing an upload on a full disk")

    filler.unlink()
    drop_file(page, "part.gcode", PART)
    expect(status).to_have_text("Uploaded part.gcode")
    expect(page.locator("#files li[data-name='part.gcode']")).to_be_visible()
    screenshot(page, "disk-full-02-room-again")


def test_a_full_disk_is_said_on_a_phone(full: tuple[Served, Path], browser_phone: Page) -> None:
    served, _ = full
    page = browser_phone
    page.goto(served.url + "/")
    expect(page.locator("#link")).to_have_text("live")
    drop_file(page, "part.gcode", PART)
    status = page.locator("#upload-status")
    expect(status).to_contain_text("Upload refused: not enough free disk space for this upload")
    status.scroll_into_view_if_needed()
    expect(status).to_be_in_viewport()
    screenshot(page, "disk-full-03-phone")
