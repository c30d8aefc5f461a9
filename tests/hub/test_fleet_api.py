"""The dashboard's API (hub/fleet/api.py): the fleet, its live stream, confirming a clear bed.

A real ``fabfleet-hub serve`` process, real print servers on simulated Marlins,
real users in the hub's database, logged in through ``POST /api/login``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import requests

from hub.app import schemas
from hub.auth.accounts import create_user
from hub.auth.rights import Grants
from hub.auth.signing import HEADER, identity_for, read_master_key
from hub.db import open_database
from hub.fleet.api import BURST, RATE
from tests.hub.conftest import (
    HubProcess,
    SimulatedFleet,
    login,
    printer_acts,
    printer_entry,
    unused_port,
)

pytestmark = pytest.mark.timeout(180)
PASSWORD = "a long enough password"


@dataclass
class Site:
    hub: HubProcess
    printers: SimulatedFleet
    key: bytes
    sessions: dict[str, requests.Session] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.hub.url

    def printer_url(self, name: str) -> str:
        return next(p.url for p in self.printers.printers if p.name == name)

    def on_printer(self, method: str, name: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a print server directly, as the hub would (they refuse anything unsigned)."""
        headers = {HEADER: identity_for(self.key, name, "test", True)}
        return requests.request(
            method, self.printer_url(name) + path, headers=headers, timeout=10, **kwargs
        )

    def session(self, user: str) -> requests.Session:
        """Logged in as ``user`` (once: each login costs a password hash)."""
        if user not in self.sessions:
            self.sessions[user] = login(self.url, user, PASSWORD)
        return self.sessions[user]

    def fleet(self, user: str) -> dict[str, Any]:
        answer = self.session(user).get(self.url + "api/fleet", timeout=10)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def wait_state(self, name: str, state: str, within: float = 60) -> dict[str, Any]:
        admin = self.session("ada")
        deadline = time.monotonic() + within
        while True:
            answer = admin.get(self.url + "api/fleet", timeout=10).json()
            found: dict[str, dict[str, Any]] = {p["name"]: p for p in answer["printers"]}
            if found[name]["state"] == state:
                return found[name]
            assert time.monotonic() < deadline, f"{name} is {found[name]['state']}, not {state}"
            time.sleep(0.1)


@pytest.fixture
def site(
    simulated_printers: Callable[..., SimulatedFleet], start_hub: Callable[..., HubProcess]
) -> Site:
    """Printers first, so the hub stops first: a print server stopping while the hub still
    holds its events stream takes seconds longer."""
    printers = simulated_printers(3, time_factor=20)
    extra: dict[str, dict[str, Any]] = {
        "demo-1": {"groups": ["lab"], "tags": ["pla"], "camera": "cam1"},
        "demo-2": {"groups": ["lab", "office"], "tags": ["petg"]},
        "demo-3": {"groups": ["office"], "tags": ["pla", "big"]},
    }
    fleet = printers.fleet(**extra)
    # A printer whose print server is not running.
    fleet["printers"].append(
        printer_entry("ghost", f"http://127.0.0.1:{unused_port()}", groups=["lab"])
    )
    fleet["cameras"] = [
        {"name": "cam1", "path": "/cameras/cam1/", "upstream": "http://127.0.0.1:9"}
    ]
    assert printers.demo is not None
    key_file = printers.demo.workdir / "secrets" / "gate.key"
    hub = start_hub(fleet, extra_env={"FABFLEET_GATE_KEY_FILE": str(key_file)})
    db = open_database(hub.data_dir / "hub.sqlite", schemas())
    try:
        create_user(db, "ada", PASSWORD, "admin")
        create_user(db, "otto", PASSWORD, "operator", Grants(groups=frozenset({"lab"})))
        create_user(db, "vera", PASSWORD, "viewer", Grants(printers=frozenset({"demo-3"})))
        create_user(db, "nobody", PASSWORD, "operator")
    finally:
        db.close()
    site = Site(hub, printers, read_master_key(key_file))
    for name in ("demo-1", "demo-2", "demo-3"):
        site.wait_state(name, "ready")
    return site


def names(fleet: dict[str, Any]) -> list[str]:
    return [p["name"] for p in fleet["printers"]]


