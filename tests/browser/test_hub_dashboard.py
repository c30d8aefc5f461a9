"""The hub's dashboard in a real Chromium: a real hub, real print servers on simulated Marlins."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from hub.app import schemas
from hub.auth.accounts import create_user, set_password
from hub.auth.rights import Grants
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from instance.analysis.thumbnails import png_rgba
from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.layout import overflow
from tests.browser.site import DESKTOP, PHONE
from tests.hub.conftest import (  # noqa: F401  (fixtures)
    HubProcess,
    SimulatedFleet,
    printer_entry,
    simulated_printers,
    start_hub,
    unused_port,
)

pytestmark = pytest.mark.timeout(240)
PASSWORD = "a long enough password"


@dataclass
class Fleet:
    hub: HubProcess
    printers: SimulatedFleet
    key: bytes

    def on_printer(self, name: str, path: str, body: dict[str, Any] | None = None) -> int:
        """POST to a print server directly, signed as the hub signs."""
        url = next(p.url for p in self.printers.printers if p.name == name)
        headers = {HEADER: identity_for(self.key, name, "test", True)}
        return requests.post(url + path, json=body, headers=headers, timeout=10).status_code


@pytest.fixture
def fleet(
    simulated_printers: Callable[..., SimulatedFleet],  # noqa: F811
    start_hub: Callable[..., HubProcess],  # noqa: F811
) -> Fleet:
    """Printers first, so the hub stops first (a print server stops faster without it)."""
    printers = simulated_printers(3, time_factor=20)
    extra: dict[str, dict[str, Any]] = {
        "demo-1": {"groups": ["lab"], "tags": ["pla"]},
        "demo-2": {"groups": ["lab"], "tags": ["petg"], "camera": "cam1"},
        "demo-3": {"groups": ["office"], "tags": ["pla"]},
    }
    fleet_file = printers.fleet(**extra)
    fleet_file["printers"].append(
        printer_entry("ghost", f"http://127.0.0.1:{unused_port()}", groups=["office"])
    )
    fleet_file["cameras"] = [{"name": "cam1", "path": "/cameras/cam1/", "upstream": "x"}]
    assert printers.demo is not None
    key_file = printers.demo.workdir / "secrets" / "gate.key"
    hub = start_hub(fleet_file, extra_env={"FABFLEET_GATE_KEY_FILE": str(key_file)})
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
        create_user(db, "vera", PASSWORD, "viewer", Grants(groups=frozenset({"lab"})))
    finally:
        db.close()
    return Fleet(hub, printers, read_master_key(key_file))


def open_dashboard(page: Page, fleet: Fleet, user: str) -> None:
    """Log in through the login form; the hub's page opens on the dashboard."""
    page.goto(fleet.hub.url)
    expect(page.locator("#login")).to_be_visible()
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#dashboard .fleet-toolbar")).to_be_visible()


def card(page: Page, name: str) -> Any:
    return page.locator(f'.printer-card[data-printer="{name}"]')


def percent(page: Page, name: str) -> float:
    text = card(page, name).locator(".progress-value").inner_text()
    match = re.match(r"([\d.]+) %", text)
    return float(match.group(1)) if match else 0.0


