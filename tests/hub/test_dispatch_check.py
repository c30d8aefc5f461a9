"""The one dispatch check, through real processes: print servers (fabfleet-instance on
fabfleet-sim) that ask a real hub before every start, the fleet queue, and admins'
overrides (docs/dispatch-check.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.printer_requests import HEADER, sign
from hub.auth.rights import Grants
from hub.auth.signing import read_master_key
from hub.db import open_database
from tests.hub.conftest import HubProcess, SimulatedFleet, login, printer_entry, unused_port
from tests.hub.test_dispatch import (
    PASSWORD,
    entry_in,
    printer_status,
    queue,
    signed,
    submit,
    until,
)

pytestmark = pytest.mark.timeout(240)

FILE = "cube_slic3r.gcode"


def user(
    hub: HubProcess, name: str, role: str = "admin", grants: Grants | None = None
) -> requests.Session:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, name, PASSWORD, role, grants)
    finally:
        db.close()
    return login(hub.url, name, PASSWORD)


def asking_fleet(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    count: int = 1,
    time_factor: float = 200,
    **site: Any,
) -> tuple[HubProcess, SimulatedFleet, requests.Session]:
    """A hub, ``count`` print servers that ask it before every start, fleet.json with
    ``site`` settings added, and an admin's session."""
    hub = start_hub()
    printers = simulated_printers(count, time_factor=time_factor, hub_url=hub.url)
    for printer in printers.printers:  # connected to its board before a test presses Print
        name = printer.name
        until(
            f"{name} is ready",
            lambda n=name: printer_status(printers, n)["state"] == "ready",  # type: ignore[misc]
            30,
        )
    fleet = printers.fleet()
    fleet["site"].update(site)
    hub.write_fleet(fleet)
    return hub, printers, user(hub, "ada")


def press_print(fleet: SimulatedFleet, name: str, file: str = FILE) -> requests.Response:
    """The printer page's Print button (its API call), as the gate lets it through."""
    url = next(p.url for p in fleet.printers if p.name == name)
    return requests.post(
        url + "api/v1/job", json={"file": file}, headers=signed(fleet, name), timeout=30
    )


def audit(session: requests.Session, hub: HubProcess, action: str) -> list[dict[str, Any]]:
    answer = session.get(hub.url + "api/audit", params={"action": action}, timeout=10)
    answer.raise_for_status()
    return [e for e in answer.json()["entries"] if e["action"] == action]


