"""The printer's page after a job: the bed, the confirmations, the history, the files.

On a simulator whose moves take no time, so a small part prints to completion in
seconds: the first completed print must not block the printer.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from instance.analysis.thumbnails import png_rgba
from tests.browser.axe_check import serious_violations
from tests.browser.conftest import screenshot
from tests.browser.printer_page_checks import no_sideways_scroll, watch_console
from tests.web.server import Served, gcode_head, running_server

pytestmark = pytest.mark.timeout(240)

# A long name, as slicers write them: the history must still show it readably.
LONG = "bracket_left_v3_PETG_0.2mm_4h12m_prusa_mk3s.gcode"
SMALL = gcode_head("cube_prusa_marlin2.gcode", 400)
PHONE: ViewportSize = {"width": 360, "height": 740}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """No API key (as behind the hub); moves take no time."""
    with running_server(tmp_path, key=None) as s:
        yield s


def unlabelled(page: Page) -> list[str]:
    """Every control on the page without an accessible name (label, aria-label or text)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => el.type !== 'file')
            .filter((el) => {
              const named = (el.getAttribute('aria-label') || '').trim()
                || (el.getAttribute('aria-labelledby') || '').trim()
                || (el.getAttribute('title') || '').trim()
                || (el.labels && [...el.labels].some((l) => l.textContent.trim()));
              return !(named || (el.tagName === 'BUTTON' && el.textContent.trim()));
            })
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
    return found


def test_a_finished_print_is_cleared_on_the_page_and_the_next_print_starts(
    served: Served, page: Page
) -> None:
    errors = watch_console(page)
    assert served.upload(LONG, SMALL, path="/api/v1/files").status_code == 201
    page.goto(served.url + "/")
    state = page.locator("#state")
    expect(state).to_have_text("Ready")
    # Standalone, not behind the hub: no link to a fleet that is not there.
    expect(page.locator("#fleet-link")).to_be_hidden()
    assert unlabelled(page) == []
    item = page.locator(f"#files li[data-name='{LONG}']")
    print_button = item.get_by_role("button", name=f"Print {LONG}")
    expect(print_button).to_be_enabled()

    # The question names the file, the printer and the action; Escape does nothing.
    print_button.click()
    expect(page.locator("#confirm-text")).to_have_text(f"Print {LONG} on printer?")
    expect(page.locator("#confirm-no")).to_have_text("Don't print")
    expect(page.locator("#confirm-yes")).to_have_text("Print")
    expect(page.locator("#confirm-yes")).to_have_class("primary")
    screenshot(page, "after-job-01-confirm-print")
    page.keyboard.press("Escape")
    expect(page.locator("#confirm")).not_to_be_visible()
    expect(state).to_have_text("Ready")
    assert served.get("/api/v1/history").json()["jobs"] == []

    print_button.click()
    page.locator("#confirm-yes").click()
    expect(state).to_have_text("Finished", timeout=60_000)
    # Finished: the bed must be confirmed clear, and the page says so where it matters.
    bed = page.locator("#bed")
    expect(bed).to_be_visible()
    expect(page.locator("#bed-text")).to_contain_text("The print finished")
    expect(print_button).to_be_disabled()
    expect(page.locator("#print-note")).to_have_text("Confirm the bed is clear first.")
    again = page.locator("#history tr").first.get_by_role("button", name=f"Print {LONG} again")
    expect(again).to_be_disabled()
    expect(page.locator("#history tr").first).to_contain_text("completed")
    screenshot(page, "after-job-02-finished")
    assert serious_violations(page) == []

    page.get_by_role("button", name="Bed is clear").click()
    expect(state).to_have_text("Ready")
    expect(bed).to_be_hidden()
    expect(page.locator("#print-note")).to_be_hidden()
    expect(print_button).to_be_enabled()

    # Print again, from the history row.
    again.click()
    expect(page.locator("#confirm-text")).to_have_text(f"Print {LONG} on printer?")
    page.locator("#confirm-yes").click()
    expect(state).to_have_text("Finished", timeout=60_000)
    jobs = served.get("/api/v1/history").json()["jobs"]
    assert [(job["file"], job["outcome"]) for job in jobs] == [(LONG, "completed")] * 2
    expect(page.locator("#history tr")).to_have_count(2)
    readable_history(page)
    screenshot(page, "after-job-03-history-desktop")

    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    readable_history(page)
    screenshot(page, "after-job-04-history-phone")
    assert serious_violations(page) == []
    assert errors == []


def readable_history(page: Page) -> None:
    """The file name gets room (whole words, not four letters a line); the outcome is whole."""
    sizes = page.evaluate(
        """() => {
          const row = document.querySelector('#history tr');
          const file = row.querySelector('td.file'), word = row.querySelector('.outcome-word');
          const line = parseFloat(getComputedStyle(file).lineHeight) || 20;
          const box = word.getBoundingClientRect();
          const cell = word.parentElement.getBoundingClientRect();
          return {fileWidth: file.getBoundingClientRect().width, fileLines:
                  file.getBoundingClientRect().height / line, wordHeight: box.height,
                  wordRight: box.right, cellRight: cell.right, wordText: word.textContent,
                  line, viewport: window.innerWidth};
        }"""
    )
    assert sizes["wordText"] == "completed"
    assert sizes["wordHeight"] < 1.5 * sizes["line"], sizes  # one line, not "compl/eted"
    assert sizes["wordRight"] <= sizes["cellRight"] + 1, sizes  # not cut
    assert sizes["fileWidth"] >= min(190, sizes["viewport"] * 0.5), sizes
    assert sizes["fileLines"] <= 3.5, sizes


