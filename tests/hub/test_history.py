"""The fleet's job history and statistics: real print servers on simulated printers print,
the hub archives their jobs, filters, exports and counts them, and keeps them when a
print server goes away or the hub restarts."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from hub.records.history import parse_job, store
from tests.browser.axe_check import serious_violations
from tests.browser.conftest import browser, page, screenshot
from tests.hub.conftest import (
    HubProcess,
    SimulatedFleet,
    login,
    printer_entry,
    start_hub_process,
)

pytestmark = pytest.mark.timeout(240)
# The page tests' real Chromium (tests/browser/conftest.py).
__all__ = ["browser", "page"]

PASSWORD = "a long enough password 42"
# A few moves and 12 mm of filament: prints in well under a second of simulated time.
SHORT = b"".join(
    [
        b"; filament used = 12.0mm\n",
        b"M82\nG92 E0\nG1 X10 Y10 F6000\n",
        *(f"G1 X{10 + i} Y{10 + i} E{(i + 1) * 1.2:.1f} F3000\n".encode() for i in range(10)),
        b"M400\n",
    ]
)
# Long enough to be cancelled while it prints.
LONG = b"".join(
    [b"M82\nG92 E0\n", *(f"G1 X{i % 100} Y{(i * 7) % 100} F600\n".encode() for i in range(4000))]
)


def add_user(hub: HubProcess, name: str, role: str, grants: Grants | None = None) -> None:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, name, PASSWORD, role, grants)
    finally:
        db.close()


def wait_until(check: Callable[[], Any], seconds: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.2)


@dataclass(frozen=True)
class PrintServer:
    """One simulated printer's print server, called directly as the hub would: signed with
    the fleet's gate key, in the name of a user."""

    name: str
    url: str
    master_key: bytes

    def headers(self, user: str) -> dict[str, str]:
        return {HEADER: identity_for(self.master_key, self.name, user, True)}

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers("hub"), timeout=30)

    def post(self, path: str, user: str = "hub", **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, headers=self.headers(user), timeout=60, **kwargs)

    def state(self) -> str:
        state: str = self.get("api/v1/printer").json()["state"]
        return state

    def upload(self, name: str, content: bytes) -> None:
        answer = self.post("api/v1/files", files={"file": (name, content)})
        assert answer.status_code == 201, answer.text

    def print_file(self, name: str, user: str, cancel: bool = False, clear: bool = True) -> None:
        """Print ``name`` to its end (or cancel it) as ``user``, then clear the bed."""
        wait_until(lambda: self.state() == "ready", what=f"{self.name} ready")
        answer = self.post("api/v1/job", user, json={"file": name})
        assert answer.status_code == 201, answer.text
        if cancel:
            wait_until(lambda: self.state() == "printing", what="printing")
            assert self.post("api/v1/job/cancel", user).status_code == 202
        ended = "bed not cleared" if cancel else "finished"
        wait_until(lambda: self.state() == ended, seconds=120, what=f"{name} {ended}")
        if clear:
            assert self.post("api/v1/bed/clear", user).status_code == 200


def print_servers(hub: HubProcess, printers: SimulatedFleet) -> list[PrintServer]:
    """The printers' print servers, signed for with the hub's master key."""
    master = read_master_key(hub.gate_key_file)
    return [PrintServer(p.name, p.url, master) for p in printers.printers]


def restart(hub: HubProcess, fleet: dict[str, Any]) -> HubProcess:
    """Stop ``hub`` and start it again on the same database and key."""
    hub.stop()
    return start_hub_process(hub.data_dir, fleet, gate_key_file=hub.gate_key_file)


