"""Issue 13: a browser that may not open a page gets a page, never raw JSON — through the real
nginx of the stack's template (tests/hub/local_site.py: demo-1 with camera cam1, demo-2).

A browser's navigation (Accept: text/html) gets "Not allowed" (403) with who is logged in,
"Not found" (404) for the hub's own pages, and the login page (302 with ``next=``, saying
when a session expired) for a 401; scripts and API clients keep the JSON ``{"error": ...}``.
The same in Chromium: the error page wears the shared header, at desktop and phone sizes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect

from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import browser, screenshot
from tests.hub.local_site import LocalSite, local_site

# The page tests' real Chromium (tests/browser/conftest.py).
__all__ = ["browser"]

PASSWORD = "correct horse battery"
NAVIGATION = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
}
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSite]:
    tmp: Path = tmp_path_factory.mktemp("pages")
    with local_site(tmp, 2, {}) as running:
        running.add_user("boss", "admin", PASSWORD)
        running.add_user("op1", "operator", PASSWORD, printers=["demo-1"])
        yield running


def test_a_refused_page_is_html_for_a_browser_and_json_for_scripts(site: LocalSite) -> None:
    op1 = site.login("op1", PASSWORD)
    page = op1.get(f"{site.url}printers/demo-2/", headers=NAVIGATION, timeout=10)
    assert page.status_code == 403
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>Not allowed</h1>" in page.text
    assert "No printer named &#x27;demo-2&#x27; that op1 may watch." in page.text
    assert "You are logged in as <strong>op1</strong> (operator)." in page.text
    assert 'href="/login?next=/printers/demo-2/">Log in as someone else' in page.text
    assert '<div id="site-header"></div>' in page.text and "/static/site-header.js" in page.text
    # The page's own assets come from the hub through the same nginx.
    assert op1.get(site.url + "static/site-header.js", timeout=10).status_code == 200

    # A script's fetch, an API client, a key: JSON as before.
    for headers in (
        {"Accept": "application/json"},
        {"Accept": "*/*", "Sec-Fetch-Mode": "cors"},
        {**NAVIGATION, "Sec-Fetch-Mode": "cors"},
    ):
        answer = op1.get(f"{site.url}printers/demo-2/api/v1/printer", headers=headers, timeout=10)
        assert answer.status_code == 403
        assert answer.json() == {"error": "no printer named 'demo-2' that op1 may watch"}
    _, key = site.api_key("op1", "slicer")
    keyed = requests.get(
        f"{site.url}printers/demo-2/", headers={**NAVIGATION, "X-Api-Key": key}, timeout=10
    )
    assert keyed.status_code == 403 and keyed.json()["error"]
    # An act refused for a browser page is still only recorded once (the explaining ask is not).
    boss = site.login("boss", PASSWORD)
    entries = boss.get(site.url + "api/audit", params={"user": "op1"}, timeout=10).json()
    refused = [e for e in entries["entries"] if e["action"].startswith("refused")]
    assert all(e["summary"].startswith("op1 was refused") for e in refused)


def test_no_login_sends_a_browser_to_the_login_and_says_when_a_session_expired(
    site: LocalSite,
) -> None:
    anonymous = requests.Session()
    asked = f"{site.url}printers/demo-1/"
    first = anonymous.get(asked, headers=NAVIGATION, allow_redirects=False, timeout=10)
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=/printers/demo-1/"
    stale = anonymous.get(
        asked,
        headers={**NAVIGATION, "Cookie": "fabfleet_session=long-gone"},
        allow_redirects=False,
        timeout=10,
    )
    assert stale.status_code == 302
    assert stale.headers["Location"] == "/login?next=/printers/demo-1/&reason=expired"
    script = anonymous.get(asked + "api/v1/printer", timeout=10)
    assert script.status_code == 401 and "log in first" in script.json()["error"]
    landing = anonymous.get(
        site.url, headers={"Cookie": "fabfleet_session=long-gone"}, allow_redirects=False
    )
    assert landing.headers["Location"] == "login?reason=expired"


def test_the_hubs_own_missing_pages_are_pages_and_its_api_stays_json(site: LocalSite) -> None:
    op1 = site.login("op1", PASSWORD)
    missing = op1.get(site.url + "no-such-page", headers=NAVIGATION, timeout=10)
    assert missing.status_code == 404
    assert "<h1>Not found</h1>" in missing.text and "There is no page at this address." in (
        missing.text
    )
    api = op1.get(site.url + "api/no-such-thing", headers=NAVIGATION, timeout=10)
    assert api.status_code == 404 and api.json()["error"]
    admin_only = op1.get(site.url + "api/users", headers=NAVIGATION, timeout=10)
    assert admin_only.status_code == 403 and "only an admin" in admin_only.json()["error"]


def test_the_audit_says_who_started_which_file_where(site: LocalSite) -> None:
    """Issue 13: "POST /api/v1/job" becomes "op1 started cube_slic3r.gcode on demo-1"."""
    op1 = site.login("op1", PASSWORD)
    started = op1.post(
        f"{site.url}printers/demo-1/api/v1/job", json={"file": "cube_slic3r.gcode"}, timeout=10
    )
    assert started.status_code == 201, started.text
    cancelled = op1.post(f"{site.url}printers/demo-1/api/v1/job/cancel", timeout=10)
    assert cancelled.status_code in (200, 202), cancelled.text
    refused = op1.post(f"{site.url}printers/demo-2/api/v1/job/pause", timeout=10)
    assert refused.status_code == 403
    boss = site.login("boss", PASSWORD)
    wanted = [
        "op1 was refused: pause the print on demo-2",
        "op1 cancelled the print on demo-1",
        "op1 started cube_slic3r.gcode on demo-1",
    ]
    deadline = time.monotonic() + 30
    while True:
        answer = boss.get(site.url + "api/audit", params={"user": "op1", "limit": "3"}, timeout=10)
        said = [e["summary"] for e in answer.json()["entries"]]
        if said == wanted or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert said == wanted
    # The raw fields are still there for whoever wants them.
    assert answer.json()["entries"][2]["detail"] == "POST /api/v1/job"


# --- in Chromium -----------------------------------------------------------------------


def console_errors(page: Page) -> list[str]:
    """Errors the page logs or throws, but the one line Chromium logs for any 4xx document."""
    found: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error" and "the server responded with a status of" not in message.text:
            found.append(message.text)

    page.on("console", seen)
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def log_in(page: Page, name: str) -> None:
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_browser_sees_not_allowed_then_an_expired_session_logs_in_again(
    site: LocalSite, browser: Browser, size: str
) -> None:
    viewport = PHONE if size == "phone" else DESKTOP
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors = console_errors(page)
    try:
        page.goto(f"{site.url}printers/demo-2/")
        expect(page).to_have_url(f"{site.url}login?next=/printers/demo-2/")
        expect(page.locator("#reason")).to_have_text("Log in to continue.")
        log_in(page, "op1")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(page.locator(".refused")).to_have_text(
            "No printer named 'demo-2' that op1 may watch."
        )
        # Keyboard first: the first Tab reaches "Skip to content", which leads to the page
        # (once the shared header's script has put it there: on a busy machine it may come
        # after the page's own text).
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).to_be_attached()
        page.keyboard.press("Tab")
        expect(skip).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("main#content")).to_be_focused()
        header = page.locator("#site-header")
        if size == "phone":
            header.get_by_role("button", name="Menu").click()
        expect(header.locator("#who")).to_have_text("op1 (operator)")
        printers = header.get_by_label("Printer")
        expect(printers.locator("option")).to_have_text(["Choose a printer…", "demo-1"])
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        assert_accessible(page, f"not allowed ({size})")
        screenshot(page, f"gate-not-allowed-{size}")

        # The header leads on: the printer op1 may watch, chosen from the list.
        printers.select_option("demo-1")
        expect(page).to_have_url(f"{site.url}printers/demo-1/")
        expect(page.locator("#site-header #who")).to_have_text("op1 (operator)", timeout=15_000)
        expect(page.locator("#site-printer")).to_have_value("demo-1")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        screenshot(page, f"printer-page-with-site-header-{size}")

        # The session ends behind the browser's back: the next page says so at the login.
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "fabfleet_session", "value": "ended", "url": site.url}])
        page.goto(f"{site.url}printers/demo-1/")
        expect(page).to_have_url(f"{site.url}login?next=/printers/demo-1/&reason=expired")
        expect(page.locator("#reason")).to_have_text("Your session has expired — log in again.")
        assert_accessible(page, f"login after the session expired ({size})")
        screenshot(page, f"login-session-expired-{size}")
        log_in(page, "op1")
        expect(page).to_have_url(f"{site.url}printers/demo-1/")
        assert errors == [], errors
    finally:
        context.close()
