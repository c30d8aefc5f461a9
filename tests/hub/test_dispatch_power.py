"""The dispatch check's power item, through a real hub and print servers on simulated
printers, with Tasmota plugs that follow Tasmota's documented /cm API
(tests/hub/power_stand_ins.py): the queue switches a printer on before it sends a job; a
plug that does not answer holds jobs (never a guess); the Print button is held while the
power is off."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.hub.conftest import HubProcess, SimulatedFleet
from tests.hub.power_stand_ins import TasmotaPlug, serving
from tests.hub.test_dispatch import entry_in, queue, signed
from tests.hub.test_dispatch_check import asking_fleet, audit, press_print
from tests.hub.test_dispatch_spools import PART, submit_part

pytestmark = pytest.mark.timeout(240)

SITE_POWER = {"stagger_seconds": 0, "boot_timeout": 20}


@pytest.fixture
def plug() -> Iterator[TasmotaPlug]:
    with serving(TasmotaPlug()) as started:
        assert isinstance(started, TasmotaPlug)
        yield started


def powered(plug: TasmotaPlug) -> dict[str, Any]:
    """demo-1's power: this plug, never switched off by itself (the test decides)."""
    return {"type": "tasmota", "host": plug.url.removeprefix("http://"), "auto_off": False}


def with_plug(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    plug: TasmotaPlug,
) -> tuple[HubProcess, SimulatedFleet, requests.Session]:
    hub, printers, admin = asking_fleet(start_hub, simulated_printers)
    fleet = printers.fleet(**{"demo-1": {"power": powered(plug)}})
    fleet["site"]["power"] = SITE_POWER
    hub.write_fleet(fleet)
    return hub, printers, admin


def power_state(session: requests.Session, hub: HubProcess) -> dict[str, Any]:
    answer = session.get(hub.url + "api/power", timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = next(p for p in answer.json()["printers"] if p["name"] == "demo-1")
    return found


def until(what: str, test: Callable[[], Any], within: float = 30) -> Any:
    deadline = time.monotonic() + within
    while not (found := test()):
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.2)
    return found


def test_the_queue_switches_the_printer_on_before_it_sends_a_job(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    plug: TasmotaPlug,
) -> None:
    hub, _printers, admin = with_plug(start_hub, simulated_printers, plug)
    until("the plug read as off", lambda: power_state(admin, hub).get("known"))
    assert plug.power == [False]
    (entry,) = submit_part(admin, hub, target="printer:demo-1")
    started = entry_in(admin, hub, entry, ("sent", "printing", "done"), within=60)
    assert plug.power == [True]
    assert started["printer"] == "demo-1"
    switched = audit(admin, hub, "power on")
    sent = audit(admin, hub, "queue dispatch")
    assert switched and sent and switched[-1]["id"] < sent[-1]["id"], (switched, sent)


def test_a_plug_that_does_not_answer_holds_the_queue_and_the_print_button(
    start_hub: Callable[..., HubProcess],
    simulated_printers: Callable[..., SimulatedFleet],
    plug: TasmotaPlug,
) -> None:
    plug.power = [True]
    hub, printers, admin = with_plug(start_hub, simulated_printers, plug)
    until("the plug read as on", lambda: power_state(admin, hub).get("on") is True)
    plug.faults.garbage = True  # answers, but not what Tasmota answers
    until("the plug's state unknown", lambda: power_state(admin, hub).get("known") is False, 60)
    (entry,) = submit_part(admin, hub, target="printer:demo-1")

    def power_reason() -> str | None:
        found = queue(admin, hub)[entry]
        assert found["state"] == "queued", found
        texts = [r["text"] for r in found["waiting_reasons"] if r["code"] == "power"]
        return texts[0] if texts else None

    assert "power state is unknown" in until("held by power", power_reason)
    url = printers.printers[0].url
    upload = requests.post(
        url + "api/v1/files", files={"file": ("part.gcode", io.BytesIO(PART))},
        headers=signed(printers, "demo-1"), timeout=30,
    )  # fmt: skip
    assert upload.status_code == 201, upload.text
    held = press_print(printers, "demo-1", "part.gcode")
    assert held.status_code == 409 and "power state is unknown" in held.json()["error"]
    # The plug answers again, on: the entry goes.
    plug.faults.garbage = False
    entry_in(admin, hub, entry, ("sent", "printing", "done"), within=60)