def audit_rows(site: Site) -> list[tuple[str, str, str | None]]:
    db = open_database(site.hub.data_dir / "hub.sqlite", [])
    try:
        rows = db.execute("SELECT user, action, printer FROM audit WHERE action = 'bed clear'")
        return [(r["user"], r["action"], r["printer"]) for r in rows]
    finally:
        db.close()


async def stream(site: Site, user: str) -> tuple[aiohttp.ClientSession, Any]:
    cookies = site.session(user).cookies.get_dict()
    client = aiohttp.ClientSession(cookies=cookies)
    url = site.url.replace("http://", "ws://") + "api/fleet/events"
    return client, await client.ws_connect(url)


async def until_message(
    socket: Any, test: Callable[[dict[str, Any]], bool], within: float = 60.0
) -> Any:
    """The first message that passes ``test``; fails after ``within`` seconds."""
    found = await until_messages(socket, test, within)
    return found[-1]


async def until_messages(
    socket: Any, test: Callable[[dict[str, Any]], bool], within: float = 60.0
) -> list[dict[str, Any]]:
    """Every message up to the first that passes ``test`` (each with the time it was
    received); fails after ``within`` seconds (a deadline for a busy machine)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        message = await socket.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert message.type is aiohttp.WSMsgType.TEXT, (message, got)
        data = json.loads(message.data)
        got.append({**data, "received": time.monotonic()})
        if test(data):
            return got


def shows(name: str, hotend: int) -> Callable[[dict[str, Any]], bool]:
    """Whether a stream message is printer ``name`` with its hotend's target at ``hotend``."""

    def test(message: dict[str, Any]) -> bool:
        entry = message.get("printer") or {}
        heaters = entry.get("status", {}).get("heaters", {})
        return entry.get("name") == name and heaters["T0"]["target"] == hotend

    return test


def test_nothing_is_shown_to_anyone_not_logged_in(site: Site):
    assert requests.get(site.url + "api/fleet", timeout=5).status_code == 401
    answer = requests.post(site.url + "api/printers/demo-1/bed-clear", timeout=5)
    assert answer.status_code == 401
    assert "log in" in answer.json()["error"]

    async def connect() -> int:
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await client.ws_connect(site.url + "api/fleet/events")
            return refused.value.status

    assert asyncio.run(connect()) == 401


def test_each_user_sees_the_printers_they_may_watch_with_their_live_state(site: Site):
    everything = site.fleet("ada")
    assert names(everything) == ["demo-1", "demo-2", "demo-3", "ghost"]
    assert everything["groups"] == ["lab", "office"]
    assert everything["tags"] == ["big", "petg", "pla"]
    first = everything["printers"][0]
    assert first["path"] == "/printers/demo-1/"
    assert first["camera"] == {"name": "cam1", "path": "/cameras/cam1/"}
    assert first["state"] == "ready" and first["online"] is True and first["may_act"] is True
    assert first["status"]["heaters"]["T0"]["actual"] > 0
    assert first["status"]["bed_clear"] is True and first["status"]["job"] is None
    ghost = everything["printers"][3]
    assert ghost["state"] == "unreachable" and ghost["online"] is False

    operator = site.fleet("otto")
    assert names(operator) == ["demo-1", "demo-2", "ghost"]
    assert all(p["may_act"] for p in operator["printers"])
    assert operator["groups"] == ["lab", "office"] and operator["tags"] == ["petg", "pla"]

    viewer = site.fleet("vera")
    assert names(viewer) == ["demo-3"]
    assert viewer["printers"][0]["may_act"] is False
    assert viewer["groups"] == ["office"] and viewer["tags"] == ["big", "pla"]

    assert site.fleet("nobody") == {"printers": [], "groups": [], "tags": []}