def test_delete_asks_to_keep_the_file_and_a_deleted_file_cannot_be_printed_again(
    served: Served, page: Page
) -> None:
    errors = watch_console(page)
    assert served.upload("part.gcode", SMALL, path="/api/v1/files").status_code == 201
    assert served.post("/api/v1/job", json={"file": "part.gcode"}).status_code == 201
    served.wait_state("finished", seconds=60)
    assert served.post("/api/v1/bed/clear").status_code == 200
    page.goto(served.url + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    item = page.locator("#files li[data-name='part.gcode']")
    again = page.get_by_role("button", name="Print part.gcode again")
    expect(again).to_be_enabled()

    item.get_by_role("button", name="Delete part.gcode").click()
    expect(page.locator("#confirm-text")).to_contain_text("Delete part.gcode?")
    expect(page.locator("#confirm-no")).to_have_text("Keep file")
    expect(page.locator("#confirm-yes")).to_have_text("Delete")
    expect(page.locator("#confirm-yes")).to_have_class("danger")
    # A destructive question starts on the safe choice: Enter keeps the file.
    expect(page.locator("#confirm-no")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#confirm")).not_to_be_visible()
    expect(item).to_be_visible()
    assert (served.files_dir / "part.gcode").exists()

    item.get_by_role("button", name="Delete part.gcode").click()
    page.locator("#confirm-yes").click()
    expect(item).to_have_count(0)
    expect(again).to_be_disabled()
    expect(page.locator("#history tr").first).to_contain_text("File deleted")
    assert again.get_attribute("title") == "part.gcode is no longer stored."
    screenshot(page, "after-job-05-file-deleted")
    assert errors == []


def with_thumbnail(body: bytes) -> bytes:
    image = png_rgba(2, 2, bytes([40, 120, 200, 255]) * 4)
    encoded = base64.b64encode(image).decode()
    return f"; thumbnail begin 2x2 {len(encoded)}\n; {encoded}\n; thumbnail end\n".encode() + body


def names(page: Page) -> list[str]:
    shown: list[str] = page.locator("#files li").evaluate_all(
        "(items) => items.map((item) => item.dataset.name)"
    )
    return shown


def test_files_show_thumbnails_and_are_searched_and_sorted_as_remembered(
    served: Served, browser: Browser
) -> None:
    files = {
        "a_small.gcode": SMALL[:3000],
        "b_with_picture.gcode": with_thumbnail(SMALL),
        "c_large.gcode": SMALL + SMALL,
    }
    for name, body in files.items():
        assert served.upload(name, body, path="/api/v1/files").status_code == 201
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(served.url + "/")
    expect(page.locator("#files li")).to_have_count(3)
    pictured = page.locator("#files li[data-name='b_with_picture.gcode'] img.thumb")
    expect(pictured).to_have_attribute("loading", "lazy")
    pictured.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector(\"li[data-name='b_with_picture.gcode'] img\").naturalWidth"
    )
    expect(page.locator("#files li[data-name='a_small.gcode'] .thumb.placeholder")).to_have_count(1)

    assert names(page) == ["a_small.gcode", "b_with_picture.gcode", "c_large.gcode"]
    page.get_by_label("Sort").select_option("size")
    assert names(page) == ["c_large.gcode", "b_with_picture.gcode", "a_small.gcode"]
    page.get_by_label("Search files").fill("LARGE")
    assert names(page) == ["c_large.gcode"]
    page.get_by_label("Search files").fill("nothing like it")
    expect(page.locator("#files-empty")).to_be_visible()
    page.get_by_label("Search files").fill("_")
    no_sideways_scroll(page)
    screenshot(page, "after-job-06-files-phone")

    # Remembered in this browser.
    page.reload()
    expect(page.locator("#files li")).to_have_count(3)
    expect(page.get_by_label("Sort")).to_have_value("size")
    expect(page.get_by_label("Search files")).to_have_value("_")
    assert names(page)[0] == "c_large.gcode"
    context.close()
    assert errors == []


def test_a_failed_print_is_cleared_on_the_page_too(tmp_path: Path, page: Page) -> None:
    """The cable is pulled mid-print: once the printer is back the job shows as failed."""
    errors = watch_console(page)
    with running_server(
        tmp_path, key=None, sim_args=("--fault", "unplug:at_line=150,seconds=1")
    ) as served:
        assert served.upload("part.gcode", SMALL, path="/api/v1/files").status_code == 201
        page.goto(served.url + "/")
        expect(page.locator("#state")).to_have_text("Ready")
        page.get_by_role("button", name="Print part.gcode", exact=True).click()
        page.locator("#confirm-yes").click()
        expect(page.locator("#state")).to_have_text("Failed", timeout=60_000)
        expect(page.locator("#bed-text")).to_contain_text("The last print failed")
        expect(page.locator("#print-note")).to_have_text("Confirm the bed is clear first.")
        screenshot(page, "after-job-07-failed")
        page.get_by_role("button", name="Bed is clear").click()
        expect(page.locator("#state")).to_have_text("Ready")
        expect(page.get_by_role("button", name="Print part.gcode", exact=True)).to_be_enabled()
    assert errors == []
