"""axe-core on every page of the demo stack, at desktop and phone sizes.

The hub's login page and each of its sections, a printer's page idle, printing
and waiting for its bed to be cleared, and the pages a browser gets when it may
not see a printer or asks for one that does not exist: no violation of impact
serious or critical (WCAG A/AA, contrast, labels, landmarks ...). Each page is
also saved as a screenshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.layout import overflow
from tests.browser.site import (
    PASSWORD,
    SIZES,
    ConsoleWatch,
    RunningSite,
    SiteClient,
    running_site,
)

pytestmark = pytest.mark.timeout(300)

# Every section the hub's page names in its navigation must be among these (a new
# one is found below and fails until it is added here).
HUB_SECTIONS = ["dashboard", "queue", "history", "audit", "users", "notifications", "keys"]
IDLE, PRINTING, DONE = "demo-1", "demo-2", "demo-3"


@dataclass
class Lab:
    site: RunningSite
    admin: SiteClient
    operator: SiteClient


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Three printers: one idle, one printing a long part, one done and waiting for its bed."""
    with running_site(tmp_path_factory.mktemp("a11y"), 3, time_factor=20) as site:
        admin = SiteClient(site)
        admin.add_user("olga", "operator", [IDLE])
        admin.start_print(PRINTING, "cube_slic3r.gcode")
        admin.print_to_end(DONE)
        assert admin.printer(DONE)["bed_clear"] is False
        assert admin.printer(PRINTING)["state"] in ("printing", "pausing", "paused")
        yield Lab(site, admin, SiteClient(site, "olga", PASSWORD))


def still_printing(lab: Lab) -> None:
    """The long part takes a minute or two at time factor 20; on a busy machine the module
    outlasts it. Then the printing page is checked on its next print, not on a finished one."""
    if lab.admin.printer(PRINTING)["state"] in ("printing", "pausing", "paused"):
        return
    lab.admin.wait_for_state(PRINTING, "finished", "bed not cleared", "ready")
    cleared = lab.admin.call("POST", f"/printers/{PRINTING}/api/v1/bed/clear")
    assert cleared.status_code == 200, cleared.text
    lab.admin.start_print(PRINTING, "cube_slic3r.gcode")
    lab.admin.wait_for_state(PRINTING, "printing")


def open_as(browser: Browser, size: str, client: SiteClient | None) -> Page:
    """A fresh tab of ``size`` with ``client``'s session (or none)."""
    context = browser.new_context(viewport=SIZES[size])  # type: ignore[arg-type]
    if client is not None:
        context.add_cookies(client.browser_cookies())
    return context.new_page()


def fits(page: Page, name: str) -> None:
    """No horizontal page scroll (a 360 px phone included)."""
    wider = overflow(page)
    assert wider <= 0, f"{name}: the page is {wider} px wider than its window"


def check(page: Page, watch: ConsoleWatch, name: str) -> None:
    screenshot(page, f"a11y-{name}")
    assert_accessible(page, name)
    fits(page, name)
    assert watch.errors == [], watch.errors


