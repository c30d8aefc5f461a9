"""What the printer page's browser tests check on every page: console errors, width."""

from __future__ import annotations

from playwright.sync_api import Page


def watch_console(page: Page) -> list[str]:
    """The console's errors from now on (a failed request logs one too)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"
