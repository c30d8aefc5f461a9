"""The hub's queue page in a real browser, on a real hub and real simulated printers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.db import open_database
from orchestrator.demo.runtime import Demo
from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.layout import both_sizes
from tests.hub.conftest import HubProcess, SimulatedFleet, free_ports, start_hub_process

pytestmark = pytest.mark.timeout(240)

SQUARE = Path(__file__).resolve().parents[1] / "fixtures" / "queue" / "square.gcode"
PASSWORD = "browser-queue-password"


@dataclass
class Site:
    hub: HubProcess
    printers: SimulatedFleet


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    demo = Demo(tmp_path / "printers", 2, free_ports(1), 50.0)
    demo.start_printers(lambda _line: None)
    printers = SimulatedFleet(list(demo.printers), demo)
    layout = printers.fleet(**{p.name: {"groups": ["lab"]} for p in printers.printers})
    key = demo.workdir / "secrets" / "gate.key"
    hub = start_hub_process(tmp_path / "hub", layout, gate_key_file=key)
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
        create_user(db, "vic", PASSWORD, "viewer", Grants(groups=frozenset({"lab"})))
        create_user(db, "olga", PASSWORD, "operator", Grants(printers=frozenset({"demo-1"})))
    finally:
        db.close()
    try:
        yield Site(hub, printers)
    finally:
        hub.stop()
        demo.stop()


def log_in(page: Page, hub: HubProcess, name: str) -> None:
    page.goto(hub.url + "login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#who")).to_contain_text(name)
    page.goto(hub.url + "#queue")
    expect(page.locator("#queue h2")).to_have_text("Queue")


def test_queue_two_copies_then_clear_a_bed_for_the_next(site: Site, page: Page) -> None:
    log_in(page, site.hub, "ada")
    form = page.locator("#queue form")
    expect(form).to_be_visible()
    # fleet, group:lab and the two printers
    expect(form.locator("select[name=target] option")).to_have_count(4)
    form.locator("input[name=file]").set_input_files(str(SQUARE))
    form.locator("input[name=copies]").fill("3")
    form.locator("select[name=target]").select_option("group:lab")
    form.locator("button[type=submit]").click()
    expect(page.locator(".queue-message")).to_contain_text("Queued 3")
    rows = page.locator("#queue tbody tr[data-entry]")
    expect(rows).to_have_count(3)
    screenshot(page, "hub-queue-01-submitted")

    # Two copies print, one on each printer, and finish; the third waits.
    expect(page.locator("#queue tr[data-state=done]")).to_have_count(2, timeout=60_000)
    expect(page.locator("#queue tr[data-state=queued]")).to_have_count(1)
    screenshot(page, "hub-queue-02-two-done")

    # Confirm one bed clear from the queue: the waiting copy starts on that printer.
    done = page.locator("#queue tr[data-state=done]").first
    printer = done.locator("td[data-printer]").get_attribute("data-printer")
    assert printer in ("demo-1", "demo-2")
    done.locator("button[data-action='bed clear']").click()
    # It may print to the end between two refreshes of the page: its row says where it went.
    expect(page.locator("#queue tr[data-state=queued]")).to_have_count(0, timeout=30_000)
    screenshot(page, "hub-queue-03-next-started")
    expect(page.locator("#queue tr[data-state=done]")).to_have_count(3, timeout=60_000)
    places = page.locator("#queue tr[data-state=done] td[data-printer]")
    went = [places.nth(i).get_attribute("data-printer") for i in range(3)]
    assert went.count(printer) == 2, went


def test_a_viewer_sees_the_queue_but_cannot_change_it(site: Site, page: Page) -> None:
    log_in(page, site.hub, "ada")
    form = page.locator("#queue form")
    form.locator("input[name=file]").set_input_files(str(SQUARE))
    form.locator("input[name=priority]").fill("4")
    form.locator("select[name=target]").select_option("group:lab")
    # Both printers busy first, so one entry stays queued (with buttons an admin would see).
    form.locator("input[name=copies]").fill("3")
    form.locator("button[type=submit]").click()
    expect(page.locator("#queue tr[data-state=queued] button[data-action=cancel]")).to_have_count(
        1, timeout=30_000
    )
    page.context.clear_cookies()

    log_in(page, site.hub, "vic")
    expect(page.locator("#queue tbody tr[data-entry]")).to_have_count(3)
    expect(page.locator("#queue form")).to_be_hidden()
    expect(page.locator("#queue tbody button")).to_have_count(0)
    expect(page.locator("#queue .queue-table tbody")).to_contain_text("ada")
    screenshot(page, "hub-queue-04-viewer")


def test_a_waiting_copy_says_why_and_its_bed_is_cleared_from_there(site: Site, page: Page) -> None:
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{m.location}: {m.text}") if m.type == "error" else None
    )
    log_in(page, site.hub, "ada")
    form = page.locator("#queue form")
    expect(form.locator("select[name=target] option[value='printer:demo-1']")).to_have_text(
        "demo-1"
    )
    expect(form.locator("select[name=target] option[value=fleet]")).to_have_text("Any printer")
    form.locator("input[name=file]").set_input_files(str(SQUARE))
    form.locator("input[name=copies]").fill("2")
    form.locator("select[name=target]").select_option("printer:demo-1")
    form.locator("button[type=submit]").click()
    expect(page.locator(".queue-message")).to_contain_text("Queued 2")
    rows = page.locator("#queue .queue-table tbody tr[data-entry]")
    expect(rows.first.locator(".queue-target")).to_have_text("demo-1")

    # The first copy prints and finishes; the second says it waits for demo-1's bed.
    expect(page.locator("#queue tr[data-state=done]")).to_have_count(1, timeout=60_000)
    waiting = page.locator("#queue tr[data-state=queued]")
    expect(waiting.locator(".queue-state")).to_have_text("Queued")
    why = waiting.locator(".queue-reason")
    expect(why).to_contain_text("No printer that fits can take it now: demo-1")
    expect(why).to_contain_text("Bed not confirmed clear: demo-1")
    printers = page.locator("#queue .queue-printers")
    expect(printers.locator("tr[data-printer=demo-1]")).to_contain_text(
        "demo-1's bed is not confirmed clear"
    )
    expect(printers.locator("tr[data-printer=demo-2]")).to_contain_text(
        "demo-2 does not match any waiting job"
    )
    expect(printers.locator("tr[data-printer=demo-1]")).to_contain_text("Finished")
    both_sizes(page, "hub-queue-05-waiting-why")
    assert_accessible(page, "queue with a waiting copy")

    # The operator of demo-1 sees the same, and clears the bed from the waiting row.
    page.context.clear_cookies()
    log_in(page, site.hub, "olga")
    expect(page.locator("#queue .queue-printers tbody tr")).to_have_count(1)
    why = page.locator("#queue tr[data-state=queued] .queue-reason")
    why.get_by_role("button", name="Bed clear on demo-1").click()
    started = page.locator("#queue tr[data-state=printing], #queue tr[data-state=sent]")
    expect(started.or_(page.locator("#queue tr[data-state=done]").nth(1))).not_to_have_count(
        0, timeout=30_000
    )
    expect(page.locator("#queue tr[data-state=queued]")).to_have_count(0)
    expect(page.locator("#queue tr[data-state=done]")).to_have_count(2, timeout=60_000)
    assert errors == [], errors


def test_an_operator_sees_only_the_entries_and_printers_of_their_printer(
    site: Site, page: Page
) -> None:
    log_in(page, site.hub, "ada")
    form = page.locator("#queue form")
    form.locator("input[name=file]").set_input_files(str(SQUARE))
    form.locator("select[name=target]").select_option("printer:demo-2")
    form.locator("button[type=submit]").click()
    expect(page.locator(".queue-message")).to_contain_text("Queued 1")
    expect(page.locator("#queue .queue-table tbody tr[data-entry]")).to_have_count(1)
    expect(page.locator("#queue .queue-printers tbody tr")).to_have_count(2)
    page.context.clear_cookies()

    log_in(page, site.hub, "olga")
    expect(page.locator("#queue .queue-printers tbody tr")).to_have_count(1)
    expect(page.locator("#queue .queue-printers tbody tr[data-printer=demo-1]")).to_be_visible()
    expect(page.locator("#queue .queue-table tbody")).to_contain_text("The queue is empty.")
    expect(page.locator("#queue form select[name=target] option")).to_have_count(1)
    screenshot(page, "hub-queue-06-operator")
