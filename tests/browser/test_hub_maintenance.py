"""The hub's maintenance page in a real Chromium: a real hub, a real print server on a
simulated Marlin. An overdue task shows as "Overdue" in words; an operator marks it done
with a note and sees it become "OK" and the note in the service log; the page passes axe
and fits a phone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from hub.auth.accounts import make_grants
from tests.browser.axe_check import assert_accessible
from tests.browser.layout import both_sizes
from tests.hub.conftest import (  # noqa: F401  (fixtures)
    HubProcess,
    SimulatedFleet,
    login,
    simulated_printers,
    start_hub,
)
from tests.hub.test_history import PASSWORD, SHORT, add_user, print_servers, wait_until

pytestmark = pytest.mark.timeout(240)


def test_an_operator_marks_an_overdue_task_done_on_the_page(
    simulated_printers: Callable[..., SimulatedFleet],  # noqa: F811
    start_hub: Callable[..., HubProcess],  # noqa: F811
    page: Page,
) -> None:
    printers = simulated_printers(1, time_factor=200)
    fleet = printers.fleet()
    fleet["site"]["maintenance"] = [
        {"task": "Clean bed", "every": {"jobs": 1}, "guide": "https://example.org/bed"},
        {"task": "Replace nozzle", "every": {"print_hours": 300}},
    ]
    hub = start_hub(fleet)
    add_user(hub, "otto", "operator", make_grants(printers=["demo-1"]))
    api = login(hub.url, "otto", PASSWORD)

    def states() -> dict[str, str]:
        found = api.get(hub.url + "api/maintenance", timeout=10).json()["printers"][0]
        return {t["task"]: t["state"] for t in found["tasks"]}

    wait_until(lambda: states()["Clean bed"] == "ok", what="first counters reading")
    (one,) = print_servers(hub, printers)
    one.upload("short.gcode", SHORT)
    one.print_file("short.gcode", "otto")
    wait_until(lambda: states()["Clean bed"] == "overdue", what="the task overdue")

    page.goto(hub.url + "login")
    page.fill("#username", "otto")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#who")).to_contain_text("otto")
    page.click("#nav a[data-page=maintenance]")
    expect(page).to_have_url(hub.url + "maintenance")
    expect(page.locator("#nav a[data-page=maintenance]")).to_have_attribute("aria-current", "page")
    card = page.locator("section[data-printer=demo-1]")
    clean = card.locator("tr[data-task='Clean bed']")
    expect(clean.locator(".service-state")).to_have_text("Overdue")
    expect(clean).to_contain_text("Clean bed: 1 of 1 jobs, overdue by 0 jobs")
    expect(clean.get_by_role("link", name="Clean bed")).to_have_attribute(
        "href", "https://example.org/bed"
    )
    expect(card.locator("tr[data-task='Replace nozzle'] .service-state")).to_have_text("OK")
    expect(card).to_contain_text("1 completed")
    expect(card.locator(".service-counters dd").nth(1)).to_have_text("12 mm")  # filament
    assert_accessible(page, "the maintenance page")
    both_sizes(page, "hub-maintenance-01-overdue")

    clean.get_by_label("Note for Clean bed on demo-1 (optional)").fill("new PEI sheet")
    clean.get_by_role("button", name="Mark Clean bed done on demo-1").click()
    expect(page.locator("#maintenance-status")).to_have_text("Clean bed marked done on demo-1.")
    clean = page.locator("section[data-printer=demo-1] tr[data-task='Clean bed']")
    expect(clean.locator(".service-state")).to_have_text("OK")
    expect(clean).to_contain_text("Clean bed: 0 of 1 jobs")
    log = page.locator("section[data-printer=demo-1] details.service-log")
    log.locator("summary").click()
    expect(log.locator("tbody tr")).to_have_count(1)
    expect(log.locator("tbody tr")).to_contain_text("new PEI sheet")
    expect(log.locator("tbody tr")).to_contain_text("otto")
    assert_accessible(page, "the maintenance page after marking a task done")
    both_sizes(page, "hub-maintenance-02-done")
    assert states()["Clean bed"] == "ok"
