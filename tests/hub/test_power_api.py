"""The power API and auto-off (hub/power/) in a real ``fabfleet-hub serve`` with real print
servers on simulated Marlins, and Tasmota plugs (tests/hub/power_stand_ins.py) as their power
devices: switching by hand with rights and audit, refusals while heating or hot, and the
automatic switch-off after a job once idle and cooled — never while the device cannot be
reached."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from hub.auth.rights import Grants
from tests.hub.conftest import HubProcess, SimulatedFleet, login, unused_port
from tests.hub.power_stand_ins import TasmotaPlug, serving
from tests.hub.test_history import PASSWORD, SHORT, add_user, print_servers, wait_until

pytestmark = pytest.mark.timeout(240)

# Cools 5 °C/s, heats the hotend 15 °C/s.
TIME_FACTOR = 5.0
SITE_POWER = {"hotend_off_below": 100, "bed_off_below": 80, "idle_minutes": 0}


@dataclass
class PowerSite:
    hub: HubProcess
    printers: SimulatedFleet
    plugs: dict[str, TasmotaPlug]

    def session(self, user: str) -> requests.Session:
        return login(self.hub.url, user, PASSWORD)

    def power(self, session: requests.Session) -> dict[str, dict[str, Any]]:
        answer = session.get(self.hub.url + "api/power", timeout=30)
        assert answer.status_code == 200, answer.text
        return {p["name"]: p for p in answer.json()["printers"]}

    def switch(self, session: requests.Session, name: str, on: bool) -> requests.Response:
        return session.post(
            self.hub.url + f"api/printers/{name}/power", json={"on": on}, timeout=60
        )

    def audit(self, action: str) -> list[dict[str, Any]]:
        admin = self.session("ada")
        answer = admin.get(self.hub.url + "api/audit", params={"limit": 200}, timeout=30)
        entries: list[dict[str, Any]] = answer.json()["entries"]
        return [e for e in entries if e["action"] == action]


def fleet_json(
    printers: SimulatedFleet, plugs: dict[str, TasmotaPlug], **extra: Any
) -> dict[str, Any]:
    """demo-1 (auto-off disabled) shows camera cam1; demo-2 switches off by itself."""
    power = {
        name: {"type": "tasmota", "host": plug.url.removeprefix("http://"),
               "auto_off": name != "demo-1", **extra.get(name, {})}
        for name, plug in plugs.items()
    }  # fmt: skip
    fleet = printers.fleet(
        **{"demo-1": {"power": power["demo-1"], "camera": "cam1"}},
        **{"demo-2": {"power": power["demo-2"]}},
    )
    fleet["cameras"] = [
        {"name": "cam1", "path": "/cameras/cam1/", "upstream": "x", "power": power["cam1"]}
    ]
    fleet["site"]["power"] = SITE_POWER
    return fleet


def python_path() -> dict[str, str]:
    """The hub runs the code under test when it is not the installed one (a worktree)."""
    found = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": found} if found else {}


@pytest.fixture
def site(start_hub: Any, simulated_printers: Any) -> Iterator[PowerSite]:
    printers: SimulatedFleet = simulated_printers(2, time_factor=TIME_FACTOR)
    with (
        serving(TasmotaPlug(power=[True])) as one,
        serving(TasmotaPlug(power=[True])) as two,
        serving(TasmotaPlug(power=[True])) as camera,
    ):
        assert isinstance(one, TasmotaPlug) and isinstance(two, TasmotaPlug)
        assert isinstance(camera, TasmotaPlug)
        plugs = {"demo-1": one, "demo-2": two, "cam1": camera}
        hub: HubProcess = start_hub(fleet_json(printers, plugs), extra_env=python_path())
        add_user(hub, "ada", "admin")
        add_user(hub, "olga", "operator", Grants(printers=frozenset({"demo-1"})))
        add_user(hub, "otto", "operator", Grants(printers=frozenset({"demo-2"})))
        add_user(hub, "vera", "viewer", Grants(printers=frozenset({"*"})))
        yield PowerSite(hub, printers, plugs)
        hub.stop()


def test_switching_by_hand_needs_the_right_to_act_and_is_audited(site: PowerSite) -> None:
    plug = site.plugs["demo-1"]
    olga, vera, otto = site.session("olga"), site.session("vera"), site.session("otto")
    shown = wait_until(
        lambda: site.power(vera).get("demo-1", {}).get("state") == "on" and site.power(vera), 30
    )
    assert shown["demo-1"]["type"] == "tasmota" and shown["demo-1"]["may_act"] is False
    assert shown["demo-1"]["auto_off"] is False

    refused = site.switch(vera, "demo-1", False)
    assert refused.status_code == 403 and "may watch demo-1 but not act" in refused.json()["error"]
    assert site.switch(otto, "demo-1", False).status_code == 404  # not granted: not even seen
    assert plug.power == [True]

    wait_until(lambda: site.printers.printers and site.power(olga)["demo-1"]["may_act"], 30)
    off = site.switch(olga, "demo-1", False)
    assert off.status_code == 200, off.text
    assert off.json()["state"] == "off" and plug.power == [False]
    on = site.switch(olga, "demo-1", True)
    assert on.status_code == 200 and plug.power == [True]
    assert site.switch(olga, "demo-1", "yes").status_code == 400  # type: ignore[arg-type]

    actions = [(e["user"], e["printer"]) for e in site.audit("power off")]
    assert ("olga", "demo-1") in actions
    assert [(e["user"], e["summary"]) for e in site.audit("power on")] == [
        ("olga", "olga switched on the power of demo-1")
    ]
    assert [e["user"] for e in site.audit("refused power off")] == ["vera"]


def test_a_camera_is_switched_by_who_may_act_on_a_printer_it_shows(site: PowerSite) -> None:
    plug = site.plugs["cam1"]
    olga, vera, otto = site.session("olga"), site.session("vera"), site.session("otto")

    def switch(session: requests.Session, on: bool) -> requests.Response:
        return session.post(site.hub.url + "api/cameras/cam1/power", json={"on": on}, timeout=60)

    listed = vera.get(site.hub.url + "api/power", timeout=30).json()["cameras"]
    assert [(c["name"], c["type"], c["may_act"]) for c in listed] == [("cam1", "tasmota", False)]
    assert switch(vera, False).status_code == 403
    assert switch(otto, False).status_code == 404  # demo-2's operator does not see cam1
    assert plug.power == [True]
    off = switch(olga, False)
    assert off.status_code == 200 and off.json()["state"] == "off" and plug.power == [False]
    assert switch(olga, True).status_code == 200 and plug.power == [True]
    details = [(e["user"], e["detail"]) for e in site.audit("power off")]
    assert details == [("olga", "camera cam1: Tasmota POWER is OFF")]
    assert [e["user"] for e in site.audit("refused power off")] == ["vera"]


def test_off_is_refused_while_heating_and_hot_then_allowed_once_cooled(site: PowerSite) -> None:
    plug = site.plugs["demo-1"]
    olga = site.session("olga")
    server = print_servers(site.hub, site.printers)[0]
    wait_until(lambda: server.state() == "ready", 60, "demo-1 ready")
    started = server.post("api/v1/control/temperature", json={"hotend": 130})
    assert started.status_code == 202, started.text
    wait_until(lambda: server.get("api/v1/printer").json()["heaters"]["T0"]["target"] == 130, 30)
    heating = site.switch(olga, "demo-1", False)
    assert heating.status_code == 409
    assert heating.json()["error"] == "demo-1 stays on: not now: hotend heating to 130 °C"

    wait_until(lambda: server.get("api/v1/printer").json()["heaters"]["T0"]["actual"] > 125, 60)
    assert server.post("api/v1/control/cool-down").status_code == 202
    wait_until(lambda: server.get("api/v1/printer").json()["heaters"]["T0"]["target"] == 0, 30)
    hot = site.switch(olga, "demo-1", False)
    assert hot.status_code == 409
    assert "not now: hotend 1" in hot.json()["error"] and "off below 100 °C" in hot.json()["error"]
    assert plug.power == [True]
    assert len(site.audit("refused power off")) == 2

    def cooled() -> bool:
        return bool(site.switch(olga, "demo-1", False).status_code == 200)

    wait_until(cooled, 60, "switched off once cooled")
    assert plug.power == [False]


def test_auto_off_after_a_job_once_idle_and_cooled(site: PowerSite) -> None:
    plug = site.plugs["demo-2"]
    otto = site.session("otto")
    server = print_servers(site.hub, site.printers)[1]
    server.upload("short.gcode", SHORT)
    wait_until(lambda: site.power(otto)["demo-2"]["state"] == "on", 30)
    assert site.power(otto)["demo-2"]["guard"] == "on; switches off after the next job once cooled"
    server.print_file("short.gcode", "otto", clear=False)
    ended = time.monotonic()
    wait_until(lambda: plug.power == [False], 60, "auto-off after the job")
    switched = plug.switched_off_at()
    assert switched is not None and switched >= ended - 1  # not while it printed
    entry = wait_until(lambda: site.audit("power off"), 10)[0]
    assert entry["user"] == "hub" and entry["printer"] == "demo-2"
    assert "idle and cooled" in entry["detail"]
    shown = wait_until(
        lambda: site.power(otto)["demo-2"]["state"] == "off" and site.power(otto), 30
    )
    assert shown["demo-2"]["guard"].startswith("off")


def test_never_switched_off_while_its_device_cannot_be_reached(site: PowerSite) -> None:
    gone = f"127.0.0.1:{unused_port()}"
    fleet = fleet_json(site.printers, site.plugs, **{"demo-2": {"host": gone}})
    site.hub.write_fleet(fleet)
    otto = site.session("otto")

    def unknown() -> dict[str, Any] | None:
        found = site.power(otto)["demo-2"]
        return found if "did not answer" in found["reason"] else None

    shown = wait_until(unknown, 45, "the unreachable plug's state unknown")
    assert "did not answer" in shown["reason"]
    server = print_servers(site.hub, site.printers)[1]
    server.upload("short.gcode", SHORT)
    server.print_file("short.gcode", "otto", clear=False)
    time.sleep(4)
    found = site.power(otto)["demo-2"]
    assert found["state"] == "unknown"
    assert "power device's state is unknown" in found["guard"]
    refused = site.switch(otto, "demo-2", False)
    assert refused.status_code == 409 and "state is unknown" in refused.json()["error"]
    assert site.audit("power off") == []
