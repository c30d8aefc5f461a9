"""The hub's login page and the admin sections in a real Chromium, on a real hub."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.db import open_database
from tests.browser.conftest import screenshot
from tests.hub.conftest import HubProcess, login, start_hub_process

PASSWORD = "correct horse battery"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    started = start_hub_process(tmp_path / "hub", {"printers": [], "cameras": []})
    db = open_database(started.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
    finally:
        db.close()
    yield started
    started.stop()


def log_in(page: Page, user: str, password: str) -> None:
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#submit")


def test_a_wrong_password_shows_an_error_then_the_right_one_logs_in(
    hub: HubProcess, page: Page
) -> None:
    page.goto(hub.url)  # not logged in: sent to the login page
    expect(page).to_have_url(hub.url + "login")
    log_in(page, "ada", "not the password")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_have_text("wrong user name or password")
    screenshot(page, "hub-login-wrong-password")
    log_in(page, "ada", PASSWORD)
    expect(page).to_have_url(hub.url)
    expect(page.locator("#who")).to_have_text("ada (admin)")
    screenshot(page, "hub-logged-in")
    page.click("#logout")
    expect(page).to_have_url(hub.url + "login")
    page.goto(hub.url)
    expect(page).to_have_url(hub.url + "login")


def test_after_login_it_goes_where_it_was_asked_on_this_site_only(
    hub: HubProcess, page: Page
) -> None:
    page.goto(hub.url + "login?next=" + quote("/#keys", safe=""))
    log_in(page, "ada", PASSWORD)
    expect(page).to_have_url(hub.url + "#keys")
    expect(page.locator("#keys")).to_be_visible()
    # A new visitor each time: the logged-in page is left first, so its own reaction to
    # the lost session (back to the login) cannot cut the next navigation short.
    page.goto("about:blank")
    page.context.clear_cookies()
    for elsewhere in ("//example.invalid/", "https://example.invalid/", "/\\example.invalid"):
        page.goto(hub.url + "login?next=" + quote(elsewhere, safe=""))
        log_in(page, "ada", PASSWORD)
        expect(page).to_have_url(hub.url)
        page.goto("about:blank")
        page.context.clear_cookies()


def test_an_admin_adds_a_user_in_the_users_section(hub: HubProcess, page: Page) -> None:
    page.goto(hub.url + "login")
    log_in(page, "ada", PASSWORD)
    expect(page.locator("#who")).to_have_text("ada (admin)")
    page.click("#nav a[data-section=users]")
    users = page.locator("#users")
    expect(users).to_be_visible()
    expect(users.locator("tr[data-user=ada]")).to_be_visible()

    form = users.locator("#add-user")
    form.locator("[name=name]").fill("carol")
    form.locator("[name=password]").fill("short")
    form.locator("[name=role]").select_option("operator")
    form.locator("[name=printers]").fill("mk3, mini")
    form.locator("[name=groups]").fill("lab")
    form.locator("button[type=submit]").click()
    expect(users.locator(".status")).to_contain_text("at least 10 characters")

    form.locator("[name=password]").fill("carol's long password")
    form.locator("button[type=submit]").click()
    row = users.locator("tr[data-user=carol]")
    expect(row).to_be_visible()
    expect(row.locator(".grants")).to_have_text("mini, mk3, group lab")
    screenshot(page, "hub-users-added")

    carol = login(hub.url, "carol", "carol's long password")
    me = carol.get(hub.url + "api/me", timeout=10).json()
    assert me["role"] == "operator"
    assert me["grants"] == {"printers": ["mini", "mk3"], "groups": ["lab"]}

    # The change shows in the audit log.
    page.click("#nav a[data-section=audit]")
    audit = page.locator("#audit-table")
    added = audit.locator("tr", has_text="ada added user carol")
    expect(added.locator(".audit-summary")).to_have_text(
        "ada added user carol (operator; printer mini, printer mk3, group lab)"
    )
    screenshot(page, "hub-audit-sentences")
    # The raw fields stay behind a disclosure.
    raw = added.locator(".audit-raw")
    raw.get_by_text("Details").click()
    expect(raw).to_contain_text("user add")
    expect(raw).to_contain_text("carol as operator")

    # And the user can be removed again (after confirming).
    page.click("#nav a[data-section=users]")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.danger").click()
    expect(row).to_have_count(0)
    assert requests.get(hub.url + "api/me", cookies=carol.cookies, timeout=10).status_code == 401


def test_an_api_key_is_shown_once_and_revoked(hub: HubProcess, page: Page) -> None:
    page.goto(hub.url + "login")
    log_in(page, "ada", PASSWORD)
    expect(page.locator("#who")).to_have_text("ada (admin)")
    page.click("#nav a[data-section=keys]")
    keys = page.locator("#keys")
    keys.locator("[name=key-name]").fill("PrusaSlicer")
    keys.locator("#add-key button").click()
    shown = keys.locator(".new-key code")
    expect(shown).to_have_text(re.compile(r"^ffk_[A-Za-z0-9_-]{40,}$"))
    key = shown.inner_text()
    assert requests.get(hub.url + "api/me", headers={"X-Api-Key": key}, timeout=10).ok
    expect(keys.locator("#keys-table")).to_contain_text("PrusaSlicer")
    screenshot(page, "hub-key-made")
    page.once("dialog", lambda dialog: dialog.accept())
    keys.locator("#keys-table button.danger").click()
    expect(keys.locator("#keys-table")).to_contain_text("No keys yet.")
    answer = requests.get(hub.url + "api/me", headers={"X-Api-Key": key}, timeout=10)
    assert answer.status_code == 401


def test_a_user_changes_their_own_password(hub: HubProcess, page: Page) -> None:
    page.goto(hub.url + "login?next=" + quote("/#keys", safe=""))
    log_in(page, "ada", PASSWORD)
    form = page.locator("#own-password")
    form.locator("[name=old-password]").fill(PASSWORD)
    form.locator("[name=new-password]").fill("a brand new password")
    form.locator("[name=again-password]").fill("a brand new passwort")
    form.locator("button").click()
    expect(form.locator(".status")).to_have_text("the new passwords do not match")
    form.locator("[name=again-password]").fill("a brand new password")
    form.locator("button").click()
    expect(form.locator(".status")).to_contain_text("Password changed")
    screenshot(page, "hub-keys-and-password")
    # This browser stays logged in (a new session); the old password no longer works.
    page.reload()
    expect(page.locator("#who")).to_have_text("ada (admin)")
    old = requests.post(
        hub.url + "api/login", json={"username": "ada", "password": PASSWORD}, timeout=10
    )
    assert old.status_code == 401
    login(hub.url, "ada", "a brand new password")


def test_an_operator_sees_why_admin_sections_are_empty_and_a_bad_section_shows_printers(
    hub: HubProcess, page: Page
) -> None:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "olga", PASSWORD, "operator")
    finally:
        db.close()
    page.goto(hub.url + "login?next=" + quote("/#users", safe=""))
    log_in(page, "olga", PASSWORD)
    expect(page).to_have_url(hub.url + "#users")
    users = page.locator("#users")
    expect(users).to_be_visible()
    expect(users).to_contain_text("Only admins can manage users.")
    expect(users.get_by_role("link", name="Back to the printers")).to_be_visible()
    screenshot(page, "hub-operator-opens-users")
    page.goto(hub.url + "#audit")
    expect(page.locator("#audit")).to_contain_text("Only admins can read the audit log.")
    page.goto(hub.url + "#notifications")
    expect(page.locator("#notifications")).to_contain_text("Only admins can manage notifications.")
    page.goto(hub.url + "#no-such-section")
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator('#nav a[data-section="dashboard"]')).to_have_attribute(
        "aria-current", "page"
    )


def test_every_admin_field_is_labelled_and_no_page_is_wider_than_a_phone(
    hub: HubProcess, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(hub.url + "login")
        log_in(page, "ada", PASSWORD)
        expect(page.locator("#who")).to_be_attached()
        # Each section with what shows it has loaded its data.
        loaded = {
            "dashboard": "#dashboard", "queue": "#queue h2", "history": "table[data-stats=user]",
            "audit": "#audit-table tbody tr", "users": "tr[data-user=ada]",
            "notifications": ".notify-targets tbody tr", "keys": "#keys-table tbody tr",
        }  # fmt: skip
        for name, shown in loaded.items():
            page.goto(hub.url + "#" + name)
            expect(page.locator("#" + name)).to_be_visible()
            expect(page.locator(shown).first).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (name, width)
            unlabelled = page.evaluate(UNLABELLED, "#" + name)
            assert unlabelled == [], (name, unlabelled)
            screenshot(page, f"hub-phone-{name}")
        # Every section is reachable from the header's menu on a phone.
        page.get_by_role("button", name="Menu").click()
        for label in (
            "Printers",
            "Queue",
            "History",
            "Audit",
            "Users",
            "Notifications",
            "API keys",
        ):
            expect(page.locator("#nav").get_by_role("link", name=label)).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        screenshot(page, "hub-phone-menu-open")
        page.locator("#nav").get_by_role("link", name="Users").click()
        expect(page.locator("#users")).to_be_visible()
    finally:
        context.close()


# Inputs, selects and text areas of a section without a label a screen reader would read.
UNLABELLED = """(scope) => [...document.querySelectorAll(scope + " input, " + scope + " select, "
    + scope + " textarea")].filter((field) => field.type !== "hidden" && !field.labels.length
    && !field.getAttribute("aria-label") && !field.getAttribute("aria-labelledby"))
  .map((field) => field.outerHTML.slice(0, 120))"""