def history(session: requests.Session, hub: HubProcess, **query: Any) -> dict[str, Any]:
    answer = session.get(hub.url + "api/history", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def stats(session: requests.Session, hub: HubProcess, **query: Any) -> dict[str, Any]:
    answer = session.get(hub.url + "api/stats", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def run_three_jobs(hub: HubProcess, printers: SimulatedFleet) -> None:
    """demo-1: short.gcode by ada, completed; demo-2: =SUM(A1).gcode by grace, completed,
    long.gcode by ada, cancelled."""
    one, two = print_servers(hub, printers)
    one.upload("short.gcode", SHORT)
    two.upload("=SUM(A1).gcode", SHORT)
    two.upload("long.gcode", LONG)
    one.print_file("short.gcode", "ada")
    two.print_file("=SUM(A1).gcode", "grace")
    two.print_file("long.gcode", "ada", cancel=True)


@pytest.fixture
def fleet_with_jobs(
    start_hub: Callable[..., HubProcess], simulated_printers: Callable[..., SimulatedFleet]
) -> tuple[HubProcess, SimulatedFleet, requests.Session]:
    printers = simulated_printers(2, time_factor=200)
    hub = start_hub(printers.fleet(**{"demo-2": {"groups": ["lab"]}}))
    add_user(hub, "ada", "admin")
    admin = login(hub.url, "ada", PASSWORD)
    run_three_jobs(hub, printers)
    wait_until(lambda: history(admin, hub)["total"] == 3, what="three jobs archived")
    return hub, printers, admin


def test_jobs_of_every_printer_are_archived_filtered_counted_and_exported(
    fleet_with_jobs: tuple[HubProcess, SimulatedFleet, requests.Session],
) -> None:
    hub, _printers, admin = fleet_with_jobs
    jobs = history(admin, hub)["jobs"]
    assert [(j["printer"], j["file"], j["outcome"]) for j in jobs] == [
        ("demo-2", "long.gcode", "cancelled"),
        ("demo-2", "=SUM(A1).gcode", "completed"),
        ("demo-1", "short.gcode", "completed"),
    ]
    for job in jobs:
        assert set(job) >= {"printer", "id", "file", "started_by", "started_at", "ended_at",
                            "duration", "outcome", "reason", "filament_mm"}  # fmt: skip
        assert job["duration"] == pytest.approx(job["ended_at"] - job["started_at"], abs=0.01)
        assert job["removed"] is False
    # Who started each job: the user the hub signed for.
    assert [j["started_by"] for j in jobs] == ["ada", "grace", "ada"]
    assert jobs[0]["reason"] == "cancelled by the user"
    assert jobs[2]["filament_mm"] == pytest.approx(12.0, abs=0.5)

    # Filters, alone and together.
    assert [j["file"] for j in history(admin, hub, printer="demo-1")["jobs"]] == ["short.gcode"]
    assert [j["file"] for j in history(admin, hub, outcome="cancelled")["jobs"]] == ["long.gcode"]
    both = history(admin, hub, printer="demo-2", outcome="completed")["jobs"]
    assert [j["file"] for j in both] == ["=SUM(A1).gcode"]
    assert [j["file"] for j in history(admin, hub, user="ada")["jobs"]] == [
        "long.gcode",
        "short.gcode",
    ]
    assert history(admin, hub, user="grace", printer="demo-1")["total"] == 0
    assert history(admin, hub, user="linus")["total"] == 0
    assert [j["file"] for j in history(admin, hub, file="SUM")["jobs"]] == ["=SUM(A1).gcode"]
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    assert history(admin, hub, since=tomorrow)["total"] == 0
    assert history(admin, hub, until=tomorrow)["total"] == 3
    middle = jobs[1]["started_at"]
    assert [j["file"] for j in history(admin, hub, since=middle)["jobs"]] == [
        "long.gcode",
        "=SUM(A1).gcode",
    ]
    assert [j["file"] for j in history(admin, hub, until=middle)["jobs"]] == ["short.gcode"]
    page = history(admin, hub, limit=1, offset=1)
    assert page["total"] == 3
    assert [j["file"] for j in page["jobs"]] == ["=SUM(A1).gcode"]
    assert history(admin, hub, printer="no-such-printer")["total"] == 0

    # Bad filters: a clear 400, never a 500.
    for bad in (
        {"outcome": "exploded"},
        {"since": "yesterday-ish"},
        {"until": "nan"},
        {"limit": "0"},
        {"limit": "100000000"},
        {"offset": "-1"},
        {"limit": "ten"},
        {"printer": "x" * 500},
    ):
        for path in ("api/history", "api/history.csv", "api/stats"):
            if path == "api/stats" and ("limit" in bad or "offset" in bad):
                continue
            answer = admin.get(hub.url + path, params=bad, timeout=10)
            assert answer.status_code == 400, (path, bad, answer.text)
            assert "error" in answer.json()

    # Statistics match the jobs.
    figures = stats(admin, hub)
    per_printer = {row["printer"]: row for row in figures["printers"]}
    assert per_printer["demo-1"]["jobs"] == 1
    assert per_printer["demo-1"]["completed"] == 1
    assert per_printer["demo-1"]["success_rate"] == 1.0
    assert per_printer["demo-2"]["jobs"] == 2
    assert per_printer["demo-2"]["completed"] == 1
    assert per_printer["demo-2"]["cancelled"] == 1
    assert per_printer["demo-2"]["failed"] == 0
    assert per_printer["demo-2"]["success_rate"] == 0.5
    total = figures["total"]
    assert total["jobs"] == 3
    assert total["completed"] == 2
    assert total["print_hours"] == pytest.approx(sum(j["duration"] for j in jobs) / 3600, abs=0.001)
    assert total["filament_m"] == pytest.approx(
        sum(j["filament_mm"] or 0 for j in jobs) / 1000, abs=0.001
    )
    per_user = [(u["user"], u["jobs"], u["completed"], u["cancelled"], u["success_rate"])
                for u in figures["users"]]  # fmt: skip
    assert per_user == [("ada", 2, 1, 1, 0.5), ("grace", 1, 1, 0, 1.0)]
    grace = next(u for u in figures["users"] if u["user"] == "grace")
    assert grace["print_hours"] == pytest.approx(jobs[1]["duration"] / 3600, abs=0.001)
    assert stats(admin, hub, since=middle)["total"]["jobs"] == 2
    assert stats(admin, hub, printer="demo-1")["total"]["jobs"] == 1

    # CSV: a header row, the same jobs, a file name a spreadsheet would run kept as text.
    exported = admin.get(hub.url + "api/history.csv", timeout=10)
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == ["printer", "id", "file", "started_by", "started_at", "ended_at",
                        "duration", "outcome", "reason", "filament_mm"]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["file"] for r in rows] == ["long.gcode", "'=SUM(A1).gcode", "short.gcode"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in lines for cell in row)
    assert rows[2]["started_at"].endswith("+00:00")
    cancelled = admin.get(hub.url + "api/history.csv", params={"outcome": "cancelled"}, timeout=10)
    assert [r["file"] for r in csv.DictReader(io.StringIO(cancelled.text))] == ["long.gcode"]

    # Each job once, however often the hub copies the print servers' histories.
    time.sleep(1)
    assert history(admin, hub)["total"] == 3


def test_a_user_sees_only_the_jobs_of_printers_granted(
    fleet_with_jobs: tuple[HubProcess, SimulatedFleet, requests.Session],
) -> None:
    hub, _printers, _admin = fleet_with_jobs
    add_user(hub, "grace", "viewer", Grants(printers=frozenset({"demo-1"})))
    add_user(hub, "linus", "operator", Grants(groups=frozenset({"lab"})))
    add_user(hub, "nobody", "viewer")
    grace = login(hub.url, "grace", PASSWORD)
    assert [j["printer"] for j in history(grace, hub)["jobs"]] == ["demo-1"]
    assert [r["printer"] for r in stats(grace, hub)["printers"]] == ["demo-1"]
    assert stats(grace, hub)["total"]["jobs"] == 1
    exported = grace.get(hub.url + "api/history.csv", timeout=10).text
    assert [r["printer"] for r in csv.DictReader(io.StringIO(exported))] == ["demo-1"]
    refused = grace.get(hub.url + "api/history", params={"printer": "demo-2"}, timeout=10)
    assert refused.status_code == 404
    assert "demo-2" in refused.json()["error"]

    linus = login(hub.url, "linus", PASSWORD)
    assert {j["printer"] for j in history(linus, hub)["jobs"]} == {"demo-2"}

    nobody = login(hub.url, "nobody", PASSWORD)
    assert history(nobody, hub)["jobs"] == []
    assert stats(nobody, hub)["total"]["jobs"] == 0

    for path in ("api/history", "api/history.csv", "api/stats"):
        assert requests.get(hub.url + path, timeout=10).status_code == 401


def test_archived_jobs_outlive_their_print_server_and_a_hub_restart(
    fleet_with_jobs: tuple[HubProcess, SimulatedFleet, requests.Session],
    tmp_path: Path,
) -> None:
    hub, printers, admin = fleet_with_jobs
    add_user(hub, "grace", "viewer", Grants(printers=frozenset({"*"})))
    before = history(admin, hub)["jobs"]

    # demo-2's print server goes away: its jobs stay, and the hub says it cannot reach it.
    assert printers.demo is not None
    server_of_demo_2 = printers.demo.processes[3]
    server_of_demo_2.terminate()
    server_of_demo_2.wait(timeout=10)
    archived = wait_until(
        lambda: (found := history(admin, hub, printer="demo-2"))["sources"][0]["error"] and found,
        what="demo-2's history unreachable",
    )
    assert archived["total"] == 2

    # Removed from the fleet: an admin still sees its jobs, marked removed; others do not.
    fleet = printers.fleet()
    fleet["printers"] = [p for p in fleet["printers"] if p["name"] != "demo-2"]
    hub.write_fleet(fleet)
    wait_until(
        lambda: any(j["removed"] for j in history(admin, hub)["jobs"]), what="demo-2 removed"
    )
    jobs = history(admin, hub)["jobs"]
    assert [(j["printer"], j["removed"]) for j in jobs] == [
        ("demo-2", True),
        ("demo-2", True),
        ("demo-1", False),
    ]
    grace = login(hub.url, "grace", PASSWORD)
    assert [j["printer"] for j in history(grace, hub)["jobs"]] == ["demo-1"]
    removed = {r["printer"]: r["removed"] for r in stats(admin, hub)["printers"]}
    assert removed == {"demo-1": False, "demo-2": True}

    # The hub restarts on the same database: every job is still there, none twice.
    again = restart(hub, fleet)
    try:
        admin = login(again.url, "ada", PASSWORD)
        time.sleep(1.5)
        after = history(admin, again)["jobs"]
        assert [(j["printer"], j["id"], j["started_at"]) for j in after] == [
            (j["printer"], j["id"], j["started_at"]) for j in before
        ]
        # demo-1 prints again: only the new job is added.
        print_servers(again, printers)[0].print_file("short.gcode", "ada")
        wait_until(lambda: history(admin, again)["total"] == 4, what="the fourth job archived")
        assert stats(admin, again, printer="demo-1")["total"]["jobs"] == 2
    finally:
        again.stop()


def log_in_page(page: Page, hub: HubProcess, name: str, section: str) -> None:
    """Log in on the hub's login page and open ``section``."""
    page.goto(hub.url + "login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#who")).to_contain_text(name)
    page.goto(hub.url + "#" + section)