@pytest.fixture(params=sorted(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_hub_names_only_the_sections_checked_here(lab: Lab, browser: Browser) -> None:
    page = open_as(browser, "desktop", lab.admin)
    try:
        page.goto(lab.site.url + "/")
        expect(page.locator("#dashboard")).to_be_visible()
        named = page.locator("a[data-section]").evaluate_all(
            "links => links.map(link => link.dataset.section)"
        )
        assert set(named) <= set(HUB_SECTIONS), f"new sections to check: {named}"
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("path", "said"),
    [("/login", None), (f"/login?reason=expired&next=/printers/{IDLE}/", "session has expired")],
    ids=["login", "login-expired"],
)
def test_login_page(lab: Lab, browser: Browser, size: str, path: str, said: str | None) -> None:
    page, watch = open_as(browser, size, None), ConsoleWatch()
    watch.watch(page)
    page.goto(lab.site.url + path)
    expect(page.get_by_label("User name")).to_be_visible()
    if said is not None:
        expect(page.get_by_role("status")).to_contain_text(said)
    name = "login-expired" if said else "login"
    check(page, watch, f"{name}-{size}")
    page.context.close()


@pytest.mark.parametrize("section", HUB_SECTIONS)
def test_hub_section(lab: Lab, browser: Browser, size: str, section: str) -> None:
    page, watch = open_as(browser, size, lab.admin), ConsoleWatch()
    watch.watch(page)
    page.goto(f"{lab.site.url}/#{section}")
    expect(page.locator(f"#{section}")).to_be_visible()
    page.wait_for_load_state("networkidle")
    check(page, watch, f"hub-{section}-{size}")
    page.context.close()


@pytest.mark.parametrize("where", ["/", f"/printers/{IDLE}/"], ids=["hub", "printer"])
def test_phone_menu_open(lab: Lab, browser: Browser, where: str) -> None:
    """The shared header's menu, opened on a phone, over the hub and over a printer."""
    page, watch = open_as(browser, "phone", lab.admin), ConsoleWatch()
    watch.watch(page)
    page.goto(lab.site.url + where)
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Queue")).to_be_visible()
    name = "hub" if where == "/" else "printer"
    check(page, watch, f"menu-open-{name}-phone")
    page.context.close()


def test_camera_wall(lab: Lab, browser: Browser, size: str) -> None:
    page, watch = open_as(browser, size, lab.admin), ConsoleWatch()
    watch.watch(page)
    page.goto(f"{lab.site.url}/#dashboard")
    page.get_by_role("button", name="Cameras").click()
    expect(page.get_by_role("button", name="Printer cards")).to_be_visible()
    page.wait_for_load_state("networkidle")
    check(page, watch, f"hub-camera-wall-{size}")
    page.context.close()


@pytest.mark.parametrize("section", ["users", "audit", "notifications"])
def test_admin_section_as_operator(lab: Lab, browser: Browser, size: str, section: str) -> None:
    """An operator who opens an admin's section gets a page that says something."""
    page, watch = open_as(browser, size, lab.operator), ConsoleWatch()
    watch.watch(page)
    page.goto(f"{lab.site.url}/#{section}")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("main")).not_to_have_text(re.compile(r"^\s*$"))
    check(page, watch, f"hub-{section}-as-operator-{size}")
    page.context.close()


@pytest.mark.parametrize(("printer", "shown"), [(IDLE, "idle"), (PRINTING, "printing"),
                                                 (DONE, "bed-not-cleared")])  # fmt: skip
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_printer_page(
    lab: Lab, browser: Browser, size: str, printer: str, shown: str, scheme: str
) -> None:
    if shown == "printing":
        still_printing(lab)
    page, watch = open_as(browser, size, lab.admin), ConsoleWatch()
    watch.watch(page)
    # The shared header follows the system's dark mode; the page under it must still pass.
    page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")
    page.goto(f"{lab.site.url}/printers/{printer}/")
    expect(page.locator("#link")).to_have_text("live")
    if shown == "bed-not-cleared":
        expect(page.get_by_role("button", name="Bed is clear")).to_be_visible()
    if shown == "printing":
        printing = page.get_by_role("status").filter(has_text=re.compile(r"^\s*printing\s*$", re.I))
        expect(printing.first).to_be_visible()
    page.wait_for_load_state("networkidle")
    check(page, watch, f"printer-{shown}-{size}" + ("-dark" if scheme == "dark" else ""))
    page.context.close()


@pytest.mark.parametrize(("path", "status"), [(f"/printers/{PRINTING}/", 403),
                                              ("/printers/no-such-printer/", 403),
                                              ("/no-such-page", 404)])  # fmt: skip
def test_error_page(lab: Lab, browser: Browser, size: str, path: str, status: int) -> None:
    """What an operator's browser gets for a printer not theirs, or an address that is none."""
    page = open_as(browser, size, lab.operator)
    answer = page.goto(lab.site.url + path)
    assert answer is not None and answer.status == status
    assert "text/html" in answer.headers.get("content-type", ""), answer.headers
    name = path.strip("/").replace("/", "-")
    screenshot(page, f"a11y-error-{name}-{size}")
    assert_accessible(page, f"error page {path} ({size})")
    fits(page, f"error page {path} ({size})")
    page.context.close()
