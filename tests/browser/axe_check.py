"""axe-core (bundled by axe-playwright-python, nothing fetched) run on a Playwright page.

``serious_violations`` lists every violation of impact serious or critical, one
line per rule with each node's selector; ``assert_accessible`` fails with that list.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page

BLOCKING = frozenset({"serious", "critical"})
# WCAG 2.x A and AA, and axe's best practices (landmarks, headings, ...).
OPTIONS = {"resultTypes": ["violations"]}

_AXE = Axe()


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now."""
    found: list[dict[str, Any]] = _AXE.run(page, options=OPTIONS).response["violations"]
    return found


def describe(violation: dict[str, Any]) -> str:
    """One rule's failure: id, impact, help text, and where (selector: what to fix)."""
    nodes = []
    for node in violation["nodes"]:
        selector = " ".join(str(part) for part in node["target"])
        summary = str(node.get("failureSummary", "")).replace("\n", " ").strip()
        nodes.append(f"    {selector}: {summary}")
    head = f"{violation['id']} ({violation['impact']}): {violation['help']}"
    return "\n".join([head, *nodes])


def serious_violations(page: Page) -> list[str]:
    """Every serious or critical violation on the page, described."""
    return [describe(v) for v in violations(page) if v.get("impact") in BLOCKING]


def assert_accessible(page: Page, where: str) -> None:
    found = serious_violations(page)
    assert not found, f"{where}: {len(found)} serious/critical axe violations\n" + "\n".join(found)
