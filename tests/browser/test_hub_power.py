"""The dashboard's power button in a real Chromium: a real hub, a real print server on a
simulated Marlin, and a Tasmota plug stand-in (tests/hub/power_stand_ins.py) as its power
device. An operator sees the power state, is told on the card why it stays on while the
hotend heats, and switches it off once it may be, then on again."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from tests.browser.axe_check import assert_accessible
from tests.hub.conftest import (  # noqa: F401  (fixtures)
    HubProcess,
    SimulatedFleet,
    simulated_printers,
    start_hub,
)
from tests.hub.power_stand_ins import TasmotaPlug, serving
from tests.hub.test_power_api import python_path

pytestmark = pytest.mark.timeout(240)
PASSWORD = "a long enough password"


@pytest.fixture
def plug() -> Iterator[TasmotaPlug]:
    with serving(TasmotaPlug(power=[True])) as found:
        assert isinstance(found, TasmotaPlug)
        yield found


def test_an_operator_switches_a_printer_off_from_its_card(
    plug: TasmotaPlug,
    simulated_printers: Callable[..., SimulatedFleet],  # noqa: F811
    start_hub: Callable[..., HubProcess],  # noqa: F811
    page: Page,
) -> None:
    printers = simulated_printers(1, time_factor=5)
    power = {"type": "tasmota", "host": plug.url.removeprefix("http://"), "auto_off": False}
    fleet = printers.fleet(**{"demo-1": {"power": power}})
    fleet["site"]["power"] = {"hotend_off_below": 100}
    hub = start_hub(fleet, extra_env=python_path())
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "olga", PASSWORD, "operator", Grants(printers=frozenset({"demo-1"})))
    finally:
        db.close()
    key = read_master_key(hub.gate_key_file)

    def on_printer(path: str, body: dict[str, Any] | None = None) -> None:
        headers = {HEADER: identity_for(key, "demo-1", "test", True)}
        url = printers.printers[0].url + path
        assert requests.post(url, json=body, headers=headers, timeout=10).status_code == 202

    page.goto(hub.url)
    page.fill("#username", "olga")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    card = page.locator('.printer-card[data-printer="demo-1"]')
    expect(card.locator(".state-badge")).to_have_text("Ready")
    expect(card.locator(".power-state")).to_have_text("On")
    button = card.get_by_role("button", name="Switch off")
    expect(button).to_be_visible()
    assert_accessible(page, "the dashboard with a power button")

    on_printer("api/v1/control/temperature", {"hotend": 160})
    expect(card.locator(".hotend")).to_have_text(re.compile(r"/ 160 °C"))
    button.click()
    expect(card.locator(".power-notice")).to_have_text(
        "demo-1 stays on: not now: hotend heating to 160 °C"
    )
    assert plug.power == [True]
    assert_accessible(page, "the dashboard with a power button")

    on_printer("api/v1/control/cool-down")
    expect(card.locator(".hotend")).to_have_text(re.compile(r"^\d+ °C$"))
    page.wait_for_function(
        "() => parseInt(document.querySelector('[data-printer=\"demo-1\"] .hotend')"
        ".textContent) < 95",
        timeout=60000,
    )
    button.click()
    expect(card.locator(".power-state")).to_have_text("Off")
    expect(card.locator(".power-notice")).to_have_text("")
    assert plug.power == [False]
    card.get_by_role("button", name="Switch on").click()
    expect(card.locator(".power-state")).to_have_text("On")
    assert plug.power == [True]
