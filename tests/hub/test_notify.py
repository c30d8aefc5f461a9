"""Notifications: a real aiohttp server in the test receives what the hub sends when a
print on a real simulated printer finishes, fails or leaves a bed to clear."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import requests
from aiohttp import web
from playwright.sync_api import Page, expect

from hub.auth.rights import Grants
from hub.notify.messages import failure_text
from hub.notify.notifier import BACKOFF
from tests.browser.conftest import browser, page, screenshot
from tests.hub.conftest import HubProcess, SimulatedFleet, free_ports, login
from tests.hub.test_history import (
    LONG,
    PASSWORD,
    SHORT,
    add_user,
    log_in_page,
    print_servers,
    restart,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)
# The page tests' real Chromium (tests/browser/conftest.py).
__all__ = ["browser", "page"]

# Stops the printer mid-file (M112: the firmware halts): the job fails.
HALTS = b"M82\nG92 E0\nG1 X10 Y10 E1 F3000\nM112\nG1 X20 Y20 E2 F3000\n"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook and ntfy stand-in: records every request; ``/broken…`` answers 500,
    ``/slow…`` answers after 20 s, anything else 200."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set at the end: requests to /slow return.
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait(self, path: str, count: int = 1, seconds: float = 60.0) -> list[Received]:
        found: list[Received] = wait_until(
            lambda: len(self.to(path)) >= count and self.to(path),
            seconds,
            f"{count} requests to {path}",
        )
        return found

    async def handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.path, dict(request.headers), await request.read(), time.monotonic()
        )
        with self.lock:
            self.requests.append(received)
        if request.path.startswith("/broken"):
            return web.Response(status=500, text="down for maintenance")
        if request.path.startswith("/slow"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 20)
        return web.Response(text="ok")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Ask for it before the hub (the first argument): fixtures end in the reverse order,
    so the hub has stopped before the receiver does, and no notification or retry reaches
    it while it shuts down (a connection accepted then would be left open)."""
    found = Receiver()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: list[web.AppRunner] = []

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", found.handle)
        started = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
        await started.setup()
        site = web.TCPSite(started, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        found.url = f"http://127.0.0.1:{port}"
        runner.append(started)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)

    async def stop() -> None:
        found.release.set()
        await runner[0].cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Let the closed connections' transports finish closing.
        await asyncio.sleep(0.1)

    yield found
    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def add_target(session: requests.Session, hub: HubProcess, **body: Any) -> dict[str, Any]:
    answer = session.post(hub.url + "api/notifications", json=body, timeout=60)
    assert answer.status_code == 201, answer.text
    added: dict[str, Any] = answer.json()
    return added


def targets(session: requests.Session, hub: HubProcess) -> dict[str, dict[str, Any]]:
    answer = session.get(hub.url + "api/notifications", timeout=60)
    assert answer.status_code == 200, answer.text
    return {t["name"]: t for t in answer.json()["targets"]}


@pytest.fixture
def one_printer(
    start_hub: Callable[..., HubProcess], simulated_printers: Callable[..., SimulatedFleet]
) -> tuple[HubProcess, SimulatedFleet, requests.Session]:
    printers = simulated_printers(1, time_factor=200)
    hub = start_hub(printers.fleet())
    add_user(hub, "ada", "admin")
    return hub, printers, login(hub.url, "ada", PASSWORD)


