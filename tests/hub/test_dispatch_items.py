"""The fleet queue's dispatch check item by item and together, through a real hub and real
print servers on simulated printers: an overdue service task (held, or only a warning when
the site says so), a short spool, the heat-up budget — each shown as the entry's waiting
reason and lifted by its own fix or an admin's override of that item alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.hub.conftest import HubProcess, SimulatedFleet
from tests.hub.spoolman_stand_in import SpoolmanStandIn, StandInSpool
from tests.hub.test_dispatch import clear_bed, entry_in, queue
from tests.hub.test_dispatch_check import asking_fleet
from tests.hub.test_dispatch_spools import load, submit_part

pytestmark = pytest.mark.timeout(240)

SHORT = 31
CLEAN_BED = [{"task": "Clean bed", "every": {"jobs": 1}}]


@pytest.fixture
def spoolman() -> Iterator[SpoolmanStandIn]:
    stand_in = SpoolmanStandIn()
    stand_in.add(StandInSpool(SHORT, "Prusament", "PLA Galaxy Black", "PLA", used_weight=998.0))
    stand_in.add(StandInSpool(32, "Polymaker", "PolyTerra Charcoal", "PLA"))
    stand_in.start()
    yield stand_in
    stand_in.stop()


def codes(session: requests.Session, hub: HubProcess, entry: int) -> set[str]:
    return {r["code"] for r in queue(session, hub)[entry]["waiting_reasons"]}


def held_items(session: requests.Session, hub: HubProcess, entry: int) -> list[str]:
    (found,) = session.get(hub.url + f"api/queue/{entry}/check", timeout=10).json()["checks"]
    return [i["item"] for i in found["items"] if i["verdict"] == "hold"]


def until_codes(
    session: requests.Session, hub: HubProcess, entry: int, wanted: set[str], within: float = 60
) -> None:
    deadline = time.monotonic() + within
    while not wanted <= codes(session, hub, entry):
        assert queue(session, hub)[entry]["state"] == "queued"
        assert time.monotonic() < deadline, (wanted, queue(session, hub)[entry])
        time.sleep(0.2)


def test_overdue_maintenance_holds_then_warns_then_is_done(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    hub, printers, admin = asking_fleet(start_hub, simulated_printers, maintenance=CLEAN_BED)
    first, second = submit_part(admin, hub, target="printer:demo-1", copies=2)
    entry_in(admin, hub, first, ("done",), within=90)
    clear_bed(printers, "demo-1")
    until_codes(admin, hub, second, {"maintenance"})
    reason = next(r for r in queue(admin, hub)[second]["waiting_reasons"]
                  if r["code"] == "maintenance")  # fmt: skip
    assert "Clean bed: 1 of 1 jobs" in reason["text"]
    assert held_items(admin, hub, second) == ["maintenance"]
    row = next(p for p in admin.get(hub.url + "api/queue", timeout=10).json()["printers"]
               if p["name"] == "demo-1")  # fmt: skip
    assert row["code"] == "maintenance" and not row["taking_work"]
    # The site only warns about overdue tasks: the entry goes, the warning stays in its check.
    fleet = printers.fleet()
    fleet["site"].update(maintenance=CLEAN_BED, dispatch={"overdue_maintenance": "warn"})
    hub.write_fleet(fleet)
    entry_in(admin, hub, second, ("sent", "printing", "done"), within=60)


def test_items_hold_together_and_each_override_lifts_only_its_own(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    spoolman: SpoolmanStandIn,
) -> None:
    spoolman_site = {"url": spoolman.url, "low_grams": 100}
    hub, printers, admin = asking_fleet(
        start_hub, simulated_printers, maintenance=CLEAN_BED, spoolman=spoolman_site
    )
    load(admin, hub, 32)
    first, second = submit_part(admin, hub, target="printer:demo-1", copies=2)
    entry_in(admin, hub, first, ("done",), within=90)
    load(admin, hub, SHORT)
    clear_bed(printers, "demo-1")
    until_codes(admin, hub, second, {"spool"})
    assert held_items(admin, hub, second) == ["spool", "maintenance"]
    url = hub.url + f"api/queue/{second}/override"
    assert admin.post(url, json={"item": "spool"}, timeout=10).status_code == 200
    until_codes(admin, hub, second, {"maintenance"})
    assert held_items(admin, hub, second) == ["maintenance"]
    time.sleep(2)
    assert queue(admin, hub)[second]["state"] == "queued"
    assert admin.post(url, json={"item": "maintenance"}, timeout=10).status_code == 200
    started = entry_in(admin, hub, second, ("sent", "printing", "done"), within=60)
    assert started["overrides"] == {"spool": "ada", "maintenance": "ada"}
