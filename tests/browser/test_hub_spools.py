"""Spools on the hub's dashboard in a real Chromium (docs/spools.md): a real hub and a
Spoolman stand-in that follows Spoolman's OpenAPI document (tests/hub/spoolman_stand_in.py).
An admin loads a spool from a printer's card, sees what is left and the low-spool warning,
and is told when Spoolman does not answer; a viewer sees the spool but cannot change it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.db import open_database
from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.site import PHONE
from tests.hub.conftest import (  # noqa: F401  (fixtures)
    HubProcess,
    SimulatedFleet,
    simulated_printers,
    start_hub,
)
from tests.hub.spoolman_stand_in import SpoolmanStandIn, StandInSpool

pytestmark = pytest.mark.timeout(180)
PASSWORD = "a long enough password"


@pytest.fixture
def spoolman() -> Iterator[SpoolmanStandIn]:
    stand_in = SpoolmanStandIn()
    stand_in.add(StandInSpool(12, "Prusament", "PLA Galaxy Black", "PLA"))
    stand_in.add(StandInSpool(14, "Polymaker", "PolyTerra Charcoal", "PLA", used_weight=950.0))
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def hub(
    simulated_printers: Callable[..., SimulatedFleet],  # noqa: F811
    start_hub: Callable[..., HubProcess],  # noqa: F811
    spoolman: SpoolmanStandIn,
) -> HubProcess:
    """Printers that answer (an unreachable printer's card is greyed out on purpose)."""
    fleet: dict[str, Any] = simulated_printers(2).fleet()
    fleet["site"]["spoolman"] = {"url": spoolman.url, "low_grams": 100}
    started = start_hub(fleet)
    db = open_database(started.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
        create_user(db, "vera", PASSWORD, "viewer", Grants(printers=frozenset({"demo-1"})))
    finally:
        db.close()
    return started


def log_in(page: Page, hub: HubProcess, user: str) -> None:
    page.goto(hub.url)
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#dashboard .fleet-toolbar")).to_be_visible()


def test_an_admin_loads_a_spool_from_the_card_and_sees_it_run_low(
    hub: HubProcess, spoolman: SpoolmanStandIn, page: Page
) -> None:
    log_in(page, hub, "ada")
    one = page.locator('.printer-card[data-printer="demo-1"]')
    expect(one.locator(".spool-line")).to_have_text("No spool loaded")

    one.get_by_text("Change spool").click()
    choice = one.get_by_label("Spool in demo-1")
    expect(choice.locator("option")).to_have_count(3)
    expect(choice.locator("option").nth(2)).to_have_text(
        "Polymaker PolyTerra Charcoal #14 · PLA · 50 g left"
    )
    assert_accessible(page, "dashboard with the spool picker open")
    choice.select_option("14")
    one.get_by_role("button", name="Load spool").click()

    expect(one.locator(".spool-name")).to_have_text("Polymaker PolyTerra Charcoal #14")
    expect(one.locator(".spool-left")).to_have_text(" · 50 g left")
    low = one.locator(".spool-low")
    expect(low).to_be_visible()
    expect(low).to_have_text("Low spool: 50 g left (warning below 100 g)")
    # The other card is untouched.
    two = page.locator('.printer-card[data-printer="demo-2"]')
    expect(two.locator(".spool-line")).to_have_text("No spool loaded")
    assert_accessible(page, "dashboard with a low spool")
    screenshot(page, "hub-spools-low")

    # A full spool instead: no warning.
    one.get_by_text("Change spool").click()
    one.get_by_label("Spool in demo-1").select_option("12")
    one.get_by_role("button", name="Load spool").click()
    expect(one.locator(".spool-left")).to_have_text(" · 1000 g left")
    expect(one.locator(".spool-low")).to_have_count(0)

    # Spoolman gone: the picker says so where the operator looks.
    spoolman.stop()
    two.get_by_text("Change spool").click()
    expect(two.locator(".spool-notice")).to_have_text(
        re.compile(rf"^Spoolman at {re.escape(spoolman.url)} does not answer")
    )
    spoolman.start()

    # A viewer sees the loaded spool, on a phone too, but cannot change it.
    viewer = page.context.browser.new_page(viewport=PHONE)  # type: ignore[union-attr, arg-type]
    try:
        log_in(viewer, hub, "vera")
        seen = viewer.locator('.printer-card[data-printer="demo-1"]')
        expect(seen.locator(".spool-name")).to_have_text("Prusament PLA Galaxy Black #12")
        expect(seen.get_by_text("Change spool")).to_have_count(0)
        expect(viewer.locator(".printer-card")).to_have_count(1)
        assert_accessible(viewer, "a viewer's dashboard with a spool, phone")
    finally:
        viewer.close()
