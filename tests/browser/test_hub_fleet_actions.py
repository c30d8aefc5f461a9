"""The dashboard on the demo stack (nginx, hub, three simulated printers): finished cards
with their last job and the bed-clear button, the current file's thumbnail, and fleet
actions on several printers at once; screenshots at desktop and phone sizes, no console
errors."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from instance.analysis.thumbnails import png_rgba
from tests.browser.axe_check import assert_accessible
from tests.browser.layout import both_sizes
from tests.browser.site import (
    DESKTOP,
    PASSWORD,
    TINY_GCODE,
    ConsoleWatch,
    RunningSite,
    SiteClient,
    running_site,
)

pytestmark = pytest.mark.timeout(420)

SLOW = 60_000  # ms: a simulated print, a state change through the hub
PRINTERS = ("demo-1", "demo-2", "demo-3")
AT_REST = ("ready", "finished", "failed", "bed not cleared")


@dataclass
class Lab:
    site: RunningSite
    admin: SiteClient


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_site(tmp_path_factory.mktemp("fleet-actions"), 3, time_factor=20) as site:
        admin = SiteClient(site)
        admin.add_user("olga", "operator", ["demo-1"])
        yield Lab(site, admin)


@pytest.fixture
def watch() -> Iterator[ConsoleWatch]:
    found = ConsoleWatch()
    yield found
    assert found.errors == [], found.errors


def open_dashboard(browser: Browser, lab: Lab, watch: ConsoleWatch, user: str = "admin") -> Page:
    page = watch.watch(browser.new_context(viewport=DESKTOP).new_page())  # type: ignore[arg-type]
    page.goto(lab.site.url + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(lab.site.password if user == "admin" else PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#dashboard .fleet-live")).to_have_text("live", timeout=SLOW)
    return page


def card(page: Page, name: str) -> Locator:
    return page.locator(f'.printer-card[data-printer="{name}"]')


def clear_beds(lab: Lab) -> None:
    for name in PRINTERS:
        lab.admin.wait_for_state(name, *AT_REST, within=SLOW / 1000)
        answer = lab.admin.call("POST", f"/api/printers/{name}/bed-clear")
        assert answer.status_code == 200, answer.text
        lab.admin.wait_for_state(name, "ready")


def print_to_the_end(lab: Lab, printer: str) -> None:
    """A tiny part printed to the end: the printer is finished, its bed not clear."""
    lab.admin.upload(printer, "tiny.gcode", TINY_GCODE)
    lab.admin.start_print(printer, "tiny.gcode")
    lab.admin.wait_for_state(printer, "finished", within=SLOW / 1000)


def test_a_finished_card_shows_its_last_job_and_frees_the_printer(
    lab: Lab, browser: Browser, watch: ConsoleWatch
) -> None:
    print_to_the_end(lab, "demo-3")
    page = open_dashboard(browser, lab, watch)
    done = card(page, "demo-3")
    expect(done.locator(".state-badge")).to_have_text("Finished")
    expect(done.locator(".last-file")).to_have_text("tiny.gcode")
    expect(done.locator(".last-outcome")).to_have_text(re.compile(r"^Completed · \d+ (s|min)$"))
    button = done.get_by_role("button", name="Confirm bed clear")
    expect(button).to_be_visible()
    # Sentence case, one spelling: the badge and the state filter.
    expect(page.locator(".filter-state option[value='bed not cleared']")).to_have_text(
        "Bed not cleared"
    )
    expect(page.locator(".fleet-summary")).to_have_text("3 printers")
    page.select_option(".filter-state", "finished")
    expect(page.locator(".fleet-summary")).to_have_text("1 of 3 printers")
    page.select_option(".filter-state", "")
    both_sizes(page, "hub-dashboard-10-finished-card")
    assert_accessible(page, "dashboard with a finished card")
    button.click()
    expect(done.locator(".state-badge")).to_have_text("Ready")
    expect(done.locator(".last-job")).to_be_hidden()
    expect(done.get_by_role("button", name="Confirm bed clear")).to_have_count(0)
    page.context.close()


def thumbnail_gcode(lab: Lab) -> str:
    """The demo's cube with a 2 x 2 preview embedded, as a slicer writes one."""
    cube = lab.admin.call("GET", "/printers/demo-1/api/v1/files/cube_slic3r.gcode/content").text
    encoded = base64.b64encode(png_rgba(2, 2, bytes([200, 40, 40, 255]) * 4)).decode()
    return f"; thumbnail begin 2x2 {len(encoded)}\n; {encoded}\n; thumbnail end\n{cube}"


