"""Spools (docs/spools.md): a real hub process, real print servers on simulated printers and
a Spoolman stand-in on loopback that follows Spoolman's OpenAPI document
(tests/hub/spoolman_stand_in.py, checked by tests/hub/test_spoolman_stand_in.py).

An operator loads a spool into a printer from the hub; every job that printer ends is
reported to Spoolman once, in grams (the job's filament share times the filament's density and
cross-section); Spoolman not answering keeps the report until it answers again, a deleted
spool and a refused report are shown, never retried; without Spoolman nothing changes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from hub.auth.rights import Grants
from hub.spools.model import filament_grams
from tests.hub.conftest import HubProcess, SimulatedFleet, login, printer_entry, unused_port
from tests.hub.spoolman_stand_in import SpoolmanStandIn, StandInSpool
from tests.hub.test_history import (
    PASSWORD,
    add_user,
    history,
    print_servers,
    restart,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)


def job_file(filament_mm: float, moves: int) -> bytes:
    """A file that declares ``filament_mm`` of filament and extrudes over ``moves`` moves."""
    step = filament_mm / moves
    return b"".join(
        [
            f"; filament used = {filament_mm:.1f}mm\n".encode(),
            b"M82\nG92 E0\n",
            *(
                f"G1 X{10 + i % 80} Y{10 + (i * 7) % 80} E{(i + 1) * step:.3f} F3000\n".encode()
                for i in range(moves)
            ),
            b"M400\n",
        ]
    )


PART = job_file(1500.0, 40)
# Long enough to be cancelled while it prints.
LONG = job_file(4000.0, 4000)


@pytest.fixture
def spoolman() -> Iterator[SpoolmanStandIn]:
    stand_in = SpoolmanStandIn()
    stand_in.add(StandInSpool(12, "Prusament", "PLA Galaxy Black", "PLA", location="shelf A"))
    stand_in.add(StandInSpool(13, None, "No-name PETG", "petg", density=1.27, weight=None))
    stand_in.add(StandInSpool(14, "Polymaker", "PolyTerra Charcoal", "PLA", used_weight=950.0))
    stand_in.start()
    yield stand_in
    stand_in.stop()


def with_spoolman(fleet: dict[str, Any], url: str, low_grams: float = 100) -> dict[str, Any]:
    fleet["site"]["spoolman"] = {"url": url, "low_grams": low_grams}
    return fleet


def audit_rows(hub: HubProcess, action: str) -> list[sqlite3.Row]:
    db = sqlite3.connect(hub.data_dir / "hub.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return db.execute(
            "SELECT user, action, printer, detail FROM audit WHERE action = ? ORDER BY id",
            (action,),
        ).fetchall()
    finally:
        db.close()


def reports(session: requests.Session, hub: HubProcess, **query: str) -> list[dict[str, Any]]:
    answer = session.get(hub.url + "api/spools/reports", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["reports"]
    return found


def report_of(session: requests.Session, hub: HubProcess, job_id: int) -> dict[str, Any] | None:
    return next((r for r in reports(session, hub) if r["job_id"] == job_id), None)


def newest_job(session: requests.Session, hub: HubProcess, count: int) -> dict[str, Any]:
    """The newest archived job, once ``count`` jobs are archived."""
    wait_until(lambda: history(session, hub)["total"] == count, what=f"{count} jobs archived")
    job: dict[str, Any] = history(session, hub)["jobs"][0]
    return job


def test_a_loaded_spool_is_charged_once_per_job_through_outages_and_refusals(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    spoolman: SpoolmanStandIn,
    request: pytest.FixtureRequest,
) -> None:
    printers = simulated_printers(1, time_factor=200)
    hub = start_hub(with_spoolman(printers.fleet(), spoolman.url))
    add_user(hub, "ada", "admin")
    add_user(hub, "olga", "operator", Grants(printers=frozenset({"demo-1"})))
    add_user(hub, "vic", "viewer", Grants(printers=frozenset({"demo-1"})))
    admin = login(hub.url, "ada", PASSWORD)
    olga = login(hub.url, "olga", PASSWORD)
    vic = login(hub.url, "vic", PASSWORD)
    (printer,) = print_servers(hub, printers)
    printer.upload("part.gcode", PART)
    printer.upload("long.gcode", LONG)
    assign = hub.url + "api/printers/demo-1/spools/0"

    # The picker: Spoolman's spools, as any logged-in user sees them.
    picker = vic.get(hub.url + "api/spools", timeout=10).json()
    assert picker["enabled"] is True
    assert [(s["id"], s["name"], s["material"]) for s in picker["spools"]] == [
        (12, "Prusament PLA Galaxy Black #12", "PLA"),
        (13, "No-name PETG #13", "PETG"),
        (14, "Polymaker PolyTerra Charcoal #14", "PLA"),
    ]

    # A job that ends before any spool is loaded is charged to no spool.
    printer.print_file("part.gcode", "olga")
    before = newest_job(admin, hub, 1)

    # A spool Spoolman does not know is refused and not stored; a viewer may not load one.
    unknown = olga.put(assign, json={"spool_id": 99}, timeout=20)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "spool 99 does not exist in Spoolman"
    refused = vic.put(assign, json={"spool_id": 12}, timeout=20)
    assert refused.status_code == 403
    assert "may watch demo-1 but not act" in refused.json()["error"]
    for bad in ({"spool_id": "12"}, {"spool_id": -1}, {}, {"spool_id": True}):
        answer = olga.put(assign, json=bad, timeout=20)
        assert answer.status_code == 400, (bad, answer.text)
    for tool in ("99", "²", "-1", "0" * 5000, "T0"):
        answer = olga.put(hub.url + f"api/printers/demo-1/spools/{tool}", json={"spool_id": 12},
                          timeout=20)  # fmt: skip
        assert answer.status_code == 400, (tool, answer.text)
        assert "tool must be 0 to 15" in answer.json()["error"]
    assert olga.get(hub.url + "api/printers/demo-1/spools", timeout=10).json()["spools"] == []

    loaded = olga.put(assign, json={"spool_id": 12}, timeout=20)
    assert loaded.status_code == 200, loaded.text
    spool = loaded.json()["spool"]
    assert (spool["spool_id"], spool["name"], spool["material"]) == (
        12, "Prusament PLA Galaxy Black #12", "PLA",
    )  # fmt: skip
    assert spool["remaining_g"] == 1000.0 and spool["low"] is False and spool["error"] is None
    assert [tuple(r) for r in audit_rows(hub, "spool assign")] == [
        ("olga", "spool assign", "demo-1", "T0: spool Prusament PLA Galaxy Black #12")
    ]
    assert [tuple(r) for r in audit_rows(hub, "refused spool assign")] == [
        ("vic", "refused spool assign", "demo-1", "T0")
    ]
    shown = vic.get(hub.url + "api/printers/demo-1/spools", timeout=10).json()
    assert [s["spool_id"] for s in shown["spools"]] == [12]

    # A completed job: its filament in grams, once.
    printer.print_file("part.gcode", "olga")
    done = newest_job(admin, hub, 2)
    sent = wait_until(lambda: (r := report_of(admin, hub, done["id"])) and r["state"] == "sent"
                      and r, seconds=30, what="the completed job reported")  # fmt: skip
    grams = filament_grams(done["filament_mm"], 1.24, 1.75)
    assert done["filament_mm"] == pytest.approx(1500.0, abs=1)
    assert sent["grams"] == pytest.approx(grams, abs=0.001)
    assert spoolman.applied == [(12, {"use_weight": sent["grams"]})]
    assert spoolman.spools[12].used_weight == pytest.approx(grams, abs=0.001)
    assert report_of(admin, hub, before["id"]) is None
    # The cache follows Spoolman's answer to the use.
    remaining = olga.get(hub.url + "api/printers/demo-1/spools", timeout=10).json()["spools"][0]
    assert remaining["remaining_g"] == pytest.approx(1000 - grams, abs=0.001)

    # A cancelled job: the printed share only.
    printer.print_file("long.gcode", "olga", cancel=True)
    cancelled = newest_job(admin, hub, 3)
    assert cancelled["outcome"] == "cancelled"
    assert 0 < cancelled["filament_mm"] < 4000
    share = wait_until(lambda: (r := report_of(admin, hub, cancelled["id"])) and r["state"]
                       == "sent" and r, seconds=30, what="the cancelled job reported")  # fmt: skip
    assert share["grams"] == pytest.approx(
        filament_grams(cancelled["filament_mm"], 1.24, 1.75), abs=0.001
    )
    assert len(spoolman.applied) == 2

    # Spoolman stops answering: the report waits, then goes once when Spoolman is back.
    spoolman.stop()
    printer.print_file("part.gcode", "olga")
    waiting_job = newest_job(admin, hub, 4)
    waiting = wait_until(lambda: (r := report_of(admin, hub, waiting_job["id"])) and r["tries"]
                         >= 1 and r, seconds=30, what="a failed try")  # fmt: skip
    assert waiting["state"] == "pending"
    assert "does not answer" in waiting["last_error"]
    shown = olga.get(hub.url + "api/printers/demo-1/spools", timeout=10).json()
    assert "does not answer" in (shown["down"] or "")
    # A pending report outlives a restart of the hub (and so does the spool loaded).
    hub = restart(hub, with_spoolman(printers.fleet(), spoolman.url))
    request.addfinalizer(hub.stop)
    assign = hub.url + "api/printers/demo-1/spools/0"
    admin, olga, vic = (login(hub.url, name, PASSWORD) for name in ("ada", "olga", "vic"))
    assert report_of(admin, hub, waiting_job["id"])["state"] == "pending"  # type: ignore[index]
    shown = olga.get(hub.url + "api/printers/demo-1/spools", timeout=10).json()
    assert [s["spool_id"] for s in shown["spools"]] == [12]
    spoolman.start()
    wait_until(lambda: report_of(admin, hub, waiting_job["id"])["state"] == "sent",  # type: ignore[index]
               seconds=90, what="the waiting report sent")  # fmt: skip
    time.sleep(5)  # a few more rounds of the sender: nothing goes twice
    assert len(spoolman.applied) == 3
    assert [r["state"] for r in reports(admin, hub)] == ["sent", "sent", "sent"]

    # The spool is deleted in Spoolman: the report is "gone", never retried, and shown.
    spoolman.missing.add(12)
    printer.print_file("part.gcode", "olga")
    gone_job = newest_job(admin, hub, 5)
    gone = wait_until(lambda: (r := report_of(admin, hub, gone_job["id"])) and r["state"]
                      == "gone" and r, seconds=30, what="the report gone")  # fmt: skip
    assert gone["last_error"] == "spool 12 does not exist in Spoolman"
    shown = olga.get(hub.url + "api/printers/demo-1/spools", timeout=10).json()
    assert shown["spools"][0]["error"] == "spool 12 does not exist in Spoolman"
    assert any("does not exist in Spoolman" in p for p in shown["problems"])

    # Spoolman refuses a report (422): "failed" with its reason, never retried.
    spoolman.missing.clear()
    spoolman.reject_use = 1
    printer.print_file("part.gcode", "olga")
    failed_job = newest_job(admin, hub, 6)
    failed = wait_until(lambda: (r := report_of(admin, hub, failed_job["id"])) and r["state"]
                        == "failed" and r, seconds=30, what="the report failed")  # fmt: skip
    assert "Spoolman refused" in failed["last_error"]
    assert "finite number" in failed["last_error"]
    assert len(spoolman.applied) == 3
    # A viewer sees the reports of the printers granted to them.
    assert len(reports(vic, hub, printer="demo-1")) == 5

    # Unloading: audited, nothing more is charged.
    unloaded = olga.put(assign, json={"spool_id": None}, timeout=20)
    assert unloaded.status_code == 200 and unloaded.json()["spool"] is None
    assert audit_rows(hub, "spool assign")[-1]["detail"] == "T0: unloaded"


def test_spoolman_answering_badly_or_slowly_refuses_a_load_with_a_clear_message(
    start_hub: Callable[..., HubProcess], spoolman: SpoolmanStandIn
) -> None:
    fleet = {
        "site": {"max_heating": 0, "spoolman": {"url": spoolman.url, "low_grams": 100}},
        "printers": [printer_entry("mk3", f"http://127.0.0.1:{unused_port()}")],
        "cameras": [],
    }
    hub = start_hub(fleet)
    add_user(hub, "ada", "admin")
    admin = login(hub.url, "ada", PASSWORD)
    assign = hub.url + "api/printers/mk3/spools/0"

    # Little left: shown as low (below the site's 100 g); an unknown weight is not low.
    low = admin.put(assign, json={"spool_id": 14}, timeout=20).json()["spool"]
    assert low["remaining_g"] == 50.0 and low["low"] is True
    unknown = admin.put(hub.url + "api/printers/mk3/spools/1", json={"spool_id": 13}, timeout=20)
    assert unknown.json()["spool"]["remaining_g"] is None
    assert unknown.json()["spool"]["low"] is False
    assert unknown.json()["spool"]["density"] == 1.27

    spoolman.garbage = True
    nonsense = admin.put(assign, json={"spool_id": 12}, timeout=20)
    assert nonsense.status_code == 502
    assert nonsense.json()["error"].startswith("Spoolman answered nonsense")
    assert admin.get(hub.url + "api/spools", timeout=20).status_code == 502
    spoolman.garbage = False

    # The stand-in would answer after 20 s; the hub gives up after 5 s, before it answered.
    spoolman.slow = 20.0
    slow = admin.put(assign, json={"spool_id": 12}, timeout=40)
    assert slow.status_code == 502
    assert "does not answer (no answer within 5 s)" in slow.json()["error"]
    assert spoolman.slow_answered == 0
    spoolman.slow = 0.0
    # Neither failed load changed anything.
    shown = admin.get(hub.url + "api/printers/mk3/spools", timeout=10).json()
    assert [(s["tool"], s["spool_id"]) for s in shown["spools"]] == [(0, 14), (1, 13)]

    spoolman.stop()
    down = admin.put(assign, json={"spool_id": 12}, timeout=20)
    assert down.status_code == 502
    assert down.json()["error"].startswith(f"Spoolman at {spoolman.url} does not answer")
    everything = admin.get(hub.url + "api/spools/loaded", timeout=10).json()
    assert [s["spool_id"] for s in everything["printers"][0]["spools"]] == [14, 13]


def test_without_spoolman_the_hub_works_as_before_and_says_spools_are_off(
    start_hub: Callable[..., HubProcess],
) -> None:
    fleet = {
        "site": {"max_heating": 0},
        "printers": [printer_entry("mk3", f"http://127.0.0.1:{unused_port()}")],
        "cameras": [],
    }
    hub = start_hub(fleet)
    add_user(hub, "ada", "admin")
    admin = login(hub.url, "ada", PASSWORD)
    picker = admin.get(hub.url + "api/spools", timeout=10)
    assert picker.status_code == 200
    assert picker.json() == {
        "enabled": False, "spoolman": None, "low_grams": None, "down": None, "spools": [],
    }  # fmt: skip
    assert admin.get(hub.url + "api/printers/mk3/spools", timeout=10).json()["enabled"] is False
    assert admin.get(hub.url + "api/spools/reports", timeout=10).json()["reports"] == []
    refused = admin.put(hub.url + "api/printers/mk3/spools/0", json={"spool_id": 12}, timeout=10)
    assert refused.status_code == 409
    assert "no Spoolman is configured" in refused.json()["error"]
    assert admin.get(hub.url + "api/fleet", timeout=10).status_code == 200
    assert admin.get(hub.url + "api/history", timeout=10).status_code == 200
    assert admin.get(hub.url + "api/printers/nope/spools", timeout=10).status_code == 404
    assert requests.get(hub.url + "api/spools", timeout=10).status_code == 401