def test_the_stream_sends_a_snapshot_then_each_change_only_to_who_may_watch(site: Site):
    async def scenario() -> None:
        viewer_client, viewer = await stream(site, "vera")
        operator_client, operator = await stream(site, "otto")
        try:
            snapshot = await until_message(viewer, lambda m: True)
            assert snapshot["type"] == "snapshot"
            assert names(snapshot) == ["demo-3"]
            assert names(await until_message(operator, lambda m: True)) == [
                "demo-1", "demo-2", "ghost",
            ]  # fmt: skip

            async def change(name: str, hotend: int) -> None:
                answer = await asyncio.to_thread(
                    site.on_printer, "POST", name, "api/v1/control/temperature",
                    json={"hotend": hotend},
                )  # fmt: skip
                assert answer.status_code == 202

            # One change after the other, each seen by who may watch it before the next: the
            # hub had passed the first on when it passes on the second, so had the viewer been
            # sent demo-1's change, it would be in the viewer's stream before demo-3's.
            await change("demo-1", 66)
            seen_by_operator = await until_messages(operator, shows("demo-1", 66))
            await change("demo-3", 55)
            seen_by_viewer = await until_messages(viewer, shows("demo-3", 55))
            await change("demo-1", 67)
            seen_by_operator += await until_messages(operator, shows("demo-1", 67))
            assert {m["printer"]["name"] for m in seen_by_viewer} == {"demo-3"}
            assert "demo-3" not in {m["printer"]["name"] for m in seen_by_operator}
            assert all(m["printer"]["may_act"] is False for m in seen_by_viewer)
            assert all(m["printer"]["may_act"] is True for m in seen_by_operator)
        finally:
            for client in (viewer_client, operator_client):
                await client.close()

    asyncio.run(scenario())


def test_a_busy_printer_sends_at_most_five_updates_a_second_and_the_last_one(site: Site):
    """demo-1's heater target changes 60 times, some 30 times a second on an idle machine."""
    targets = list(range(120, 180))

    def change_fast() -> None:
        for target in targets:
            answer = site.on_printer(
                "POST", "demo-1", "api/v1/control/temperature", json={"hotend": target}
            )
            assert answer.status_code == 202
            time.sleep(0.025)

    async def scenario() -> tuple[float, list[dict[str, Any]]]:
        client, hub = await stream(site, "ada")
        try:
            await until_message(hub, lambda m: m["type"] == "snapshot")
            started = time.monotonic()
            changing = asyncio.create_task(asyncio.to_thread(change_fast))
            from_hub = await until_messages(hub, shows("demo-1", targets[-1]))
            await changing
        finally:
            await client.close()
        return started, from_hub

    started, from_hub = asyncio.run(scenario())
    busy = [
        m for m in from_hub
        if m["type"] == "printer" and m["printer"]["name"] == "demo-1"
        and m["printer"]["status"]["heaters"]["T0"]["target"] in targets
    ]  # fmt: skip
    seen = [m["printer"]["status"]["heaters"]["T0"]["target"] for m in busy]
    # What the browser ends with is the newest state, and it never goes back.
    assert seen[-1] == targets[-1]
    assert seen == sorted(seen)
    # Every one of these was sent after the first change was asked for and before the last
    # one arrived: at most BURST at once and RATE a second over that window. A busy machine
    # makes the window longer and the hub send fewer, never more.
    window = busy[-1]["received"] - started
    assert len(busy) <= BURST + RATE * window, (len(busy), window, seen)