def test_a_finished_print_reaches_a_webhook_and_an_ntfy_topic_once(
    receiver: Receiver, one_printer: tuple[HubProcess, SimulatedFleet, requests.Session]
) -> None:
    hub, printers, admin = one_printer
    add_target(admin, hub, kind="webhook", url=receiver.url + "/hook", events=["finished"],
               name="lab hook")  # fmt: skip
    add_target(admin, hub, kind="ntfy", url=receiver.url + "/ntfy/printers",
               events=["finished", "bed_clear_needed"], name="phones")  # fmt: skip
    add_target(admin, hub, kind="webhook", url=receiver.url + "/beds",
               events=["bed_clear_needed"], name="bed crew")  # fmt: skip
    (printer,) = print_servers(hub, printers)
    printer.upload("cube part.gcode", SHORT)
    printer.print_file("cube part.gcode", "ada", clear=False)

    (hook,) = receiver.wait("/hook")
    message = hook.json()
    assert set(message) == {"event", "printer", "file", "outcome", "reason", "time", "url"}
    assert message["event"] == "finished"
    assert message["printer"] == "demo-1"
    assert message["file"] == "cube part.gcode"
    assert message["outcome"] == "completed"
    assert message["reason"] is None
    assert abs(datetime.fromisoformat(message["time"]).timestamp() - time.time()) < 60
    assert message["url"] == hub.url + "printers/demo-1/"
    assert hook.headers["Content-Type"].startswith("application/json")
    # Nothing of the hub's own credentials goes to a target.
    assert not any(h.lower().startswith("x-fabfleet") for h in hook.headers)

    (ntfy,) = receiver.wait("/ntfy/printers")
    assert ntfy.headers["Title"] == "demo-1: print finished"
    assert ntfy.headers["Tags"] == "white_check_mark"
    assert ntfy.headers["Priority"] == "default"
    assert ntfy.headers["Click"] == hub.url + "printers/demo-1/"
    assert ntfy.headers["Content-Type"].startswith("text/plain")
    assert "cube part.gcode finished on demo-1" in ntfy.body.decode()

    (bed,) = receiver.wait("/beds")
    assert bed.json()["event"] == "bed_clear_needed"
    assert bed.json()["file"] == "cube part.gcode"

    shown = targets(admin, hub)
    assert shown["lab hook"]["last"]["status"] == "delivered"
    assert shown["lab hook"]["last"]["event"] == "finished"
    assert shown["phones"]["last"]["event"] == "finished"
    assert shown["bed crew"]["last"]["event"] == "bed_clear_needed"

    # The printer still waits with its finished job; a restarted hub does not say it again.
    again = restart(hub, printers.fleet())
    try:
        time.sleep(4)
        assert printer.state() == "finished"
    finally:
        again.stop()
    assert [len(receiver.to(p)) for p in ("/hook", "/ntfy/printers", "/beds")] == [1, 1, 1]


def test_a_cancelled_print_asks_for_a_bed_clear_and_a_halted_printer_reports_failure(
    receiver: Receiver, one_printer: tuple[HubProcess, SimulatedFleet, requests.Session]
) -> None:
    hub, printers, admin = one_printer
    add_target(admin, hub, kind="ntfy", url=receiver.url + "/alarms", events=["failed"],
               name="alarms")  # fmt: skip
    add_target(admin, hub, kind="webhook", url=receiver.url + "/beds",
               events=["bed_clear_needed"], name="bed crew")  # fmt: skip
    (printer,) = print_servers(hub, printers)
    printer.upload("long.gcode", LONG)
    printer.upload("halts.gcode", HALTS)

    # Cancelled by a person: the bed waits, nothing failed.
    printer.print_file("long.gcode", "ada", cancel=True, clear=False)
    (bed,) = receiver.wait("/beds")
    assert bed.json()["event"] == "bed_clear_needed"
    assert bed.json()["outcome"] == "cancelled"
    assert bed.json()["file"] == "long.gcode"
    assert printer.post("api/v1/bed/clear").status_code == 200

    # The firmware halts mid-print: the job failed.
    wait_until(lambda: printer.state() == "ready", what="ready")
    assert printer.post("api/v1/job", "ada", json={"file": "halts.gcode"}).status_code == 201
    (alarm,) = receiver.wait("/alarms")
    assert alarm.headers["Title"] == "demo-1: print failed"
    assert alarm.headers["Priority"] == "high"
    assert alarm.headers["Tags"] == "x"
    assert "halts.gcode failed on demo-1" in alarm.body.decode()
    beds = receiver.wait("/beds", 2)
    assert beds[1].json()["file"] == "halts.gcode"
    assert beds[1].json()["outcome"] == "failed"
    time.sleep(1.5)
    assert len(receiver.to("/alarms")) == 1
    assert len(receiver.to("/beds")) == 2


