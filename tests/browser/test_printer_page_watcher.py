"""A printer's page through the real stack for who may only watch it, and who may act.

A viewer granted the printer sees every control that acts disabled (print, delete,
print again, pause, cancel, bed is clear, tune, jog, preheat, terminal Send, ...), the
reason once near the top and as each control's title, and no upload box; an operator
granted the printer sees the same controls enabled. At desktop and phone sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.printer_page_checks import no_sideways_scroll
from tests.browser.site import (
    PASSWORD,
    SIZES,
    TINY_GCODE,
    ConsoleWatch,
    RunningSite,
    SiteClient,
    running_site,
)

pytestmark = pytest.mark.timeout(300)

PRINTER = "demo-1"
TINY = "tiny-part.gcode"
LONG = "cube_slic3r.gcode"  # the demo's own file: long enough to pause
REASON = "You may watch this printer, not act on it."
# Every control of the page that acts while the printer is ready, by its accessible name.
READY_ACTS = [
    re.compile(f"^Print {re.escape(TINY)}$"), re.compile(f"^Delete {re.escape(TINY)}$"),
    re.compile(f"^Print {re.escape(TINY)} again$"),
    re.compile("^Set speed$"), re.compile("^Set flow$"), re.compile("^Babystep Z "),
    re.compile("^(X|Y|Z)(\\+|\u2212)$"), re.compile("^Home "), re.compile("^Motors off$"),
    re.compile("^Cool down$"), re.compile("^PLA "), re.compile("^Preheat$"),
    re.compile("^Extrude$"), re.compile("^Set fan$"), re.compile("^Send$"),
]  # fmt: skip
# The fields of those acts (speed, flow, preheat, extrude, fan, the terminal's command).
READY_FIELDS = (
    "#feed-percent, #flow-percent, #hotend-target, #bed-target, #extrude-length, #fan-percent,"
    " #command"
)

# What a watcher may still use: it only changes what the page shows.
WATCHING = {
    "preview-choose", "preview-down", "preview-up", "preview-layer", "preview-zoom-in",
    "preview-zoom-out", "preview-fit", "preview-travel", "preview-follow", "file-filter",
    "file-sort", "step", "hide-temperatures", "hide-ok", "autoscroll", "history-outcome",
}  # fmt: skip


@dataclass
class Lab:
    site: RunningSite
    admin: SiteClient
    viewer: SiteClient
    operator: SiteClient


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One printer that printed a tiny part (a history row), a viewer and an operator of it."""
    with running_site(tmp_path_factory.mktemp("watcher"), 1, time_factor=20) as site:
        admin = SiteClient(site)
        admin.add_user("vic", "viewer", [PRINTER])
        admin.add_user("olga", "operator", [PRINTER])
        admin.upload(PRINTER, TINY, TINY_GCODE)
        admin.start_print(PRINTER, TINY)
        admin.wait_for_state(PRINTER, "finished", within=120)
        yield Lab(
            site, admin, SiteClient(site, "vic", PASSWORD), SiteClient(site, "olga", PASSWORD)
        )


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_page(
    browser: Browser, lab: Lab, client: SiteClient, size: str, dark: bool = False
) -> tuple[Page, ConsoleWatch]:
    context = browser.new_context(viewport=SIZES[size])  # type: ignore[arg-type]
    context.add_cookies(client.browser_cookies())
    page, watch = context.new_page(), ConsoleWatch()
    watch.watch(page)
    page.emulate_media(color_scheme="dark" if dark else "light")
    # The page asks once who the user is to this printer; its answer decides the controls.
    with page.expect_response(lambda answer: answer.url.endswith("/api/v1/me")) as asked:
        page.goto(f"{lab.site.url}/printers/{PRINTER}/")
    assert asked.value.status == 200
    expect(page.locator("#link")).to_have_text("live")
    return page, watch


def acts(page: Page, names: list[re.Pattern[str]]) -> list[Locator]:
    """Each named control (at least one of each name), visible on the page."""
    found = []
    for name in names:
        controls = page.get_by_role("button", name=name)
        expect(controls.first).to_be_attached()
        found += [controls.nth(i) for i in range(controls.count())]
    return found


def assert_watch_only(page: Page, controls: list[Locator]) -> None:
    expect(page.get_by_text(REASON, exact=True)).to_be_visible()
    expect(page.get_by_text(REASON, exact=True)).to_have_count(1)
    for control in controls:
        expect(control).to_be_disabled()
        expect(control).to_have_attribute("title", REASON)


def looks_right(page: Page, name: str) -> None:
    """Saved as a screenshot; no serious axe violation (the reason's box included); fits."""
    screenshot(page, name)
    assert_accessible(page, name)
    no_sideways_scroll(page)