def test_the_history_page_shows_filters_counts_and_exports_the_jobs(
    fleet_with_jobs: tuple[HubProcess, SimulatedFleet, requests.Session], page: Page
) -> None:
    hub, _printers, _admin = fleet_with_jobs
    log_in_page(page, hub, "ada", "history")
    section = page.locator("#history")
    expect(section.locator("h2")).to_have_text("History")
    rows = section.locator("table.history-jobs tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("long.gcode")
    expect(rows.nth(0)).to_contain_text("Cancelled")
    expect(rows.nth(1)).to_contain_text("=SUM(A1).gcode")
    by_printer = section.locator("table[data-stats=printer] tbody tr")
    expect(by_printer).to_have_count(3)  # demo-1, demo-2, all
    expect(by_printer.filter(has_text="demo-2")).to_contain_text("50 %")
    by_user = section.locator("table[data-stats=user] tbody tr")
    expect(by_user.filter(has_text="grace")).to_contain_text("100 %")
    screenshot(page, "hub-history-01-all")

    section.locator("input[name=printer]").fill("demo-1")
    section.locator("button[type=submit]").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("short.gcode")
    expect(rows.nth(0)).to_contain_text("ada")
    link = section.locator("a.history-csv")
    expect(link).to_have_attribute("href", "api/history.csv?printer=demo-1")
    exported = page.request.get(hub.url + "api/history.csv?printer=demo-1")
    assert exported.ok
    assert [r["file"] for r in csv.DictReader(io.StringIO(exported.text()))] == ["short.gcode"]

    section.locator("input[name=printer]").fill("demo-9")
    section.locator("button[type=submit]").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_have_text("No jobs match.")
    screenshot(page, "hub-history-02-filtered")


def test_a_long_archive_exports_whole_and_pages_without_gaps(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub()
    add_user(hub, "ada", "admin")
    # Two years of a printer since removed from the fleet, written as the archive keeps them.
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    start = time.time() - 2 * 365 * 86400
    outcomes = ("completed", "completed", "failed", "cancelled", "interrupted")
    try:
        db.executemany(
            "INSERT INTO job_archive (printer, job_id, started_at, ended_at, file, started_by,"
            " duration, outcome, reason, filament_mm, archived_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("old-mk2", i, start + i * 3600, start + i * 3600 + 1800, f"part-{i}.gcode",
                 "ada", 1800.0, outcomes[i % 5], None, 1000.0, time.time())
                for i in range(1, 1204)
            ],
        )  # fmt: skip
    finally:
        db.close()
    admin = login(hub.url, "ada", PASSWORD)

    exported = admin.get(hub.url + "api/history.csv", timeout=30)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in rows] == list(range(1203, 0, -1))
    limited = admin.get(hub.url + "api/history.csv", params={"limit": 600, "offset": 3}).text
    assert [int(r["id"]) for r in csv.DictReader(io.StringIO(limited))] == list(
        range(1200, 600, -1)
    )

    seen: list[int] = []
    while len(seen) < 1203:
        page = history(admin, hub, limit=1000, offset=len(seen))
        assert page["total"] == 1203
        assert all(j["removed"] for j in page["jobs"])
        seen += [j["id"] for j in page["jobs"]]
    assert seen == list(range(1203, 0, -1))

    total = stats(admin, hub)["total"]
    assert total["jobs"] == 1203
    assert total["completed"] == sum(1 for i in range(1, 1204) if i % 5 in (0, 1))
    assert total["print_hours"] == pytest.approx(1203 * 0.5)
    assert total["filament_m"] == pytest.approx(1203.0)


