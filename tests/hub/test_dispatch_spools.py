"""The dispatch check's spool item with Spoolman (a stand-in that follows its OpenAPI
document, tests/hub/spoolman_stand_in.py), a real hub and real print servers on simulated
printers: a short spool holds a queue entry and a Print button start, a full one lets them
go; Spoolman stopped or a spool gone holds jobs — never fails them, never starts on a guess."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.hub.conftest import HubProcess, SimulatedFleet
from tests.hub.spoolman_stand_in import SpoolmanStandIn, StandInSpool
from tests.hub.test_dispatch import clear_bed, entry_in, queue, signed
from tests.hub.test_dispatch_check import asking_fleet, audit, press_print
from tests.hub.test_spools import job_file

pytestmark = pytest.mark.timeout(240)

# 1,500 mm of 1.75 mm PLA at 1.24 g/cm³: 4.46 g; with 10 % + 5 g to spare, 9.9 g wanted.
PART = job_file(1500.0, 40)
SHORT, FULL, UNKNOWN = 21, 22, 23


@pytest.fixture
def spoolman() -> Iterator[SpoolmanStandIn]:
    stand_in = SpoolmanStandIn()
    stand_in.add(StandInSpool(SHORT, "Prusament", "PLA Galaxy Black", "PLA", used_weight=995.0))
    stand_in.add(StandInSpool(FULL, "Polymaker", "PolyTerra Charcoal", "PLA"))
    stand_in.add(StandInSpool(UNKNOWN, None, "No-name PLA", "PLA", weight=None))
    stand_in.start()
    yield stand_in
    stand_in.stop()


def with_spoolman(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    spoolman: SpoolmanStandIn,
) -> tuple[HubProcess, SimulatedFleet, requests.Session]:
    """One print server asking a hub that tracks spools in ``spoolman``."""
    site = {"url": spoolman.url, "low_grams": 100}
    return asking_fleet(start_hub, simulated_printers, spoolman=site)


def load(session: requests.Session, hub: HubProcess, spool: int, printer: str = "demo-1") -> None:
    answer = session.put(
        hub.url + f"api/printers/{printer}/spools/0", json={"spool_id": spool}, timeout=20
    )
    assert answer.status_code == 200, answer.text


def submit_part(session: requests.Session, hub: HubProcess, **fields: Any) -> list[int]:
    answer = session.post(
        hub.url + "api/queue",
        files={"file": ("part.gcode", io.BytesIO(PART), "text/x.gcode")},
        data={k: str(v) for k, v in fields.items()},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return [e["id"] for e in answer.json()["entries"]]


def spool_reason(
    session: requests.Session, hub: HubProcess, entry: int, within: float = 30.0
) -> str:
    """The entry's waiting reason from the spool item, once there is one."""
    deadline = time.monotonic() + within
    while True:
        found = queue(session, hub)[entry]
        assert found["state"] == "queued", found
        texts = [r["text"] for r in found["waiting_reasons"] if r["code"] == "spool"]
        if texts:
            return str(texts[0])
        assert time.monotonic() < deadline, found["waiting_reasons"]
        time.sleep(0.2)


def test_a_short_spool_holds_the_queue_until_a_full_one_is_loaded(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    spoolman: SpoolmanStandIn,
) -> None:
    hub, _printers, admin = with_spoolman(start_hub, simulated_printers, spoolman)
    load(admin, hub, SHORT)
    (entry,) = submit_part(admin, hub)
    assert queue(admin, hub)[entry]["file"]["filament_mm"] == pytest.approx(1500.0, abs=1)
    text = spool_reason(admin, hub, entry)
    assert "Prusament PLA Galaxy Black" in text and "5.0 g left" in text, text
    assert "needs 4.5 g plus 5.4 g to spare" in text, text
    checks = admin.get(hub.url + f"api/queue/{entry}/check", timeout=10).json()["checks"]
    (item,) = [i for i in checks[0]["items"] if i["item"] == "spool"]
    assert item["verdict"] == "hold" and item["overridable"]
    # Nothing was sent meanwhile; a full spool lets it go.
    time.sleep(3)
    assert queue(admin, hub)[entry]["state"] == "queued"
    load(admin, hub, FULL)
    entry_in(admin, hub, entry, ("sent", "printing", "done"), within=60)


def test_spoolman_stopped_mid_queue_holds_the_next_entry_until_it_answers(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    spoolman: SpoolmanStandIn,
) -> None:
    hub, printers, admin = with_spoolman(start_hub, simulated_printers, spoolman)
    load(admin, hub, FULL)
    first, second = submit_part(admin, hub, copies=2)
    entry_in(admin, hub, first, ("done",), within=90)
    spoolman.stop()
    clear_bed(printers, "demo-1")
    text = spool_reason(admin, hub, second, within=40)
    assert "cannot check" in text and "does not answer" in text, text
    time.sleep(2)
    assert queue(admin, hub)[second]["state"] == "queued"  # held, not failed
    spoolman.start()
    entry_in(admin, hub, second, ("sent", "printing", "done"), within=60)


def test_the_print_button_is_held_by_a_short_unknown_or_deleted_spool(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    spoolman: SpoolmanStandIn,
) -> None:
    hub, printers, admin = with_spoolman(start_hub, simulated_printers, spoolman)
    url = printers.printers[0].url
    upload = requests.post(
        url + "api/v1/files", files={"file": ("part.gcode", io.BytesIO(PART))},
        headers=signed(printers, "demo-1"), timeout=30,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    # No spool loaded yet: the use cannot be checked.
    held = press_print(printers, "demo-1", "part.gcode")
    assert held.status_code == 409 and "no spool is assigned" in held.json()["error"], held.text
    load(admin, hub, SHORT)
    held = press_print(printers, "demo-1", "part.gcode")
    assert held.status_code == 409, held.text
    (item,) = held.json()["held"]
    assert item["item"] == "spool" and "5.0 g left" in item["text"] and item["overridable"]
    load(admin, hub, UNKNOWN)
    held = press_print(printers, "demo-1", "part.gcode")
    assert "does not know how much is left" in held.json()["error"], held.text
    load(admin, hub, FULL)
    spoolman.missing.add(FULL)  # deleted in Spoolman after it was loaded
    held = press_print(printers, "demo-1", "part.gcode")
    assert held.status_code == 409 and "does not exist" in held.json()["error"], held.text
    spoolman.missing.discard(FULL)
    # A slicer's upload-and-print while the check holds: the file is kept, nothing starts.
    spoolman.missing.add(FULL)
    sliced = requests.post(
        url + "api/files/local", files={"file": ("sliced.gcode", io.BytesIO(PART))},
        data={"print": "true"}, headers=signed(printers, "demo-1"), timeout=30,
    )  # fmt: skip
    assert sliced.status_code == 409 and "held by the dispatch check" in sliced.json()["error"]
    files = requests.get(url + "api/v1/files", headers=signed(printers, "demo-1"), timeout=10)
    assert "sliced.gcode" in {f["name"] for f in files.json()["files"]}
    spoolman.missing.discard(FULL)
    started = press_print(printers, "demo-1", "part.gcode")
    assert started.status_code == 201, started.text
    assert len(audit(admin, hub, "dispatch held")) == 5