def test_a_browser_that_stops_reading_holds_up_no_one(site: Site):
    """One client opens the stream and never reads; another still gets every change."""
    session = site.session("ada")
    host, port = site.url.removeprefix("http://").rstrip("/").split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.get_dict().items())
    stalled.sendall(
        (
            "GET /api/fleet/events HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    assert b"101" in stalled.recv(12)
    for name in ("demo-1", "demo-2"):
        answer = site.on_printer("POST", name, "api/v1/job", json={"file": "cube_slic3r.gcode"})
        assert answer.status_code == 201

    async def scenario() -> list[int]:
        client, hub = await stream(site, "ada")
        seen = []
        try:
            await until_message(hub, lambda m: m["type"] == "snapshot")
            for hotend in range(101, 111):
                answer = await asyncio.to_thread(
                    site.on_printer, "POST", "demo-3", "api/v1/control/temperature",
                    json={"hotend": hotend},
                )  # fmt: skip
                assert answer.status_code == 202
                await until_message(hub, shows("demo-3", hotend))
                seen.append(hotend)
                await asyncio.sleep(0.3)
        finally:
            await client.close()
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        stalled.close()
    # Each change reached the reading browser (until_message waits for each, with a deadline
    # for a busy machine), while the other never read a byte.
    assert seen == list(range(101, 111))


def test_confirming_a_clear_bed_takes_the_right_and_a_print_server_that_answers(site: Site):
    # demo-2 finishes a job the hard way: cancelled, so its bed is not clear.
    answer = site.on_printer("POST", "demo-2", "api/v1/job", json={"file": "cube_slic3r.gcode"})
    assert answer.status_code == 201
    site.wait_state("demo-2", "printing")
    assert site.on_printer("POST", "demo-2", "api/v1/job/cancel").status_code == 202
    site.wait_state("demo-2", "bed not cleared")

    viewer = site.session("vera")
    answer = viewer.post(site.url + "api/printers/demo-3/bed-clear", timeout=10)
    assert answer.status_code == 403
    assert "vera" in answer.json()["error"]
    # A printer the viewer may not even watch does not exist for them.
    assert viewer.post(site.url + "api/printers/demo-2/bed-clear").status_code == 404

    operator = site.session("otto")
    answer = operator.post(site.url + "api/printers/nope/bed-clear", timeout=10)
    assert answer.status_code == 404 and "nope" in answer.json()["error"]
    answer = operator.post(site.url + "api/printers/ghost/bed-clear", timeout=15)
    assert answer.status_code == 502
    assert "ghost's print server did not answer" in answer.json()["error"]
    no_csrf = requests.post(
        site.url + "api/printers/demo-2/bed-clear", cookies=operator.cookies, timeout=10
    )
    assert no_csrf.status_code == 403
    assert audit_rows(site) == []

    answer = operator.post(site.url + "api/printers/demo-2/bed-clear", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "ready"
    assert site.wait_state("demo-2", "ready")["status"]["bed_clear"] is True
    assert audit_rows(site) == [("otto", "bed clear", "demo-2")]

    # While it prints, the print server refuses, and the hub says why.
    answer = site.on_printer("POST", "demo-1", "api/v1/job", json={"file": "cube_slic3r.gcode"})
    assert answer.status_code == 201
    answer = operator.post(site.url + "api/printers/demo-1/bed-clear", timeout=10)
    assert answer.status_code == 409
    assert "demo-1" in answer.json()["error"]
    assert audit_rows(site) == [("otto", "bed clear", "demo-2")]


SQUARE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "queue", "square.gcode")


def print_square(site: Site, name: str) -> None:
    """Upload the short square and print it on ``name``'s print server."""
    with open(SQUARE, "rb") as source:
        answer = site.on_printer(
            "POST", name, "api/v1/files", files={"file": ("square.gcode", source)},
            data={"print": "true", "overwrite": "true"},
        )  # fmt: skip
    assert answer.status_code == 201, answer.text


def test_a_completed_print_shows_its_file_outcome_and_duration_and_its_bed_can_be_cleared(
    site: Site,
):
    print_square(site, "demo-3")
    finished = site.wait_state("demo-3", "finished", within=120)
    assert finished["status"]["bed_clear"] is False
    last = finished["status"]["last_job"]
    assert last["file"] == "square.gcode"
    assert last["outcome"] == "completed"
    assert last["duration"] > 0
    # The dashboard's button: the hub passes the confirmation on for a finished printer too.
    answer = site.session("ada").post(site.url + "api/printers/demo-3/bed-clear", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "ready"
    assert site.wait_state("demo-3", "ready")["status"]["bed_clear"] is True


def fleet_action(site: Site, user: str, **body: Any) -> requests.Response:
    return site.session(user).post(site.url + "api/fleet/actions", json=body, timeout=30)


def action_audit(site: Site) -> list[tuple[str, str, str | None, str | None]]:
    return sorted((u, a, p, o) for u, a, p, _d, o in printer_acts(site.hub))


def test_fleet_actions_refuse_bad_requests_with_a_reason_and_change_nothing(site: Site):
    bad: list[dict[str, Any]] = [
        {"action": "explode", "printers": ["demo-1"]},
        {"action": "pause", "printers": []},
        {"action": "pause", "printers": "demo-1"},
        {"action": "pause"},
        {"action": "preheat", "printers": ["demo-1"]},
        {"action": "preheat", "printers": ["demo-1"], "hotend": 999},
        {"action": "preheat", "printers": ["demo-1"], "hotend": 200, "bed": -5},
        {"action": "preheat", "printers": ["demo-1"], "hotend": "hot"},
        {"action": "preheat", "printers": ["demo-1"], "hotend": 200.5},
        {"action": "preheat", "printers": ["demo-1"], "hotend": True},
        {"action": "pause", "printers": ["demo-1"], "speed": 2},
        {"action": "pause", "printers": ["demo-1"], "hotend": 200},
    ]
    for body in bad:
        answer = fleet_action(site, "ada", **body)
        assert answer.status_code == 400, body
        assert answer.json()["error"], body
    # Python's JSON reads NaN and Infinity: not a temperature either.
    for number in ("NaN", "Infinity", "1e400"):
        answer = site.session("ada").post(
            site.url + "api/fleet/actions", timeout=10,
            data=f'{{"action": "preheat", "printers": ["demo-1"], "hotend": {number}}}',
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert answer.status_code == 400, (number, answer.text)
    no_csrf = requests.post(
        site.url + "api/fleet/actions", json={"action": "cooldown", "printers": ["demo-1"]},
        cookies=site.session("ada").cookies, timeout=10,
    )  # fmt: skip
    assert no_csrf.status_code == 403
    assert requests.post(site.url + "api/fleet/actions", json={}, timeout=10).status_code == 401
    assert action_audit(site) == []


def test_fleet_actions_act_on_each_printer_the_user_may_and_say_so_per_printer(site: Site):
    answer = fleet_action(
        site, "otto", action="preheat", printers=["demo-1", "demo-3", "nope", "ghost"],
        hotend=215, bed=55,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    results = {r["printer"]: r for r in answer.json()["results"]}
    assert list(results) == ["demo-1", "demo-3", "nope", "ghost"]
    assert results["demo-1"] == {"printer": "demo-1", "ok": True}
    # A printer otto may not act on and one that does not exist read the same.
    assert results["demo-3"]["ok"] is False and results["nope"]["ok"] is False
    assert results["demo-3"]["error"] == results["nope"]["error"]
    assert "does not answer" in results["ghost"]["error"]
    heaters = site.wait_state("demo-1", "ready")["status"]["heaters"]
    deadline = time.monotonic() + 30
    while heaters["T0"]["target"] != 215 or heaters["B"]["target"] != 55:
        assert time.monotonic() < deadline, heaters
        time.sleep(0.2)
        heaters = site.fleet("ada")["printers"][0]["status"]["heaters"]
    assert site.fleet("ada")["printers"][2]["status"]["heaters"]["T0"]["target"] in (0, None)
    assert action_audit(site) == sorted([
        ("otto", "printer.preheat", "demo-1", "done"),
        ("otto", "printer.preheat", "demo-3", "refused"),
        ("otto", "printer.preheat", "nope", "refused"),
        ("otto", "printer.preheat", "ghost", "failed"),
    ])  # fmt: skip

    # A viewer acts on nothing, even what they watch.
    answer = fleet_action(site, "vera", action="cooldown", printers=["demo-3"])
    assert answer.json()["results"] == [
        {"printer": "demo-3", "ok": False, "error": results["nope"]["error"]}
    ]

    # Pause, resume and cancel a print; pausing an idle printer is refused by its print server.
    print_square(site, "demo-2")
    site.wait_state("demo-2", "printing")
    answer = fleet_action(site, "otto", action="pause", printers=["demo-2", "demo-1"])
    results = {r["printer"]: r for r in answer.json()["results"]}
    assert results["demo-2"]["ok"] is True
    assert results["demo-1"]["ok"] is False and results["demo-1"]["error"]
    site.wait_state("demo-2", "paused")
    answer = fleet_action(site, "otto", action="resume", printers=["demo-2"])
    assert answer.json()["results"] == [{"printer": "demo-2", "ok": True}]
    site.wait_state("demo-2", "printing")
    answer = fleet_action(site, "ada", action="cancel", printers=["demo-2"])
    assert answer.json()["results"] == [{"printer": "demo-2", "ok": True}]
    site.wait_state("demo-2", "bed not cleared")
    answer = fleet_action(site, "ada", action="cooldown", printers=["demo-1", "demo-2"])
    assert [r["ok"] for r in answer.json()["results"]] == [True, True]
    audited = action_audit(site)
    assert ("otto", "printer.pause", "demo-2", "done") in audited
    assert ("otto", "printer.pause", "demo-1", "refused") in audited
    assert ("ada", "printer.cancel", "demo-2", "done") in audited
    assert ("vera", "printer.cooldown", "demo-3", "refused") in audited
