"""Screenshots of a page at desktop and phone sizes, and the check that it fits both."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import screenshot
from tests.browser.site import DESKTOP, PHONE


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 or less when it fits)."""
    found: int = page.evaluate("() => document.scrollingElement.scrollWidth - innerWidth")
    return found


def both_sizes(page: Page, name: str) -> None:
    """Screenshots at desktop and phone sizes; at both, nothing wider than the screen."""
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)  # type: ignore[arg-type]
        wider = overflow(page)
        assert wider <= 0, (size, wider)
        screenshot(page, f"{name}-{size}")
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