def test_a_failing_target_is_retried_then_reported_and_never_holds_up_the_hub(
    receiver: Receiver, one_printer: tuple[HubProcess, SimulatedFleet, requests.Session]
) -> None:
    hub, printers, admin = one_printer
    broken = add_target(admin, hub, kind="webhook", url=receiver.url + "/broken",
                        events=["finished"], name="broken")  # fmt: skip
    slow = add_target(admin, hub, kind="ntfy", url=receiver.url + "/slow", name="slow")
    fine = add_target(admin, hub, kind="webhook", url=receiver.url + "/fine", name="fine")
    (printer,) = print_servers(hub, printers)
    printer.upload("short.gcode", SHORT)
    printer.print_file("short.gcode", "ada", clear=False)

    # While the broken target is retried and the slow one hangs, the hub answers: the answer
    # comes while the delivery to the slow target is still under way (5 s a try, 4 tries).
    receiver.wait("/slow")
    assert targets(admin, hub)["slow"]["last"]["status"] is None

    tries = receiver.wait("/broken", 4)
    # Each retry waits its turn of the backoff (1, 2, 4 s) at least; a busy machine only
    # makes the gaps longer.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(tries)]
    assert all(gap >= wait - 0.1 for gap, wait in zip(gaps, BACKOFF, strict=True)), gaps
    wait_until(lambda: targets(admin, hub)["broken"]["last"]["status"] == "failed", what="reported")
    last = targets(admin, hub)["broken"]["last"]
    assert "500" in last["error"]
    assert "4 attempts" in last["error"]
    assert last["event"] == "finished"
    assert len(receiver.to("/fine")) == 1
    time.sleep(1)
    assert len(receiver.to("/broken")) == 4

    # A test message: the answer says whether it arrived.
    answer = admin.post(hub.url + f"api/notifications/{broken['id']}/test", timeout=30)
    assert answer.status_code == 502
    assert "500" in answer.json()["error"]
    answer = admin.post(hub.url + f"api/notifications/{fine['id']}/test", timeout=30)
    assert answer.status_code == 200, answer.text
    assert receiver.to("/fine")[-1].json()["event"] == "test"
    assert answer.json()["target"]["last"]["status"] == "delivered"
    nowhere = add_target(admin, hub, kind="webhook",
                         url=f"http://127.0.0.1:{free_ports(1)}/hook", name="nowhere")  # fmt: skip
    answer = admin.post(hub.url + f"api/notifications/{nowhere['id']}/test", timeout=30)
    assert answer.status_code == 502
    assert answer.json()["target"]["last"]["status"] == "failed"
    # A person's words for a plain http URL nothing listens on: no TLS, no aiohttp jargon.
    port = nowhere["url"].rsplit(":", 1)[1].split("/")[0]
    said = answer.json()["error"]
    assert f"could not connect to http://127.0.0.1:{port} (connection refused)" in said, said
    assert "ssl" not in said.lower() and "Connect call" not in said
    # A target that does not answer: given up on its timeout, and the hub says so.
    answer = admin.post(hub.url + f"api/notifications/{slow['id']}/test", timeout=120)
    assert answer.status_code == 502
    assert "timed out after 5 s" in answer.json()["error"]