def test_fleet_actions_pause_resume_and_cancel_several_printers_with_their_thumbnails(
    lab: Lab, browser: Browser, watch: ConsoleWatch
) -> None:
    lab.admin.upload("demo-1", "with-preview.gcode", thumbnail_gcode(lab))
    page = open_dashboard(browser, lab, watch)
    lab.admin.start_print("demo-1", "with-preview.gcode")
    lab.admin.start_print("demo-2", "cube_slic3r.gcode")
    for name in ("demo-1", "demo-2"):
        expect(card(page, name).locator(".state-badge")).to_have_text("Printing", timeout=SLOW)
    # The preview of the file being printed; a file without one shows no broken image.
    preview = card(page, "demo-1").locator("img.job-thumbnail")
    expect(preview).to_be_visible()
    expect(preview).to_have_attribute("src", re.compile(r"with-preview\.gcode/thumbnails/0$"))
    expect(card(page, "demo-2").locator("img.job-thumbnail")).to_be_hidden()

    actions = page.get_by_role("group", name="Fleet actions")
    expect(actions).to_contain_text("None selected")
    expect(actions.get_by_role("button", name="Pause")).to_be_disabled()
    page.get_by_role("checkbox", name="Select demo-1").check()
    page.get_by_role("checkbox", name="Select demo-2").check()
    expect(actions).to_contain_text("2 printers selected")
    both_sizes(page, "hub-dashboard-11-two-selected")
    actions.get_by_role("button", name="Pause").click()
    said = page.locator(".fleet-action-results")
    expect(said).to_contain_text("Pause: 2 printers done")
    for name in ("demo-1", "demo-2"):
        expect(card(page, name).locator(".state-badge")).to_have_text("Paused", timeout=SLOW)
    actions.get_by_role("button", name="Resume").click()
    expect(said).to_contain_text("Resume: 2 printers done")
    for name in ("demo-1", "demo-2"):
        expect(card(page, name).locator(".state-badge")).to_have_text("Printing", timeout=SLOW)

    # Cancel asks first, naming the printers; saying no changes nothing.
    asked: list[str] = []

    def answer(dialog: object, accept: bool) -> None:
        asked.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept() if accept else dialog.dismiss()  # type: ignore[attr-defined]

    page.once("dialog", lambda dialog: answer(dialog, False))
    actions.get_by_role("button", name="Cancel").click()
    expect(card(page, "demo-1").locator(".state-badge")).to_have_text("Printing")
    page.once("dialog", lambda dialog: answer(dialog, True))
    actions.get_by_role("button", name="Cancel").click()
    expect(said).to_contain_text("Cancel: 2 printers done")
    assert len(asked) == 2 and "demo-1, demo-2" in asked[0], asked
    for name in ("demo-1", "demo-2"):
        badge = card(page, name).locator(".state-badge")
        expect(badge).to_have_text("Bed not cleared", timeout=SLOW)
        expect(card(page, name).locator(".last-outcome")).to_contain_text("Cancelled")

    # Select all shown, then pause: nothing prints, and each printer says so.
    page.get_by_label("Select all shown").check()
    expect(actions).to_contain_text("3 printers selected")
    actions.get_by_role("button", name="Pause").click()
    expect(said).to_contain_text("Pause: 0 printers done, 3 not")
    expect(said.locator("li[data-ok=false]")).to_have_count(3)
    both_sizes(page, "hub-dashboard-12-results")
    assert_accessible(page, "dashboard with fleet actions' results")
    page.get_by_label("Select all shown").uncheck()
    expect(actions).to_contain_text("None selected")
    page.context.close()
    clear_beds(lab)


def test_an_operator_selects_and_preheats_only_their_printer(
    lab: Lab, browser: Browser, watch: ConsoleWatch
) -> None:
    page = open_dashboard(browser, lab, watch, "olga")
    expect(page.locator(".printer-card")).to_have_count(1)
    expect(page.locator(".fleet-summary")).to_have_text("1 printer")
    page.get_by_label("Select all shown").check()
    actions = page.get_by_role("group", name="Fleet actions")
    expect(actions).to_contain_text("1 printer selected")
    actions.get_by_label("Hotend °C").fill("999")
    actions.get_by_role("button", name="Preheat").click()
    said = page.locator(".fleet-action-results")
    expect(said).to_contain_text("Hotend must be a whole number between 0 and 300 °C.")
    expect(actions.get_by_label("Hotend °C")).to_have_attribute("aria-invalid", "true")
    actions.get_by_label("Hotend °C").fill("45")
    actions.get_by_label("Bed °C").fill("35")
    actions.get_by_role("button", name="Preheat").click()
    expect(said).to_contain_text("Preheat: 1 printer done")
    expect(card(page, "demo-1").locator(".hotend")).to_have_text(re.compile(r"/ 45 °C"))
    actions.get_by_role("button", name="Cool down").click()
    expect(said).to_contain_text("Cool down: 1 printer done")
    page.context.close()


def test_a_failed_card_shows_its_last_job_and_the_bed_clear_button(
    lab: Lab, browser: Browser, watch: ConsoleWatch
) -> None:
    """Last in this file: an emergency stop leaves demo-3 disconnected."""
    print_to_the_end(lab, "demo-3")
    answer = lab.admin.call("POST", "/printers/demo-3/api/v1/control/emergency-stop")
    assert answer.status_code == 202, answer.text
    lab.admin.wait_for_state("demo-3", "failed")
    page = open_dashboard(browser, lab, watch)
    failed = card(page, "demo-3")
    expect(failed.locator(".state-badge")).to_have_text("Failed")
    expect(failed).to_have_attribute("data-kind", "bad")
    expect(failed.locator(".last-file")).to_have_text("tiny.gcode")
    expect(failed.locator(".printer-message")).to_contain_text("emergency stop")
    both_sizes(page, "hub-dashboard-13-failed-card")
    failed.get_by_role("button", name="Confirm bed clear").click()
    expect(failed.get_by_role("button", name="Confirm bed clear")).to_have_count(0)
    assert lab.admin.printer("demo-3")["bed_clear"] is True
    page.context.close()