def ask(
    hub: HubProcess, printer: str, body: dict[str, Any], header: str | None
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[HEADER] = header
    return requests.post(
        hub.url + f"api/printers/{printer}/dispatch-check",
        data=json.dumps(body).encode(), headers=headers, timeout=10,
    )  # fmt: skip


def test_only_the_printer_itself_may_ask_and_only_now(start_hub: Callable[..., HubProcess]) -> None:
    fleet = {"printers": [printer_entry("p1", f"http://127.0.0.1:{unused_port()}"),
                          printer_entry("p2", f"http://127.0.0.1:{unused_port()}")],
             "cameras": []}  # fmt: skip
    hub = start_hub(fleet)
    master = read_master_key(hub.gate_key_file)
    path = "/api/printers/p1/dispatch-check"
    body = {"file": FILE, "filament_mm": 730.0, "user": "ada"}
    raw = json.dumps(body).encode()
    good = sign(master, "p1", "POST", path, raw, time.time())
    answer = ask(hub, "p1", body, good)
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["ready"] is True
    # The print server checks printer and bed itself; the hub says the rest.
    assert [i["item"] for i in verdict["items"]] == [
        "profile", "power", "spool", "maintenance", "heat",
    ]  # fmt: skip
    refusals = {
        "no signature": None,
        "another printer's key": sign(master, "p2", "POST", path, raw, time.time()),
        "a wrong master key": sign(b"x" * 32, "p1", "POST", path, raw, time.time()),
        "two minutes old": sign(master, "p1", "POST", path, raw, time.time() - 120),
        "another body": sign(master, "p1", "POST", path, b"{}", time.time()),
        "garbage": "p1:notanumber:abc",
    }
    for why, header in refusals.items():
        refused = ask(hub, "p1", body, header)
        assert refused.status_code == 403, (why, refused.text)
        assert "error" in refused.json(), why
    bad = ask(hub, "p1", {"filament_mm": 1}, sign(master, "p1", "POST", path,
              json.dumps({"filament_mm": 1}).encode(), time.time()))  # fmt: skip
    assert bad.status_code == 400 and "file" in bad.json()["error"]
    unknown = ask(hub, "nope", body, good)
    assert unknown.status_code == 404


def test_a_hub_that_cannot_be_asked_holds_the_print_and_loses_nothing(
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(1, hub_url=f"http://127.0.0.1:{unused_port()}/")
    # The print server may still be connecting to its board (a loaded CI host).
    until("demo-1 is ready", lambda: printer_status(fleet, "demo-1")["state"] == "ready", 30)
    answer = press_print(fleet, "demo-1")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert "held by the dispatch check" in error and "cannot be asked" in error
    status = printer_status(fleet, "demo-1")
    assert status["state"] == "ready" and status["bed_clear"] is True
    url = fleet.printers[0].url
    files = requests.get(url + "api/v1/files", headers=signed(fleet, "demo-1"), timeout=10)
    assert FILE in {f["name"] for f in files.json()["files"]}


def test_the_print_button_is_held_by_the_heat_budget_until_an_admin_overrides(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    hub, fleet, admin = asking_fleet(start_hub, simulated_printers, 2, 4, max_heating=1)
    operator = user(hub, "olaf", "operator", Grants(frozenset({"*"})))
    # The queue sends a job to demo-1: it heats, and the budget of one is full.
    (entry,) = submit(admin, hub, target="printer:demo-1")
    entry_in(admin, hub, entry["id"], ("sent", "printing"))
    held = press_print(fleet, "demo-2")
    assert held.status_code == 409, held.text
    assert "heat-up budget full: 1 of 1 printers heating" in held.json()["error"]
    assert printer_status(fleet, "demo-2")["state"] == "ready"
    assert audit(admin, hub, "dispatch held")[0]["printer"] == "demo-2"
    # Only an admin may override, and only an item that may be.
    override = {"item": "heat", "file": FILE}
    url = hub.url + "api/printers/demo-2/dispatch-override"
    assert operator.post(url, json=override, timeout=10).status_code == 403
    bed = admin.post(url, json={"item": "bed", "file": FILE}, timeout=10)
    assert bed.status_code == 409 and "cannot be overridden" in bed.json()["error"]
    assert admin.post(url, json={"item": "nonsense", "file": FILE}, timeout=10).status_code == 400
    granted = admin.post(url, json=override, timeout=10)
    assert granted.status_code == 201, granted.text
    started = press_print(fleet, "demo-2")
    assert started.status_code in (200, 201), started.text
    assert printer_status(fleet, "demo-2")["state"] == "printing"
    (note,) = audit(admin, hub, "dispatch override")
    assert note["user"] == "ada" and "heat" in note["detail"] and FILE in note["detail"]


def test_a_queue_entry_held_by_the_budget_starts_once_an_admin_overrides_it(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    hub, _fleet, admin = asking_fleet(start_hub, simulated_printers, 2, 4, max_heating=1)
    viewer = user(hub, "vic", "viewer", Grants(frozenset({"*"})))
    first, second = (e["id"] for e in submit(admin, hub, copies=2))
    on = until("the first copy is sent", lambda: queue(admin, hub)[first]["printer"])
    waiting = queue(admin, hub)[second]
    assert waiting["state"] == "queued"
    codes = [r["code"] for r in waiting["waiting_reasons"]]
    assert codes[0] == "heating_budget", waiting["waiting_reasons"]
    # Its check, item by item, on each printer of its target.
    checks = admin.get(hub.url + f"api/queue/{second}/check", timeout=10).json()["checks"]
    free = next(c for c in checks if c["printer"] != on)
    heat = next(i for i in free["items"] if i["item"] == "heat")
    assert heat["verdict"] == "hold" and heat["overridable"] is True
    refused = viewer.post(hub.url + f"api/queue/{second}/override", json={"item": "heat"},
                          timeout=10)  # fmt: skip
    assert refused.status_code == 403
    done = admin.post(hub.url + f"api/queue/{second}/override", json={"item": "heat"}, timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["overrides"] == {"heat": "ada"}
    started = entry_in(admin, hub, second, ("sent", "printing"), within=30)
    assert started["printer"] != on
    (note,) = audit(admin, hub, "dispatch override")
    assert f"queue entry {second}" in note["detail"]


def test_the_print_button_checks_what_the_file_was_sliced_for(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    hub = start_hub()
    printers = simulated_printers(1, time_factor=200, hub_url=hub.url)
    profile = {"materials": ["PLA"], "nozzle": 0.4, "bed": None}
    hub.write_fleet(printers.fleet(**{"demo-1": {"profile": profile}}))
    admin = user(hub, "ada")
    url = printers.printers[0].url
    petg = b"; filament_type = PETG\n; nozzle_diameter = 0.6\nG28\nG1 X10 Y10 E1 F3000\n"
    upload = requests.post(
        url + "api/v1/files", files={"file": ("petg.gcode", petg)},
        headers=signed(printers, "demo-1"), timeout=30,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    held = press_print(printers, "demo-1", "petg.gcode")
    assert held.status_code == 409, held.text
    (item,) = held.json()["held"]
    assert item["item"] == "profile"
    assert item["text"] == "needs PETG; demo-1 has PLA"  # the nozzle: for the queue only
    # A PLA file for this nozzle starts.
    assert press_print(printers, "demo-1", "cube_prusa_marlin2.gcode").status_code == 201
    assert audit(admin, hub, "dispatch held")[0]["detail"].startswith("petg.gcode")