def test_targets_are_checked_and_only_admins_manage_them(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub()
    add_user(hub, "ada", "admin")
    add_user(hub, "linus", "operator", Grants(printers=frozenset({"*"})))
    admin = login(hub.url, "ada", PASSWORD)
    url = hub.url + "api/notifications"

    bad_bodies: list[Any] = [
        [],
        "webhook",
        {"url": "https://example.org/hook"},
        {"kind": "email", "url": "https://example.org/hook"},
        {"kind": "webhook"},
        {"kind": "webhook", "url": 12},
        {"kind": "webhook", "url": "ftp://example.org/hook"},
        {"kind": "webhook", "url": "javascript:alert(1)"},
        {"kind": "webhook", "url": "file:///etc/passwd"},
        {"kind": "ntfy", "url": "http://"},
        {"kind": "ntfy", "url": "example.org/topic"},
        {"kind": "ntfy", "url": "https://exa mple.org/topic"},
        {"kind": "ntfy", "url": "https://example.org:99999/topic"},
        {"kind": "ntfy", "url": "https://example.org/" + "a" * 3000},
        {"kind": "webhook", "url": "https://example.org/hook", "events": "finished"},
        {"kind": "webhook", "url": "https://example.org/hook", "events": []},
        {"kind": "webhook", "url": "https://example.org/hook", "events": ["exploded"]},
        {"kind": "webhook", "url": "https://example.org/hook", "name": 5},
        {"kind": "webhook", "url": "https://example.org/hook", "name": "n" * 200},
    ]
    for body in bad_bodies:
        answer = admin.post(url, json=body, timeout=10)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]
    answer = admin.post(url, data="{not json", timeout=10,
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 400
    huge = {"kind": "webhook", "url": "https://example.org/hook", "name": "x" * 100_000}
    assert admin.post(url, json=huge, timeout=10).status_code == 413
    assert admin.get(url, timeout=10).json()["targets"] == []

    added = add_target(admin, hub, kind="ntfy", url="https://example.org/printers")
    assert added["name"] == "example.org"
    assert added["events"] == ["finished", "failed", "bed_clear_needed"]
    assert added["last"]["status"] is None

    linus = login(hub.url, "linus", PASSWORD)
    assert linus.get(url, timeout=10).status_code == 403
    assert linus.post(url, json={"kind": "webhook", "url": "https://example.org/x"},
                      timeout=10).status_code == 403  # fmt: skip
    assert linus.delete(f"{url}/{added['id']}", timeout=10).status_code == 403
    assert linus.post(f"{url}/{added['id']}/test", timeout=10).status_code == 403
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.delete(f"{url}/{added['id']}", timeout=10).status_code == 401
    # A session without its CSRF token changes nothing.
    bare = requests.Session()
    bare.cookies.update(admin.cookies)
    assert bare.delete(f"{url}/{added['id']}", timeout=10).status_code == 403

    assert admin.delete(f"{url}/{added['id']}", timeout=10).status_code == 200
    assert admin.get(url, timeout=10).json()["targets"] == []
    for missing in (str(added["id"]), "abc", "9" * 30):
        assert admin.delete(f"{url}/{missing}", timeout=10).status_code == 404
        assert admin.post(f"{url}/{missing}/test", timeout=10).status_code == 404
    audit = admin.get(hub.url + "api/audit", timeout=10).json()["entries"]
    assert [e["action"] for e in audit if e["action"].startswith("notification")] == [
        "notification target removed",
        "notification target added",
    ]


def test_the_notifications_page_adds_tests_and_removes_targets(
    receiver: Receiver, start_hub: Callable[..., HubProcess], page: Page
) -> None:
    hub = start_hub()
    add_user(hub, "ada", "admin")
    add_user(hub, "vic", "viewer", Grants(printers=frozenset({"*"})))
    log_in_page(page, hub, "ada", "notifications")
    section = page.locator("#notifications")
    expect(section.locator("h2")).to_have_text("Notifications")
    form = section.locator("form.notify-add")
    form.locator("select[name=kind]").select_option("webhook")
    form.locator("input[name=url]").fill(receiver.url + "/hook")
    form.locator("input[name=name]").fill("lab hook")
    form.locator("input[value=bed_clear_needed]").uncheck()
    form.locator("button[type=submit]").click()
    expect(section.locator(".notify-status")).to_have_text("lab hook added.")
    rows = section.locator(".notify-targets tbody tr[data-target]")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("Print finished, Print failed")
    expect(rows.nth(0).locator(".notify-last")).to_have_text("Nothing sent yet")

    rows.nth(0).get_by_role("button", name="Test").click()
    expect(section.locator(".notify-status")).to_have_text("The test reached lab hook.")
    expect(rows.nth(0).locator(".notify-last")).to_contain_text("Test: delivered at")
    test = receiver.to("/hook")[0].json()
    assert test["event"] == "test"
    # Links in messages lead to the address the admin used.
    assert test["url"] == hub.url

    # A target nothing listens on: the page says so in plain words (no aiohttp, no TLS).
    port = free_ports(1)
    form.locator("input[name=url]").fill(f"http://127.0.0.1:{port}/hook")
    form.locator("input[name=name]").fill("nowhere")
    form.locator("button[type=submit]").click()
    expect(rows).to_have_count(2)
    nowhere = section.locator(".notify-targets tbody tr", has_text="nowhere")
    nowhere.get_by_role("button", name="Test").click()
    said = f"could not connect to http://127.0.0.1:{port} (connection refused)"
    expect(section.locator(".notify-status")).to_contain_text(said, timeout=30_000)
    expect(nowhere.locator(".notify-last")).to_contain_text(said)
    expect(nowhere.locator(".notify-last")).not_to_contain_text("ssl")
    page.once("dialog", lambda dialog: dialog.accept())
    nowhere.get_by_role("button", name="Remove").click()
    expect(rows).to_have_count(1)

    # Refused by the hub: the page says why, nothing is added.
    form.locator("input[name=url]").fill("ftp://example.org/hook")
    form.locator("button[type=submit]").click()
    expect(section.locator(".notify-status")).to_contain_text("http:// or https://")
    expect(rows).to_have_count(1)
    screenshot(page, "hub-notifications-01")

    page.once("dialog", lambda dialog: dialog.accept())
    rows.nth(0).get_by_role("button", name="Remove").click()
    expect(section.locator(".notify-status")).to_have_text("lab hook removed.")
    expect(rows).to_have_count(0)

    page.click("#logout")
    page.wait_for_url("**/login*")
    log_in_page(page, hub, "vic", "notifications")
    expect(page.locator('#nav a[data-section="notifications"]')).to_be_hidden()
    expect(section).to_contain_text("Only admins can manage notifications.")


def test_a_failure_reads_as_a_person_would_say_it() -> None:
    """aiohttp's "ssl:default [Connect call failed …]" never reaches the page."""
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
    assert failure_text("http://127.0.0.1:9/hook", refused) == (
        "could not connect to http://127.0.0.1:9 (connection refused)"
    )
    assert failure_text(
        "http://hooks.invalid/x", socket.gaierror(-2, "Name or service not known")
    ) == ("could not connect to http://hooks.invalid:80 (no such host name)")
    broken = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    assert failure_text("https://hooks.example:8443/x", broken).startswith(
        "TLS error talking to https://hooks.example:8443:"
    )
    # A plain http URL never gets a TLS word, whatever the exception says.
    assert "TLS" not in failure_text("http://hooks.example/x", broken)
