"""A day in a fablab, as one story on the demo stack (nginx, hub, three simulated printers).

The admin adds an operator with rights on one printer and a viewer; the operator
sees only that printer, queues two copies of a small part, the first prints to
the end, the operator confirms the bed clear on the printer's page and the second
copy starts; the viewer sees the printers but may not act; the admin selects
three printers on the dashboard, preheats them and cools them down. Each step is
saved as a screenshot at desktop and phone sizes, and no page logs an error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.layout import both_sizes
from tests.browser.site import (
    DESKTOP,
    PASSWORD,
    TINY_GCODE,
    ConsoleWatch,
    RunningSite,
    SiteClient,
    running_site,
)

pytestmark = pytest.mark.timeout(420)

MINE, OTHER, THIRD = "demo-1", "demo-2", "demo-3"
PART = "lab-keyring.gcode"
# The simulators run this much faster than real time: a small part prints in seconds.
TIME_FACTOR = 50
SLOW = 60_000  # ms: what a simulated print and the hub's dispatch may take at most
T = TypeVar("T")
# The printer page's buttons that change something: hidden or disabled for a viewer.
ACT_BUTTONS = (
    r"^(Print|Delete|Preheat|Extrude|Set |Send|Home|Cool down|Motors off|Pause|Resume|Cancel)"
)
# A printer no longer printing (fleet actions preheat and cool only such).
AT_REST = ("finished", "ready", "bed not cleared", "failed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    with running_site(tmp_path_factory.mktemp("fablab"), 3, TIME_FACTOR) as running:
        yield running


class Story:
    """One browser tab through the day: each step a screenshot at both sizes."""

    def __init__(self, browser: Browser, site: RunningSite) -> None:
        self.site = site
        self.watch = ConsoleWatch()
        self.context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        self.page = self.watch.watch(self.context.new_page())
        self.step = 0

    def snap(self, what: str) -> None:
        """A screenshot at both sizes, each fitting its window."""
        self.step += 1
        both_sizes(self.page, f"fablab-{self.step:02d}-{what}")

    def log_in(self, user: str, password: str) -> None:
        page = self.page
        page.goto(self.site.url + "/login")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()

    def log_out(self) -> None:
        self.page.goto(self.site.url + "/#dashboard")
        self.page.get_by_role("button", name="Log out").click()
        expect(self.page.get_by_label("User name")).to_be_visible()

    def section(self, name: str) -> Locator:
        self.page.goto(f"{self.site.url}/#{name}")
        body = self.page.locator(f"section#{name}")
        expect(body).to_be_visible()
        return body

    def cards(self) -> Locator:
        return self.section("dashboard").get_by_role("article")


def field(scope: Locator, words: str) -> Locator:
    """An input by its label, else by its placeholder (forms not yet labelled)."""
    pattern = re.compile(words, re.IGNORECASE)
    return scope.get_by_label(pattern).or_(scope.get_by_placeholder(pattern)).first


def add_user(story: Story, name: str, role: str, printers: str) -> None:
    form = story.section("users").locator(
        "form", has=story.page.get_by_role("button", name="Add user")
    )
    field(form, r"^(user )?name").fill(name)
    field(form, r"^password").fill(PASSWORD)
    form.get_by_role("combobox").first.select_option(role)
    field(form, r"^printers").fill(printers)
    form.get_by_role("button", name="Add user").click()
    expect(
        story.section("users").get_by_role("row", name=re.compile(rf"\b{name}\b"))
    ).to_be_visible()


def targets_of(client: SiteClient, printer: str) -> dict[str, object]:
    heaters = client.printer(printer)["heaters"]
    return {name: heater.get("target") for name, heater in heaters.items()}


def jobs_of(client: SiteClient, printer: str, file: str) -> list[dict[str, Any]]:
    """The printer's history for ``file`` (the hub names each copy it sends q<entry>-<file>)."""
    jobs = client.call("GET", f"/printers/{printer}/api/v1/history").json()["jobs"]
    return [job for job in jobs if str(job["file"]).endswith(file)]


def poll(read: Callable[[], T], done: Callable[[T], bool], within: float = SLOW / 1000) -> T:
    """``read()`` again until ``done`` says so (a generous deadline, not a timing)."""
    deadline = time.monotonic() + within
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    assert done(value), value
    return value


def state_of(page: Page) -> Locator:
    return page.get_by_role("status").filter(has_text=re.compile(
        r"^(ready|printing|finished|bed not cleared|failed|offline)$", re.IGNORECASE
    )).first  # fmt: skip


