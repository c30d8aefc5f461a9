"""Service tasks on a real hub with real print servers on simulated printers: tasks become
due and overdue as jobs print, an operator marks one done (audited, logged, back to ok),
a viewer may not, a bad task name is a clear JSON error, and /metrics shows it all
(docs/maintenance.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from hub.app import schemas
from hub.auth.accounts import make_grants
from hub.auth.api_keys import create_key
from hub.db import open_database
from tests.hub.conftest import HubProcess, SimulatedFleet, login
from tests.hub.test_history import (
    PASSWORD,
    SHORT,
    add_user,
    print_servers,
    restart,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)

SITE_TASKS = [
    {"task": "Clean bed", "every": {"jobs": 1}, "printers": ["demo-1"]},
    # Two jobs of SHORT print 24 mm of filament: 96 % of this.
    {"task": "Dry filament", "every": {"filament_m": 0.025}},
    {"task": "Lube rails", "every": {"move_km": 200, "days": 90}, "groups": ["lab"],
     "guide": "https://example.org/lube"},
]  # fmt: skip


def maintenance(session: requests.Session, hub: HubProcess) -> dict[str, Any]:
    answer = session.get(hub.url + "api/maintenance", timeout=10)
    assert answer.status_code == 200, answer.text
    return {p["name"]: p for p in answer.json()["printers"]}


def task(printer: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in printer["tasks"] if t["task"] == name)
    return found


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if (
            match
            and match.group(1) == name
            and dict(re.findall(r'(\w+)="([^"]*)"', match.group(2))) == labels
        ):
            return float(match.group(3))
    raise AssertionError(f"no sample {name} {labels}")


def test_tasks_fall_due_and_an_operator_marks_one_done(
    start_hub: Callable[..., HubProcess], simulated_printers: Callable[..., SimulatedFleet]
) -> None:
    printers = simulated_printers(2, time_factor=200)
    fleet = printers.fleet(**{"demo-2": {"groups": ["lab"]}})
    fleet["site"]["maintenance"] = SITE_TASKS
    fleet["printers"][1]["maintenance"] = [{"task": "Replace nozzle", "every": {"jobs": 50}}]
    hub = start_hub(fleet)
    add_user(hub, "ada", "admin")
    add_user(hub, "otto", "operator", make_grants(printers=["demo-1"]))
    add_user(hub, "vic", "viewer", make_grants(printers=["demo-1"]))
    admin = login(hub.url, "ada", PASSWORD)
    # Every printer's tasks count from the hub's first reading of its counters.
    wait_until(
        lambda: all(p["counters"] for p in maintenance(admin, hub).values()), what="first reading"
    )
    start = maintenance(admin, hub)
    assert [t["task"] for t in start["demo-1"]["tasks"]] == ["Clean bed", "Dry filament"]
    assert [t["task"] for t in start["demo-2"]["tasks"]] == [
        "Dry filament",
        "Lube rails",
        "Replace nozzle",
    ]
    assert {t["state"] for p in start.values() for t in p["tasks"]} == {"ok"}
    assert task(start["demo-2"], "Lube rails")["guide"] == "https://example.org/lube"

    one, _two = print_servers(hub, printers)
    one.upload("short.gcode", SHORT)
    one.print_file("short.gcode", "otto")
    one.print_file("short.gcode", "otto")
    # The hub reads the counters when a job ends (its periodic reading is a minute apart).
    wait_until(
        lambda: maintenance(admin, hub)["demo-1"]["counters"]["jobs"]["completed"] == 2,
        seconds=30,
        what="two jobs counted",
    )
    after = maintenance(admin, hub)["demo-1"]
    assert after["counters"]["filament_mm"] == pytest.approx(24.0, abs=0.2)
    assert after["counters"]["print_seconds"] > 0
    assert after["counters"]["move_mm"] > 0
    clean = task(after, "Clean bed")
    assert clean["state"] == "overdue"
    assert clean["sentence"] == "Clean bed: 2 of 1 jobs, overdue by 1 jobs"
    dry = task(after, "Dry filament")
    assert dry["state"] == "due"
    assert dry["sentence"] == "Dry filament: 0.024 of 0.025 m of filament, due (0.001 m left)"
    assert task(maintenance(admin, hub)["demo-2"], "Dry filament")["state"] == "ok"

    metrics = admin.get(hub.url + "metrics", timeout=10)
    assert metrics.status_code == 200
    assert metric(metrics.text, "fabfleet_printer_jobs", printer="demo-1", outcome="completed") == 2
    used = metric(
        metrics.text, "fabfleet_maintenance_used_ratio", printer="demo-1", task="Clean bed"
    )
    assert used == 2.0
    assert requests.get(hub.url + "metrics", timeout=10).status_code == 401
    # Prometheus scrapes with an API key as a bearer token; the text parses as its format.
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        _, key = create_key(db, "ada", "prometheus")
    finally:
        db.close()
    scraped = requests.get(
        hub.url + "metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert scraped.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    assert {s.labels["printer"] for s in families["fabfleet_printer_print_seconds"].samples} == {
        "demo-1",
        "demo-2",
    }

    done_url = hub.url + "api/printers/demo-1/maintenance/Clean%20bed/done"
    viewer = login(hub.url, "vic", PASSWORD)
    refused = viewer.post(done_url, json={}, timeout=10)
    assert refused.status_code == 403
    assert "may watch demo-1 but not service it" in refused.json()["error"]
    # The viewer sees demo-1 only, and may not act on it.
    seen = maintenance(viewer, hub)
    assert list(seen) == ["demo-1"] and seen["demo-1"]["may_act"] is False
    assert viewer.get(hub.url + "metrics", timeout=10).text.count('printer="demo-2"') == 0

    operator = login(hub.url, "otto", PASSWORD)
    bad = operator.post(hub.url + "api/printers/demo-1/maintenance/Polish%20bed/done", timeout=10)
    assert bad.status_code == 404
    assert bad.json()["error"] == (
        "demo-1 has no service task 'Polish bed'; its tasks: 'Clean bed', 'Dry filament'"
    )
    hidden = operator.post(hub.url + "api/printers/demo-2/maintenance/Dry%20filament/done")
    assert hidden.status_code == 404 and "demo-2" in hidden.json()["error"]
    bad_note = operator.post(done_url, json={"note": 5}, timeout=10)
    assert bad_note.status_code == 400 and "'note'" in bad_note.json()["error"]

    done = operator.post(done_url, json={"note": "scraped and wiped with IPA"}, timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["done"]["counters"]["jobs"]["completed"] == 2
    now = maintenance(admin, hub)["demo-1"]
    assert task(now, "Clean bed")["state"] == "ok"
    assert task(now, "Clean bed")["sentence"] == "Clean bed: 0 of 1 jobs"
    assert task(now, "Dry filament")["state"] == "due"

    log = operator.get(hub.url + "api/printers/demo-1/maintenance/log", timeout=10).json()
    assert [(e["task"], e["done_by"], e["note"]) for e in log["log"]] == [
        ("Clean bed", "otto", "scraped and wiped with IPA")
    ]
    audit = admin.get(hub.url + "api/audit", params={"action": "maintenance done"}, timeout=10)
    entries = audit.json()["entries"]
    assert len(entries) == 1
    assert (entries[0]["user"], entries[0]["printer"]) == ("otto", "demo-1")
    assert entries[0]["detail"].startswith("Clean bed; print ")
    assert entries[0]["summary"] == "otto marked “Clean bed” done on demo-1"
    assert (
        "2 jobs" in entries[0]["detail"]
        and "note: scraped and wiped with IPA" in entries[0]["detail"]
    )
    assert viewer.get(hub.url + "api/printers/demo-2/maintenance/log").status_code == 404


def test_a_printer_new_to_the_hub_counts_from_its_first_reading_and_done_survives_a_restart(
    start_hub: Callable[..., HubProcess], simulated_printers: Callable[..., SimulatedFleet]
) -> None:
    printers = simulated_printers(2, time_factor=200)
    full = printers.fleet()
    full["site"]["maintenance"] = [
        {"task": "Clean bed", "every": {"jobs": 1}},
        {"task": "Check X/Y belts", "every": {"days": 30}},
    ]
    only_one = {**full, "printers": full["printers"][:1]}
    hub = start_hub(only_one)
    add_user(hub, "ada", "admin")
    admin = login(hub.url, "ada", PASSWORD)
    # demo-2 prints before the hub knows it.
    _one, two = print_servers(hub, printers)
    two.upload("short.gcode", SHORT)
    two.print_file("short.gcode", "ada")
    hub.write_fleet(full)
    wait_until(lambda: "demo-2" in maintenance(admin, hub), what="demo-2 in the fleet")
    wait_until(
        lambda: maintenance(admin, hub)["demo-2"]["counters"] is not None,
        seconds=30,  # read when it first answers, not at the next minute's reading
        what="demo-2's first reading",
    )
    new = maintenance(admin, hub)["demo-2"]
    assert new["counters"]["jobs"]["completed"] == 1
    assert task(new, "Clean bed")["sentence"] == "Clean bed: 0 of 1 jobs"

    two.print_file("short.gcode", "ada")
    wait_until(
        lambda: task(maintenance(admin, hub)["demo-2"], "Clean bed")["state"] == "overdue",
        seconds=30,
        what="overdue after a job",
    )
    done = admin.post(hub.url + "api/printers/demo-2/maintenance/Clean%20bed/done", timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["done"]["note"] == ""
    belts = admin.post(hub.url + "api/printers/demo-2/maintenance/Check%20X%2FY%20belts/done")
    assert belts.status_code == 200, belts.text
    assert belts.json()["done"]["task"] == "Check X/Y belts"

    again = restart(hub, full)
    try:
        admin = login(again.url, "ada", PASSWORD)
        wait_until(
            lambda: all(p["counters"] for p in maintenance(admin, again).values()),
            what="read again",
        )
        after = maintenance(admin, again)
        log = admin.get(again.url + "api/printers/demo-2/maintenance/log", timeout=10).json()
    finally:
        again.stop()
    assert task(after["demo-2"], "Clean bed")["sentence"] == "Clean bed: 0 of 1 jobs"
    # demo-1's baseline, taken at the first start, is kept too.
    assert task(after["demo-1"], "Clean bed")["sentence"] == "Clean bed: 0 of 1 jobs"
    assert [(e["task"], e["done_by"]) for e in log["log"]] == [
        ("Check X/Y belts", "ada"),
        ("Clean bed", "ada"),
    ]


def test_an_overdue_task_holds_the_next_print_until_it_is_marked_done(
    start_hub: Callable[..., HubProcess], simulated_printers: Callable[..., SimulatedFleet]
) -> None:
    """The dispatch check (docs/dispatch-check.md) asks this service what is overdue; its
    print servers ask the hub before every start."""
    hub = start_hub()
    printers = simulated_printers(1, time_factor=200, hub_url=hub.url)
    fleet = printers.fleet()
    fleet["site"]["maintenance"] = [{"task": "Clean bed", "every": {"jobs": 1}}]
    hub.write_fleet(fleet)
    add_user(hub, "otto", "operator", make_grants(printers=["demo-1"]))
    operator = login(hub.url, "otto", PASSWORD)
    wait_until(lambda: maintenance(operator, hub)["demo-1"]["counters"], what="first reading")
    (one,) = print_servers(hub, printers)
    one.upload("short.gcode", SHORT)
    one.print_file("short.gcode", "otto")
    wait_until(
        lambda: task(maintenance(operator, hub)["demo-1"], "Clean bed")["state"] == "overdue",
        seconds=30,
        what="overdue",
    )
    held = one.post("api/v1/job", "otto", json={"file": "short.gcode"})
    assert held.status_code == 409, held.text
    assert "Clean bed: 1 of 1 jobs, overdue by 0 jobs" in held.json()["error"]
    assert one.state() == "ready"
    done = operator.post(hub.url + "api/printers/demo-1/maintenance/Clean%20bed/done", json={})
    assert done.status_code == 200, done.text
    one.print_file("short.gcode", "otto")