def test_an_admin_watches_the_fleet_live_filters_it_and_clears_a_bed(fleet: Fleet, page: Page):
    open_dashboard(page, fleet, "ada")
    expect(page.locator(".printer-card")).to_have_count(4)
    for name in ("demo-1", "demo-2", "demo-3"):
        expect(card(page, name).locator(".state-badge")).to_have_text("Ready")
    expect(card(page, "demo-1").locator(".hotend")).to_have_text(re.compile(r"^\d+ °C$"))
    expect(card(page, "demo-1").locator(".printer-name")).to_have_attribute(
        "href", "/printers/demo-1/"
    )
    ghost = card(page, "ghost")
    expect(ghost.locator(".state-badge")).to_have_text("Unreachable")
    expect(ghost.locator(".printer-message")).to_have_text("The print server does not answer.")
    expect(page.locator(".fleet-summary")).to_have_text("4 printers · 1 unreachable")
    expect(page.locator(".fleet-live")).to_have_text("live")
    # The camera's picture comes through the proxy, fresh each time.
    picture = card(page, "demo-2").locator("img.camera-snapshot")
    expect(picture).to_have_attribute("src", re.compile(r"^/cameras/cam1/snapshot\?t=\d+$"))
    assert card(page, "demo-1").locator("img.camera-snapshot").count() == 0

    # A print started on the printer's own server shows up and moves.
    assert fleet.on_printer("demo-1", "api/v1/job", {"file": "cube_slic3r.gcode"}) == 201
    printing = card(page, "demo-1")
    expect(printing.locator(".state-badge")).to_have_text("Printing")
    expect(printing.locator(".job-file")).to_have_text("cube_slic3r.gcode")
    expect(printing.locator(".hotend")).to_have_text(re.compile(r"/ 200 °C"))
    page.wait_for_function(
        "() => parseFloat(document.querySelector('[data-printer=\"demo-1\"] .progress-value')"
        ".textContent) > 0.5",
        timeout=20000,
    )
    first = percent(page, "demo-1")
    time.sleep(1.5)
    assert percent(page, "demo-1") > first
    expect(printing.locator(".job-eta")).to_have_text(re.compile(r"ETA \d\d:\d\d"))
    screenshot(page, "hub-dashboard-01-printing")

    # Filters: by group, by state, by text.
    page.select_option(".filter-group", "office")
    expect(page.locator(".printer-card:visible")).to_have_count(2)
    expect(card(page, "demo-3")).to_be_visible()
    expect(card(page, "demo-1")).to_be_hidden()
    expect(page.locator(".fleet-summary")).to_contain_text("2 of 4 printers")
    page.select_option(".filter-group", "")
    page.select_option(".filter-state", "printing")
    expect(page.locator(".printer-card:visible")).to_have_count(1)
    expect(card(page, "demo-1")).to_be_visible()
    page.select_option(".filter-state", "")
    page.fill(".filter-text", "petg")
    expect(page.locator(".printer-card:visible")).to_have_count(1)
    expect(card(page, "demo-2")).to_be_visible()
    page.fill(".filter-text", "")
    expect(page.locator(".printer-card:visible")).to_have_count(4)

    # A cancelled print leaves the bed to be cleared: the admin confirms it from here.
    assert fleet.on_printer("demo-1", "api/v1/job/cancel") == 202
    expect(printing.locator(".state-badge")).to_have_text("Bed not cleared", timeout=15000)
    button = printing.locator("button.bed-clear")
    expect(button).to_have_text("Confirm bed clear")
    screenshot(page, "hub-dashboard-02-bed-not-cleared")
    button.click()
    expect(printing.locator(".state-badge")).to_have_text("Ready")
    expect(button).to_have_count(0)
    assert page.locator("button").filter(has_text="Confirm bed clear").count() == 0


def test_a_viewer_sees_cards_but_no_actions_and_the_hub_refuses_them(fleet: Fleet, page: Page):
    assert fleet.on_printer("demo-2", "api/v1/job", {"file": "cube_slic3r.gcode"}) == 201
    time.sleep(1)
    assert fleet.on_printer("demo-2", "api/v1/job/cancel") == 202
    open_dashboard(page, fleet, "vera")
    expect(page.locator(".printer-card")).to_have_count(2)
    expect(card(page, "demo-3")).to_have_count(0)
    expect(card(page, "demo-2").locator(".state-badge")).to_have_text(
        "Bed not cleared", timeout=15000
    )
    expect(card(page, "demo-1").locator(".state-badge")).to_have_text("Ready")
    expect(page.locator(".printer-card button")).to_have_count(0)
    screenshot(page, "hub-dashboard-03-viewer")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "fabfleet_csrf")
    answer = page.request.post(
        fleet.hub.url + "api/printers/demo-2/bed-clear", headers={"X-CSRF-Token": csrf}
    )
    assert answer.status == 403
    assert "vera" in answer.json()["error"]
    expect(card(page, "demo-2").locator(".state-badge")).to_have_text("Bed not cleared")