def ready(lab: Lab) -> None:
    """The tiny part's bed confirmed (by the admin): the printer is ready to print again."""
    if lab.admin.printer(PRINTER)["bed_clear"] is False:
        answer = lab.admin.call("POST", f"/printers/{PRINTER}/api/v1/bed/clear")
        assert answer.status_code == 200, answer.text
    lab.admin.wait_for_state(PRINTER, "ready")


def test_a_viewer_cannot_confirm_the_bed(lab: Lab, browser: Browser, size: str) -> None:
    if lab.admin.printer(PRINTER)["bed_clear"] is not False:
        pytest.fail("the tiny part's bed was confirmed before this test")
    page, watch = open_page(browser, lab, lab.viewer, size, dark=True)
    assert_watch_only(page, [page.get_by_role("button", name="Bed is clear")])
    looks_right(page, f"watcher-viewer-bed-{size}-dark")
    assert watch.errors == [], watch.errors
    page.context.close()


def test_a_viewer_sees_every_act_disabled_with_the_reason(
    lab: Lab, browser: Browser, size: str
) -> None:
    ready(lab)
    page, watch = open_page(browser, lab, lab.viewer, size)
    expect(page.get_by_text(TINY).first).to_be_visible()
    assert_watch_only(page, acts(page, READY_ACTS))
    fields = page.locator(READY_FIELDS)
    expect(fields).to_have_count(7)
    for index in range(7):
        expect(fields.nth(index)).to_be_disabled()
    # Nothing else on the printer's part of the page can be used but what only shows.
    usable = page.evaluate(
        """() => [...document.querySelectorAll('main button, main input, main select')]
            .filter((control) => !control.disabled && control.checkVisibility())
            .map((control) => control.id || control.outerHTML.slice(0, 80))"""
    )
    assert set(usable) <= WATCHING, sorted(set(usable) - WATCHING)
    # No upload box; what only shows (search, sort, preview, terminal filters) still works.
    expect(page.get_by_text("Drop a G-code file here")).to_be_hidden()
    expect(page.get_by_label("Search files")).to_be_enabled()
    expect(page.get_by_label("Hide ok")).to_be_enabled()
    looks_right(page, f"watcher-viewer-ready-{size}")
    assert watch.errors == [], watch.errors
    page.context.close()


def test_an_operator_granted_the_printer_may_act(lab: Lab, browser: Browser, size: str) -> None:
    ready(lab)
    page, watch = open_page(browser, lab, lab.operator, size)
    expect(page.get_by_text(TINY).first).to_be_visible()
    for control in acts(page, READY_ACTS):
        expect(control).to_be_enabled()
    fields = page.locator(READY_FIELDS)
    expect(fields).to_have_count(7)
    for index in range(7):
        expect(fields.nth(index)).to_be_enabled()
    expect(page.get_by_text("Drop a G-code file here")).to_be_visible()
    expect(page.get_by_text(REASON)).to_be_hidden()
    screenshot(page, f"watcher-operator-ready-{size}")
    assert watch.errors == [], watch.errors
    page.context.close()


def test_a_viewer_cannot_pause_nor_cancel_a_print(lab: Lab, browser: Browser) -> None:
    ready(lab)
    lab.admin.start_print(PRINTER, LONG)
    try:
        lab.admin.wait_for_state(PRINTER, "printing")
        for size in SIZES:
            page, watch = open_page(browser, lab, lab.viewer, size)
            job = [page.get_by_role("button", name=name) for name in ("Pause", "Cancel")]
            for button in job:
                expect(button).to_be_visible()
            assert_watch_only(page, job)
            screenshot(page, f"watcher-viewer-printing-{size}")
            assert watch.errors == [], watch.errors
            page.context.close()
        answer = lab.admin.call("POST", f"/printers/{PRINTER}/api/v1/job/pause")
        assert answer.status_code == 202, answer.text
        lab.admin.wait_for_state(PRINTER, "paused")
        page, watch = open_page(browser, lab, lab.viewer, "desktop")
        assert_watch_only(
            page, [page.get_by_role("button", name=name) for name in ("Resume", "Cancel")]
        )
        assert watch.errors == [], watch.errors
        page.context.close()
        operator, watch = open_page(browser, lab, lab.operator, "desktop")
        expect(operator.get_by_role("button", name="Resume")).to_be_enabled()
        expect(operator.get_by_role("button", name="Cancel")).to_be_enabled()
        assert watch.errors == [], watch.errors
        operator.context.close()
    finally:
        lab.admin.call("POST", f"/printers/{PRINTER}/api/v1/job/cancel")
