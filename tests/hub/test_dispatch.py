"""The fleet queue against real simulated printers: a real hub process sends queued jobs
to real print servers (fabfleet-instance on fabfleet-sim) and follows them."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from tests.hub.conftest import (
    HubProcess,
    SimulatedFleet,
    login,
    printer_entry,
    start_hub_process,
)

pytestmark = pytest.mark.timeout(240)

SQUARE = Path(__file__).resolve().parents[1] / "fixtures" / "queue" / "square.gcode"
PASSWORD = "queue-test-password-1"


def gate_key_file(fleet: SimulatedFleet) -> Path:
    """The master key the demo's print servers derive their keys from (the hub's)."""
    assert fleet.demo is not None
    return fleet.demo.workdir / "secrets" / "gate.key"


def signed(fleet: SimulatedFleet, name: str) -> dict[str, str]:
    """The gate's identity for one print server (they refuse requests without)."""
    key = read_master_key(gate_key_file(fleet))
    return {HEADER: identity_for(key, name, "tester", True)}


def add_user(hub: HubProcess, name: str, role: str = "admin") -> requests.Session:
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, name, PASSWORD, role)
    finally:
        db.close()
    return login(hub.url, name, PASSWORD)


def submit(
    session: requests.Session,
    hub: HubProcess,
    path: Path = SQUARE,
    **fields: Any,
) -> list[dict[str, Any]]:
    with path.open("rb") as source:
        answer = session.post(
            hub.url + "api/queue",
            files={"file": (path.name, source, "text/x.gcode")},
            data={k: str(v) for k, v in fields.items()},
            timeout=30,
        )
    assert answer.status_code == 201, answer.text
    entries: list[dict[str, Any]] = answer.json()["entries"]
    return entries


def queue(session: requests.Session, hub: HubProcess) -> dict[int, dict[str, Any]]:
    answer = session.get(hub.url + "api/queue", timeout=10)
    answer.raise_for_status()
    return {e["id"]: e for e in answer.json()["entries"]}


def until(what: str, test: Callable[[], Any], within: float = 60.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = test()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within} s: {what}")
        time.sleep(every)


def entry_in(
    session: requests.Session,
    hub: HubProcess,
    entry: int,
    states: tuple[str, ...],
    within: float = 60.0,
) -> dict[str, Any]:
    """The entry once its state is one of ``states``."""

    def test() -> dict[str, Any] | None:
        found = queue(session, hub)[entry]
        return found if found["state"] in states else None

    result: dict[str, Any] = until(f"entry {entry} {' or '.join(states)}", test, within)
    return result


STARTED = ("sent", "printing", "done")


def printer_status(fleet: SimulatedFleet, name: str) -> dict[str, Any]:
    url = next(p.url for p in fleet.printers if p.name == name)
    answer = requests.get(url + "api/v1/printer", headers=signed(fleet, name), timeout=5)
    answer.raise_for_status()
    status: dict[str, Any] = answer.json()
    return status


def clear_bed(fleet: SimulatedFleet, name: str) -> None:
    url = next(p.url for p in fleet.printers if p.name == name)
    requests.post(
        url + "api/v1/bed/clear", headers=signed(fleet, name), timeout=5
    ).raise_for_status()


def states(entries: dict[int, dict[str, Any]], ids: list[int]) -> list[str]:
    return [entries[i]["state"] for i in ids]


def server_process(fleet: SimulatedFleet, name: str) -> subprocess.Popen[str]:
    assert fleet.demo is not None
    for process in fleet.demo.processes:
        command = [str(a) for a in process.args]  # type: ignore[union-attr]
        if "fabfleet-instance" in command[0] and name in command and process.poll() is None:
            return process
    raise AssertionError(f"no print server process for {name}")


