"""The dispatch check as an operator meets it, in Chromium on the real demo stack (nginx,
hub, print servers asking the hub before every start) with a Spoolman stand-in: the printer
page says why a Print does not start and lets an admin override it; the queue page says why
an entry waits and lets an admin override that item for that entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.layout import both_sizes
from tests.browser.site import TINY_GCODE, RunningSite, SiteClient, running_site
from tests.hub.power_stand_ins import TasmotaPlug, serving
from tests.hub.spoolman_stand_in import SpoolmanStandIn, StandInSpool

pytestmark = pytest.mark.timeout(240)

NEARLY_EMPTY = 21


@pytest.fixture
def spoolman() -> Iterator[SpoolmanStandIn]:
    stand_in = SpoolmanStandIn()
    # 2 g left: less than the 5 g every job must leave to spare.
    stand_in.add(StandInSpool(NEARLY_EMPTY, "Prusament", "PLA Galaxy Black", "PLA",
                              used_weight=998.0))  # fmt: skip
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def plug() -> Iterator[TasmotaPlug]:
    with serving(TasmotaPlug(power=[True])) as started:
        assert isinstance(started, TasmotaPlug)
        yield started


@pytest.fixture
def site(tmp_path: Path, spoolman: SpoolmanStandIn, plug: TasmotaPlug) -> Iterator[RunningSite]:
    with running_site(tmp_path, 2, time_factor=20) as started:
        # The site's Spoolman, as `fabfleet render` would write it into the hub's fleet.json.
        fleet_file = started.demo.workdir / "hub" / "fleet.json"
        fleet = json.loads(fleet_file.read_text())
        fleet["site"]["spoolman"] = {"url": spoolman.url, "low_grams": 100}
        # demo-1 on a Tasmota plug the hub never switches off by itself.
        fleet["printers"][0]["power"] = {
            "type": "tasmota", "host": plug.url.removeprefix("http://"), "auto_off": False,
        }  # fmt: skip
        fresh = fleet_file.with_suffix(".tmp")
        fresh.write_text(json.dumps(fleet))
        fresh.replace(fleet_file)
        admin = SiteClient(started)
        for printer in started.printers:
            loaded = admin.call("PUT", f"/api/printers/{printer}/spools/0",
                                {"spool_id": NEARLY_EMPTY})  # fmt: skip
            assert loaded.status_code == 200, loaded.text
        yield started


def test_the_printer_page_says_what_holds_a_print_and_an_admin_overrides_it(
    site: RunningSite, page: Page
) -> None:
    admin = SiteClient(site)
    admin.upload("demo-1", "tiny-part.gcode", TINY_GCODE)
    page.context.add_cookies(admin.browser_cookies())
    page.goto(f"{site.url}/printers/demo-1/")
    expect(page.locator("#state")).to_have_text("Ready")
    page.locator("#files li[data-name='tiny-part.gcode']").get_by_role(
        "button", name="Print"
    ).click()
    page.locator("#confirm-yes").click()
    held = page.locator("#held")
    expect(held).to_be_visible()
    expect(held.locator("#held-text")).to_have_text(
        "tiny-part.gcode did not start: the dispatch check holds it."
    )
    item = held.locator("li[data-item=spool]")
    expect(item).to_contain_text("Prusament PLA Galaxy Black")
    expect(item).to_contain_text("2.0 g left")
    expect(page.locator("#state")).to_have_text("Ready")
    assert_accessible(page, "printer page, print held")
    both_sizes(page, "dispatch-held-printer-page")
    item.get_by_role("button", name="Override spool and print").click()
    expect(page.locator("#state")).to_have_text("Printing", timeout=20_000)
    expect(held).to_be_hidden()
    entries = admin.call("GET", "/api/audit?action=dispatch%20override").json()["entries"]
    assert any("spool for tiny-part.gcode" in e["detail"] for e in entries)


def test_the_queue_page_says_why_an_entry_waits_and_an_admin_overrides_it(
    site: RunningSite, page: Page, tmp_path: Path
) -> None:
    admin = SiteClient(site)
    page.context.add_cookies(admin.browser_cookies())
    page.goto(f"{site.url}/#queue")
    form = page.locator("#queue form")
    expect(form).to_be_visible()
    part = tmp_path / "tiny-part.gcode"
    part.write_text(TINY_GCODE)
    form.locator("input[name=file]").set_input_files(str(part))
    form.locator("select[name=target]").select_option("printer:demo-2")
    form.locator("button[type=submit]").click()
    row = page.locator("#queue tbody tr[data-entry]").first
    why = row.locator(".queue-why li[data-code=spool]")
    expect(why).to_contain_text("2.0 g left but the job needs", timeout=20_000)
    expect(row).to_have_attribute("data-state", "queued")
    assert_accessible(page, "queue page, entry held by its spool")
    both_sizes(page, "dispatch-held-queue")
    why.get_by_role("button", name="Override spool").click()
    expect(row).not_to_have_attribute("data-state", "queued", timeout=30_000)
    entries = admin.call("GET", "/api/queue").json()["entries"]
    assert entries[0]["overrides"] == {"spool": "admin"}
    assert entries[0]["state"] in ("sent", "printing", "done")


def test_the_printer_page_shows_its_power_and_spool_and_switches_the_power(
    site: RunningSite, page: Page, plug: TasmotaPlug
) -> None:
    admin = SiteClient(site)
    page.context.add_cookies(admin.browser_cookies())
    page.goto(f"{site.url}/printers/demo-1/")
    panel = page.locator("#farm-panel")
    expect(panel).to_be_visible(timeout=20_000)
    # The hub reads a new plug within its poll; the page asks again every 15 s.
    expect(panel.locator(".farm-power")).to_contain_text("Power: on", timeout=40_000)
    expect(panel.locator(".farm-spool")).to_contain_text("Prusament PLA Galaxy Black")
    expect(panel.locator(".farm-spool .farm-warning")).to_contain_text("Low spool: 2 g left")
    assert_accessible(page, "printer page, power and spool")
    both_sizes(page, "printer-page-power-and-spool")
    panel.get_by_role("button", name="Switch off").click()
    expect(panel.locator(".farm-power")).to_contain_text("Power: off", timeout=20_000)
    assert plug.power == [False]
    entries = admin.call("GET", "/api/audit?action=power%20off").json()["entries"]
    assert entries and entries[0]["user"] == "admin"