def test_an_archive_from_before_timelapses_is_upgraded_and_links_their_videos(
    start_hub: Callable[..., HubProcess], tmp_path: Path, page: Page
) -> None:
    # The archive as the release before timelapses wrote it (no timelapse column).
    data = tmp_path / "hub0"
    data.mkdir()
    old = sqlite3.connect(data / "hub.sqlite")
    old.execute(
        "CREATE TABLE job_archive (printer TEXT NOT NULL, job_id INTEGER NOT NULL,"
        " started_at REAL NOT NULL, ended_at REAL NOT NULL, file TEXT NOT NULL, started_by TEXT,"
        " duration REAL, outcome TEXT NOT NULL, reason TEXT, filament_mm REAL,"
        " archived_at REAL NOT NULL, PRIMARY KEY (printer, job_id, started_at))"
    )
    old.execute(
        "INSERT INTO job_archive VALUES ('mk3', 1, 100.0, 200.0, 'old.gcode', 'ada', 100.0,"
        " 'completed', NULL, 10.0, 300.0)"
    )
    old.commit()
    old.close()
    hub = start_hub({"printers": [printer_entry("mk3", "http://127.0.0.1:9")], "cameras": []})
    assert hub.data_dir == data
    add_user(hub, "ada", "admin")
    # A job the print server recorded with a timelapse, archived by this release.
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    job = parse_job("mk3", {
        "id": 2, "started_at": 400.0, "ended_at": 500.0, "file": "new.gcode",
        "outcome": "completed", "timelapse": {"state": "assembling", "frames": 12},
    })  # fmt: skip
    assert job is not None and job.timelapse
    try:
        store(db, [job])
    finally:
        db.close()
    admin = login(hub.url, "ada", PASSWORD)
    jobs = {j["file"]: j for j in history(admin, hub)["jobs"]}
    assert jobs["old.gcode"]["timelapse"] is None
    assert jobs["new.gcode"]["timelapse"] == "/printers/mk3/api/v1/history/2/timelapse.mp4"
    # The history page links the video (the proxy serves it; no proxy here).
    log_in_page(page, hub, "ada", "history")
    rows = page.locator("#history table.history-jobs tbody tr")
    expect(rows).to_have_count(2)
    new = rows.filter(has_text="new.gcode")
    link = new.get_by_role("link", name="Timelapse of new.gcode on mk3")
    expect(link).to_have_attribute("href", "/printers/mk3/api/v1/history/2/timelapse.mp4")
    expect(rows.filter(has_text="old.gcode").get_by_role("link")).to_have_count(0)
    screenshot(page, "hub-history-03-timelapse")
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 360, "height": 740})
    expect(link).to_be_visible()
    screenshot(page, "hub-history-04-timelapse-phone")
