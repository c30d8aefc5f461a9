"""The printer's page while a print runs: finish time, layer, speed, flow, babysteps,
material presets and a terminal that does not drown in temperature reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.axe_check import serious_violations
from tests.browser.conftest import screenshot
from tests.browser.printer_page_checks import watch_console
from tests.web.server import Served, gcode_head, running_server

pytestmark = pytest.mark.timeout(240)

PART = gcode_head("cube_prusa_marlin2.gcode", 6000)
NOTHING = "\N{EN DASH}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """No API key; 10 ms moves, so a print keeps running while the test acts."""
    with running_server(tmp_path, key=None, sim_args=("--fault", "slow_planner:delay=0.01")) as s:
        yield s


def printing(served: Served, page: Page) -> None:
    assert served.upload("part.gcode", PART, path="/api/v1/files").status_code == 201
    assert served.post("/api/v1/job", json={"file": "part.gcode"}).status_code == 201
    page.goto(served.url + "/")
    expect(page.locator("#state")).to_have_text("Printing", timeout=20_000)


def test_tune_a_running_print_and_see_when_it_finishes(served: Served, page: Page) -> None:
    errors = watch_console(page)
    printing(served, page)
    expect(page.locator("#remaining")).not_to_have_text(NOTHING, timeout=20_000)
    expect(page.locator("#finish")).to_have_text(re.compile(r"\d{1,2}:\d{2}"))
    job = served.get("/api/v1/printer").json()["job"]
    if job.get("layer") is None and job.get("z") is None:
        expect(page.locator("#layer")).to_have_text(NOTHING)
    else:
        expect(page.locator("#layer")).to_contain_text(re.compile(r"\d+ / \d+|Z \d+\.\d\d mm"))
    expect(page.locator("[data-jog='x+']")).to_be_disabled()

    speed = page.get_by_label("Speed")
    speed.fill("120")
    page.get_by_role("button", name="Set speed").click()
    page.get_by_label("Flow").fill("95")
    page.get_by_label("Flow").press("Enter")
    page.get_by_role("button", name="Babystep Z up 0.05 mm").click()
    expect(page.locator("#babystep-total")).to_have_text("+0.05 mm")
    page.get_by_role("button", name="Babystep Z down 0.01 mm").click()
    expect(page.locator("#babystep-total")).to_have_text("+0.04 mm")
    served.wait_for(lambda: "M290 Z-0.01" in served.sim.executed())
    executed = served.sim.executed()
    assert {"M220 S120", "M221 S95", "M290 Z0.05"} <= set(executed)
    overrides = served.get("/api/v1/printer").json()["overrides"]
    assert overrides == {"feed_percent": 120, "flow_percent": 95, "babystep_z_mm": 0.04}
    assert served.state() == "printing"
    # The next state message keeps what was set (the fields are not reset under the user).
    page.wait_for_timeout(1500)
    expect(speed).to_have_value("120")
    screenshot(page, "tune-01-printing")
    assert serious_violations(page) == []
    assert errors == []


def test_a_material_preset_preheats_hotend_and_bed(served: Served, page: Page) -> None:
    errors = watch_console(page)
    page.goto(served.url + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    presets = served.get("/api/v1/printer").json().get("presets") or [
        {"name": "PLA", "hotend": 210, "bed": 60}
    ]
    first = presets[0]
    button = page.locator("#presets button").first
    expect(button).to_have_text(f"{first['name']} {first['hotend']}/{first['bed']} °C")
    button.click()

    def heating() -> bool:
        heaters = served.get("/api/v1/printer").json()["heaters"]
        return (heaters["T0"]["target"], heaters["B"]["target"]) == (first["hotend"], first["bed"])

    served.wait_for(heating)
    expect(page.locator("#hotend-target")).to_have_value(str(first["hotend"]))
    assert errors == []


def visible_kinds(page: Page) -> dict[str, int]:
    counts: dict[str, int] = page.evaluate(
        """() => {
          const counts = {temperature: 0, ok: 0, other: 0};
          for (const line of document.querySelectorAll('#terminal div')) {
            if (line.offsetParent !== null) counts[line.dataset.kind || 'other'] += 1;
          }
          return counts;
        }"""
    )
    return counts


def test_the_terminal_hides_temperatures_and_oks_and_follows_unless_scrolled_up(
    served: Served, page: Page
) -> None:
    errors = watch_console(page)
    printing(served, page)
    page.get_by_label("G-code command").fill("M105")
    page.get_by_role("button", name="Send").click()
    terminal = page.locator("#terminal")
    expect(terminal.locator("div[data-kind='temperature']").first).to_be_attached()
    expect(terminal.locator("div[data-kind='ok']").first).to_be_attached()
    shown = visible_kinds(page)
    assert shown["temperature"] == 0 and shown["ok"] == 0 and shown["other"] > 0, shown

    page.get_by_label("Hide temperature reports").uncheck()
    page.get_by_label("Hide ok").uncheck()
    shown = visible_kinds(page)
    assert shown["temperature"] > 0 and shown["ok"] > 0, shown
    screenshot(page, "tune-02-terminal-everything")
    page.get_by_label("Hide temperature reports").check()
    page.get_by_label("Hide ok").check()

    at_bottom = "(t) => t.scrollTop + t.clientHeight >= t.scrollHeight - 4"
    page.wait_for_function(
        f"() => ({at_bottom})(document.querySelector('#terminal'))"
        " && document.querySelector('#terminal').scrollHeight"
        " > document.querySelector('#terminal').clientHeight"
    )
    # Scrolled up to read: the view stays where the user put it while lines arrive.
    terminal.evaluate("(t) => { t.scrollTop = 0; }")
    expect(page.get_by_label("Autoscroll")).not_to_be_checked()
    before = terminal.evaluate("(t) => t.lastElementChild.textContent")
    page.wait_for_function(
        "(before) => document.querySelector('#terminal').lastElementChild.textContent !== before",
        arg=before,
    )
    assert terminal.evaluate("(t) => t.scrollTop") == 0
    page.get_by_label("Autoscroll").check()
    page.wait_for_function(f"() => ({at_bottom})(document.querySelector('#terminal'))")
    screenshot(page, "tune-03-terminal-filtered")
    assert errors == []