def test_a_day_in_the_fablab(site: RunningSite, browser: Browser, tmp_path: Path) -> None:
    admin_api = SiteClient(site)
    story = Story(browser, site)
    page = story.page

    # Morning: the admin adds an operator for one printer and a viewer.
    story.log_in("admin", site.password)
    expect(story.cards()).to_have_count(3)
    story.snap("admin-dashboard")
    add_user(story, "olga", "operator", MINE)
    add_user(story, "vic", "viewer", f"{MINE}, {OTHER}")
    story.snap("users-added")
    story.log_out()

    # The operator sees only her printer and queues two copies of a small part.
    story.log_in("olga", PASSWORD)
    expect(story.cards()).to_have_count(1)
    expect(story.cards().first).to_contain_text(MINE)
    story.snap("operator-dashboard")
    queue = story.section("queue")
    part = tmp_path / PART
    part.write_text(TINY_GCODE)
    queue.get_by_label("G-code file").set_input_files(part)
    queue.get_by_label("Copies").fill("2")
    queue.get_by_label("Printers").select_option(f"printer:{MINE}")
    queue.get_by_role("button", name="Queue", exact=True).click()
    expect(queue.get_by_role("status")).to_contain_text(re.compile(rf"Queued 2\W+{PART}"))
    story.snap("two-copies-queued")

    # The first copy prints to the end; the printer waits for its bed.
    admin_api.wait_for_state(MINE, "finished", within=SLOW / 1000)
    page.goto(f"{site.url}/printers/{MINE}/")
    expect(state_of(page)).to_have_text(re.compile("finished", re.IGNORECASE), timeout=SLOW)
    story.snap("first-copy-finished")
    page.get_by_role("button", name=re.compile("bed is clear", re.IGNORECASE)).click()
    # The queue sends the second copy at once.
    copies = poll(lambda: jobs_of(admin_api, MINE, PART), lambda found: len(found) == 2)
    assert [job["started_by"] for job in copies] == ["olga", "olga"]
    # The page's history lists both copies.
    expect(page.get_by_role("row", name=re.compile(re.escape(PART)))).to_have_count(2)
    story.snap("second-copy-started")
    story.log_out()

    # The viewer sees both his printers, and may not act on either: not even confirm
    # the bed of the finished one, nor queue anything.
    admin_api.wait_for_state(MINE, *AT_REST, within=SLOW / 1000)
    story.log_in("vic", PASSWORD)
    expect(story.cards()).to_have_count(2)
    mine = story.cards().filter(has_text=MINE)
    expect(mine).to_contain_text(re.compile("finished", re.IGNORECASE))
    expect(mine.get_by_role("button", name=re.compile("bed", re.IGNORECASE))).to_have_count(0)
    assert story.page.get_by_role("checkbox", name=re.compile("^Select ")).count() == 0
    expect(story.page.get_by_role("group", name="Fleet actions")).to_be_hidden()
    story.snap("viewer-dashboard")
    queue = story.section("queue")
    expect(queue.get_by_role("row", name=re.compile(PART))).not_to_have_count(0)
    expect(queue.get_by_role("button", name="Queue", exact=True)).to_be_hidden()
    page.goto(f"{site.url}/printers/{OTHER}/")
    expect(state_of(page)).to_have_text(re.compile("ready", re.IGNORECASE))
    expect(page.get_by_text("cube_slic3r.gcode").filter(visible=True).first).to_be_visible()
    acts = page.get_by_role("button", name=re.compile(ACT_BUTTONS)).filter(visible=True)
    expect(acts.first).to_be_visible()
    for index in range(acts.count()):
        expect(acts.nth(index)).to_be_disabled()
    csrf = next(c["value"] for c in story.context.cookies() if c["name"] == "fabfleet_csrf")
    refused = page.request.post(
        f"{site.url}/printers/{OTHER}/api/v1/job",
        data={"file": "cube_slic3r.gcode"}, headers={"X-CSRF-Token": csrf},
    )  # fmt: skip
    assert refused.status == 403, refused.text()
    assert admin_api.printer(OTHER)["state"] == "ready"
    story.snap("viewer-printer-page")
    story.log_out()

    # Evening: the admin preheats three printers at once, then cools them down.
    story.log_in("admin", site.password)
    story.cards()
    for name in (MINE, OTHER, THIRD):
        page.get_by_role("checkbox", name=f"Select {name}").check()
    actions = page.get_by_role("group", name="Fleet actions")
    expect(actions).to_contain_text("3 printers selected")
    actions.get_by_label("Hotend °C").fill("200")
    actions.get_by_label("Bed °C").fill("55")
    actions.get_by_role("button", name="Preheat").click()
    said = page.get_by_role("status").filter(has_text=re.compile("Preheat:"))
    expect(said).to_contain_text("3 printers done")
    for name in (MINE, OTHER, THIRD):
        targets = targets_of(admin_api, name)
        assert 200 in targets.values() and 55 in targets.values(), (name, targets)
    story.snap("three-preheated")
    actions.get_by_role("button", name="Cool down").click()
    said = page.get_by_role("status").filter(has_text=re.compile("Cool down:"))
    expect(said).to_contain_text("3 printers done")
    for name in (MINE, OTHER, THIRD):
        targets = targets_of(admin_api, name)
        assert set(targets.values()) <= {0, None}, (name, targets)
    story.snap("three-cooled")

    story.context.close()
    assert story.watch.errors == [], story.watch.errors