def test_copies_spread_over_a_group_and_wait_for_a_clear_bed(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(2, time_factor=50)
    hub = start_hub(
        fleet.fleet(**{p.name: {"groups": ["lab"]} for p in fleet.printers}),
    )
    session = add_user(hub, "ada")
    ids = [e["id"] for e in submit(session, hub, copies=3, target="group:lab")]
    assert len(ids) == 3

    # Two copies start, one on each printer; the third waits.
    entries = until(
        "two copies on two printers",
        lambda: (q := queue(session, hub)) and sum(
            q[i]["state"] in ("sent", "printing", "done") for i in ids
        ) == 2 and q,
    )  # fmt: skip
    printers = {entries[i]["printer"] for i in ids[:2]}
    assert printers == {"demo-1", "demo-2"}
    assert entries[ids[2]]["state"] == "queued"

    # Both finish; the printers wait for a person to confirm the bed is clear.
    until("both done", lambda: states(queue(session, hub), ids[:2]) == ["done", "done"])
    time.sleep(3)
    assert queue(session, hub)[ids[2]]["state"] == "queued"
    assert printer_status(fleet, "demo-2")["bed_clear"] is False

    clear_bed(fleet, "demo-2")
    entry = until(
        "the third copy on demo-2",
        lambda: (e := queue(session, hub)[ids[2]])["state"] != "queued" and e,
        within=20,
    )
    assert entry["printer"] == "demo-2"
    done = until(
        "third copy done", lambda: (e := queue(session, hub)[ids[2]])["state"] == "done" and e
    )
    assert done["started_at"] is not None and done["ended_at"] >= done["started_at"]
    # The print server's history names the submitter and the queue's own file name.
    history = requests.get(
        fleet.printers[1].url + "api/v1/history", headers=signed(fleet, "demo-2"), timeout=5
    ).json()
    names = {job["file"] for job in history["jobs"]}
    assert names == {f"q{done['file']['id']}-square.gcode"}
    assert {job["started_by"] for job in history["jobs"]} == {"ada"}
    # Every entry done: the hub no longer keeps the file.
    assert list((hub.data_dir / "queue").iterdir()) == []


def test_higher_priority_goes_first(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(1, time_factor=50)
    hub = start_hub(fleet.fleet())
    session = add_user(hub, "ada")
    first = submit(session, hub)[0]["id"]
    until("the first job done", lambda: queue(session, hub)[first]["state"] == "done")
    low = submit(session, hub, priority=0)[0]["id"]
    high = submit(session, hub, priority=5)[0]["id"]
    later = submit(session, hub, priority=0)[0]["id"]
    # "top" is the very top: it goes first of all, taking the highest priority queued.
    moved = session.patch(hub.url + f"api/queue/{later}", json={"position": "top"}, timeout=10)
    assert moved.status_code == 200, moved.text
    order: list[int] = []
    for _ in range(3):
        clear_bed(fleet, "demo-1")
        started = until(
            "the next job starts",
            lambda: [
                i for i in (low, high, later)
                if i not in order and queue(session, hub)[i]["state"] != "queued"
            ],
            within=30,
        )  # fmt: skip
        assert len(started) == 1
        order.append(started[0])
        until("it is done", lambda: queue(session, hub)[order[-1]]["state"] == "done")
    assert order == [later, high, low]


def test_petg_job_skips_a_pla_only_printer(
    tmp_path: Path,
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(2, time_factor=50)
    hub = start_hub(
        fleet.fleet(
            **{
                "demo-1": {"profile": {"materials": ["PLA"], "nozzle": 0.4, "bed": None}},
                "demo-2": {"profile": {"materials": ["PETG", "PLA"], "nozzle": 0.4, "bed": None}},
            }
        ),
    )
    session = add_user(hub, "ada")
    petg = tmp_path / "petg.gcode"
    petg.write_text(SQUARE.read_text().replace("filament_type = PLA", "filament_type = PETG"))
    entry = submit(session, hub, petg)[0]
    assert entry["file"]["material"] == "PETG"
    started = entry_in(session, hub, entry["id"], STARTED)
    assert started["printer"] == "demo-2"
    time.sleep(1)
    assert printer_status(fleet, "demo-1")["state"] == "ready"


def test_max_heating_staggers_heat_up(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(2, time_factor=15)
    layout = fleet.fleet()
    layout["site"]["max_heating"] = 1
    hub = start_hub(layout)
    session = add_user(hub, "ada")
    first, second = (e["id"] for e in submit(session, hub, copies=2))
    on = until("the first copy is sent", lambda: queue(session, hub)[first]["printer"])
    other = "demo-2" if on == "demo-1" else "demo-1"
    seen_heating = 0
    deadline = time.monotonic() + 60
    while True:
        status = printer_status(fleet, on)
        entries = queue(session, hub)
        heaters = status["heaters"].values()
        heating = status["state"] == "printing" and any(
            (h["target"] or 0) > 0 and (h["actual"] or 0) < (h["target"] or 0) - 3 for h in heaters
        )
        if entries[second]["state"] != "queued":
            break
        seen_heating += heating
        assert time.monotonic() < deadline, "the second copy never started"
        time.sleep(0.1)
    # The second copy waited while the first printer heated, and started only once it was hot.
    assert seen_heating >= 5, "the first printer was never seen heating"
    assert not heating, f"the second copy started while {on} was still heating: {status['heaters']}"
    assert entries[second]["printer"] == other


def test_print_server_killed_mid_print_interrupts_only_its_entry(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(2, time_factor=10)
    hub = start_hub(fleet.fleet())
    session = add_user(hub, "ada")
    ids = [e["id"] for e in submit(session, hub, copies=2)]
    until("both printing", lambda: states(queue(session, hub), ids) == ["printing", "printing"])
    entries = queue(session, hub)
    victim = entries[ids[0]]["printer"]
    server_process(fleet, victim).send_signal(signal.SIGKILL)
    interrupted = until(
        "the entry on the dead printer is interrupted",
        lambda: (e := queue(session, hub)[ids[0]])["state"] == "interrupted" and e,
        within=30,
    )
    assert "stopped answering" in interrupted["reason"]
    survivor = entry_in(session, hub, ids[1], ("done",))
    assert survivor["printer"] != victim
    # Not sent again by itself: the part may still be on the bed.
    clear_bed(fleet, survivor["printer"])
    time.sleep(4)
    assert queue(session, hub)[ids[0]]["state"] == "interrupted"
    # A person requeues it; the free printer takes it.
    answer = session.post(hub.url + f"api/queue/{ids[0]}/requeue", timeout=10)
    assert answer.status_code == 200, answer.text
    again = entry_in(session, hub, ids[0], STARTED)
    assert again["printer"] == survivor["printer"]


def test_a_restart_of_the_hub_keeps_the_queue(
    tmp_path: Path,
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    fleet = simulated_printers(1, time_factor=10)
    layout = fleet.fleet()
    # A second printer whose print server is not running: its entries wait.
    layout["printers"].append(printer_entry("gone", "http://127.0.0.1:9"))
    data = tmp_path / "hub"
    hub = start_hub_process(data, layout, gate_key_file=gate_key_file(fleet))
    try:
        session = add_user(hub, "ada")
        printing = submit(session, hub)[0]["id"]
        waiting = [
            e["id"] for e in submit(session, hub, copies=2, target="printer:gone", priority=3)
        ]
        until("printing", lambda: queue(session, hub)[printing]["state"] == "printing")
        before = queue(session, hub)
    finally:
        hub.stop()
    hub = start_hub_process(data, layout, gate_key_file=gate_key_file(fleet))
    try:
        session = login(hub.url, "ada", PASSWORD)
        after = queue(session, hub)
        assert set(after) == set(before)
        for i in waiting:
            assert after[i]["state"] == "queued"
            assert after[i]["priority"] == 3
            assert after[i]["file"] == before[i]["file"]
        # The print that went on during the restart is still followed to its end.
        until("done after the restart", lambda: queue(session, hub)[printing]["state"] == "done")
        assert (data / "queue" / f"{before[waiting[0]]['file']['id']}.gcode").exists()
    finally:
        hub.stop()


def test_a_done_entry_offers_its_bed_only_while_the_printer_waits_for_it(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    """Once another print runs on the printer, the done entry's "Bed clear" would only be
    refused (a job is running): the entry no longer says its bed waits."""
    fleet = simulated_printers(1, time_factor=50)
    hub = start_hub(fleet.fleet())
    session = add_user(hub, "ada")
    [entry] = [e["id"] for e in submit(session, hub, target="printer:demo-1")]
    done = entry_in(session, hub, entry, ("done",))
    until("its bed waits", lambda: queue(session, hub)[entry]["bed_waiting"])
    assert done["printer"] == "demo-1"
    # Someone clears the bed and prints something else on the printer itself.
    clear_bed(fleet, "demo-1")
    url = fleet.printers[0].url
    answer = requests.post(
        url + "api/v1/job", json={"file": "cube_slic3r.gcode"}, headers=signed(fleet, "demo-1"),
        timeout=5,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    until("printing", lambda: printer_status(fleet, "demo-1")["state"] == "printing")
    assert printer_status(fleet, "demo-1")["bed_clear"] is False
    until("no bed to clear", lambda: not queue(session, hub)[entry]["bed_waiting"])
    listed = session.get(hub.url + "api/queue/printers", timeout=10).json()["printers"]
    assert [(p["name"], p["code"]) for p in listed] == [("demo-1", "busy")]
    assert "cube_slic3r.gcode" in listed[0]["reason"]


def test_an_entry_the_hub_was_sending_when_it_stopped_is_found_on_its_printer(
    tmp_path: Path,
    simulated_printers: Callable[..., SimulatedFleet],
) -> None:
    """The hub stopped after the print server took an entry, before it noted the job (the
    fleet soak's hub restart, docs/soak.md): the next start finds the job on the printer and
    follows it to its end, instead of calling it interrupted and having it printed twice."""
    fleet = simulated_printers(1, time_factor=10)
    layout = fleet.fleet()
    data = tmp_path / "hub"
    hub = start_hub_process(data, layout, gate_key_file=gate_key_file(fleet))
    try:
        session = add_user(hub, "ada")
        entry = submit(session, hub)[0]["id"]
        until("printing", lambda: queue(session, hub)[entry]["state"] == "printing")
    finally:
        hub.stop()
    db = open_database(data / "hub.sqlite", schemas())
    db.execute("UPDATE queue_jobs SET state = 'sent', printer_job = NULL WHERE id = ?", (entry,))
    db.close()
    hub = start_hub_process(data, layout, gate_key_file=gate_key_file(fleet))
    try:
        session = login(hub.url, "ada", PASSWORD)
        done = entry_in(session, hub, entry, ("done", "interrupted"))
        assert (done["state"], done["reason"]) == ("done", None)
        name = fleet.printers[0].name
        url = fleet.printers[0].url
        jobs = requests.get(url + "api/v1/history", headers=signed(fleet, name), timeout=5)
        assert [j["outcome"] for j in jobs.json()["jobs"]] == ["completed"]
    finally:
        hub.stop()