def test_the_dashboard_follows_a_print_server_going_away_and_coming_back(fleet: Fleet, page: Page):
    open_dashboard(page, fleet, "ada")
    demo_3 = card(page, "demo-3")
    expect(demo_3.locator(".state-badge")).to_have_text("Ready")
    assert fleet.printers.demo is not None
    server = next(
        p
        for p in fleet.printers.demo.processes
        if "demo-3" in [str(a) for a in p.args] and "fabfleet-instance" in str(p.args[0])  # type: ignore[index, union-attr]
    )
    server.kill()
    server.wait()
    expect(demo_3.locator(".state-badge")).to_have_text("Unreachable", timeout=30_000)
    expect(demo_3).to_have_attribute("data-kind", "off")
    expect(page.locator(".fleet-summary")).to_have_text("4 printers · 2 unreachable")
    # The hub goes on: the other printers still change on the page.
    assert fleet.on_printer("demo-1", "api/v1/control/temperature", {"hotend": 77}) == 202
    expect(card(page, "demo-1").locator(".hotend")).to_have_text(re.compile(r"/ 77 °C"))


def test_on_a_phone_the_cards_fit_the_screen(fleet: Fleet, browser: Browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    page = context.new_page()
    try:
        open_dashboard(page, fleet, "ada")
        expect(page.locator(".printer-card")).to_have_count(4)
        expect(card(page, "demo-1").locator(".state-badge")).to_have_text("Ready")
        overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        boxes = [card(page, n).bounding_box() for n in ("demo-1", "demo-2")]
        assert boxes[0] is not None and boxes[1] is not None
        assert boxes[0]["width"] > 300  # one column, full width
        assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1
        screenshot(page, "hub-dashboard-04-phone")
    finally:
        context.close()


def test_when_the_session_ends_the_dashboard_goes_to_the_login_page(fleet: Fleet, page: Page):
    open_dashboard(page, fleet, "ada")
    expect(card(page, "demo-1").locator(".state-badge")).to_have_text("Ready")
    # A new password ends every session of the user; the stream notices and closes.
    db = open_database(fleet.hub.data_dir / "hub.sqlite", schemas())
    try:
        set_password(db, "ada", "another long password")
    finally:
        db.close()
    expect(page.locator(".fleet-live")).to_have_text("reconnecting…", timeout=15000)
    expect(page.locator("#login")).to_be_visible(timeout=15000)


def test_the_camera_wall_shows_each_camera_the_user_may_watch(fleet: Fleet, browser: Browser):
    """Only demo-2 has a camera here; vera may watch the lab (demo-1, demo-2)."""
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        look_at_the_camera_wall(fleet, browser, size, viewport)


def look_at_the_camera_wall(fleet: Fleet, browser: Browser, size: str, viewport: Any) -> None:
    picture = png_rgba(4, 3, bytes([30, 90, 160, 255]) * 12)
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    asked: list[str] = []

    def snapshot(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, body=picture, content_type="image/png")

    # The camera's stand-in: nginx would pass this to the camera's stream.
    page.route("**/cameras/*/snapshot*", snapshot)
    try:
        open_dashboard(page, fleet, "vera")
        toggle = page.get_by_role("button", name="Cameras")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        toggle.click()
        wall = page.get_by_label("Camera wall")
        expect(wall).to_be_visible()
        expect(page.locator(".fleet-grid")).to_be_hidden()
        tiles = wall.locator("a.wall-tile")
        expect(tiles).to_have_count(1)
        tile = tiles.first
        expect(tile).to_have_attribute("href", "/printers/demo-2/")
        expect(tile.locator(".wall-name")).to_have_text("demo-2")
        expect(tile.locator(".state-badge")).to_have_text("Ready")
        expect(tile.locator("img")).to_have_attribute("alt", "demo-2: camera cam1")
        page.wait_for_function("() => document.querySelector('.wall-snapshot').naturalWidth === 4")
        # Refreshed every few seconds while shown.
        seen = len(asked)
        deadline = time.monotonic() + 30
        while len(asked) <= seen:
            assert time.monotonic() < deadline, asked
            page.wait_for_timeout(250)
        assert overflow(page) <= 0
        box = tile.bounding_box()
        assert box is not None
        if size == "phone":
            assert box["width"] > 300  # one column, the screen's width
        screenshot(page, f"hub-dashboard-05-camera-wall-{size}")
        assert_accessible(page, f"camera wall ({size})")
        # Back to the cards (a tile is a link to the printer's page, above).
        page.get_by_role("button", name="Printer cards").click()
        expect(page.locator(".fleet-grid")).to_be_visible()
        expect(wall).to_be_hidden()
        assert errors == [], errors
    finally:
        context.close()
