"""Home Assistant's OctoPrint client and octorest against the real demo stack (nginx, hub,
simulated printers): an app asks a printer for a key, a person approves in Chromium, and
then every call Home Assistant's integration makes, and the libraries' examples make,
works with that key on that printer, and nowhere else.

What the clients call, read from their code (rfleming71/pyoctoprintapi ``api.py`` and
``octoprint_client.py``; Home Assistant's homeassistant/components/octoprint
``config_flow.py``, ``coordinator.py``, ``camera.py``, ``button.py``, ``number.py``;
dougbrion/OctoRest ``client.py`` and its examples):

- the key: ``GET plugin/appkeys/probe`` (204), ``POST plugin/appkeys/request``
  (201, the token from ``Location``), ``GET plugin/appkeys/request/<token>`` each second
  (202 ``{}`` / 200 ``{"api_key"}`` / 404);
- set-up: ``GET api/settings`` → ``plugins.discovery.upnpUuid`` (the entry's unique id);
- the coordinator: ``GET api/printer`` (``temperature.<tool0|bed>.{actual,target,offset}``,
  ``state.text``, ``state.flags``; 409 when offline) and ``GET api/job``;
- ``GET api/server`` (``version``, ``safemode``), ``plugins.tracking`` (absent: None),
  the ``webcam`` block (camera entity);
- buttons: ``POST api/job`` pause/resume/cancel; the ``printer_connect`` service:
  ``POST api/connection``; numbers: ``POST api/printer/tool``
  ``target`` and ``POST api/printer/bed`` ``target`` (pyoctoprintapi sends the latter to
  ``<base>//api/printer/bed``, with a doubled slash, which nginx merges);
- octorest: ``api/version`` on load, ``job_info``, ``connection_info``, ``printer``,
  ``files``, ``upload``, ``select(print=True)``.

octorest keeps only the scheme and host of its URL (``OctoRest.__init__``), so it reaches
a printer only at the root of a host; the test gives it a session that adds the printer's
``/printers/<name>`` prefix, as a reverse proxy on a port of its own would.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
import requests
from octorest import OctoRest  # type: ignore[import-untyped]
from octorest.client import AuthorizationRequestPollingResult  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect
from pyoctoprintapi import ApiError, OctoprintClient  # type: ignore[import-untyped]

from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.layout import overflow
from tests.browser.site import PASSWORD, RunningSite, SiteClient, running_site

pytestmark = pytest.mark.timeout(240)
# Long enough to pause, resume and cancel while it prints (each move takes its time).
LONG_GCODE = "\n".join(
    ["; a long test part", "G28", "G90", "M83"]
    + [f"G1 X{20 + i % 100} Y{20 + i % 50} E0.1 F600" for i in range(3000)]
    + ["M84", ""]
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    with running_site(tmp_path_factory.mktemp("appkeys"), 2, time_factor=20) as started:
        admin = SiteClient(started)
        admin.add_user("alice", "operator", ["demo-1"])
        admin.add_user("bob", "operator", ["demo-2"])
        yield started


def client(site: RunningSite, printer: str, session: aiohttp.ClientSession) -> Any:
    """pyoctoprintapi's client as Home Assistant makes it: host, port, path."""
    address = urlsplit(site.url)
    assert address.hostname is not None and address.port is not None
    return OctoprintClient(address.hostname, session, address.port, False, f"/printers/{printer}/")


def run(work: Callable[[aiohttp.ClientSession], Any]) -> Any:
    """One coroutine with a fresh aiohttp session (Home Assistant's client is async), on a
    thread of its own: Playwright's sync API keeps this thread's event loop."""

    async def main() -> Any:
        async with aiohttp.ClientSession() as session:
            return await work(session)

    worker = InBackground(lambda: asyncio.run(main()))
    worker.start()
    result = worker.finish()
    if worker.error is not None:
        raise worker.error
    return result


class InBackground(threading.Thread):
    """A client waiting for its key while the person decides in the browser."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self) -> Any:
        self.join(90)
        assert not self.is_alive(), "the client is still waiting"
        return self.result


def ask_in_background(site: RunningSite, printer: str, app: str, user: str) -> InBackground:
    async def work() -> Any:
        async with aiohttp.ClientSession() as session:
            return await client(site, printer, session).request_app_key(app, user, 60)

    waiting = InBackground(lambda: asyncio.run(work()))
    waiting.start()
    return waiting


def pending_for(user: SiteClient) -> list[dict[str, Any]]:
    found = user.call("GET", "/api/app-key-requests")
    assert found.status_code == 200, found.text
    return found.json()["requests"]  # type: ignore[no-any-return]


def wait_for_request(user: SiteClient, app: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for request in pending_for(user):
            if request["app"] == app:
                return request
        time.sleep(0.2)
    raise AssertionError(f"{app}'s request never reached the hub")


def log_in(page: Page, site: RunningSite, user: str) -> None:
    page.context.add_cookies(SiteClient(site, user, PASSWORD).browser_cookies())
    page.goto(f"{site.url}/#keys")


class PrefixedSession(requests.Session):
    """octorest drops its URL's path: this session puts the printer's prefix back."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(url))
        if not parts.path.startswith(self.prefix):
            url = urlunsplit(parts._replace(path=self.prefix + parts.path))
        return super().request(method, url, *args, **kwargs)


def test_home_assistant_gets_a_key_a_person_approved_and_uses_it_on_that_printer_only(
    site: RunningSite, page: Page, browser_phone: Page
) -> None:
    alice, bob = SiteClient(site, "alice", PASSWORD), SiteClient(site, "bob", PASSWORD)
    waiting = ask_in_background(site, "demo-1", "Home Assistant", "alice")
    request = wait_for_request(alice, "Home Assistant")
    sentence = "Home Assistant asks for a key to demo-1 as alice"
    # bob has no rights on demo-1 and is not the user named: he neither sees nor decides it.
    assert pending_for(bob) == []
    refused = bob.call("POST", f"/api/app-key-requests/{request['id']}/approve")
    assert refused.status_code == 404

    log_in(page, site, "alice")
    box = page.locator("#app-key-box")
    expect(box.locator(".sentence")).to_have_text([sentence])
    screenshot(page, "app-keys-request-desktop")
    assert_accessible(page, "the API keys page with an app's request")
    box.locator(f'li[data-request="{request["id"]}"]').get_by_role("button", name="Approve").click()
    expect(box.get_by_role("status")).to_have_text(f"Approved: {sentence}.")
    key = waiting.finish()
    assert waiting.error is None, waiting.error
    assert isinstance(key, str) and key.startswith("ffk_")

    # Cura asks as well; alice denies it on her phone, and the app's poll ends (404).
    denied = ask_in_background(site, "demo-1", "Cura", "alice")
    cura = wait_for_request(alice, "Cura")
    log_in(browser_phone, site, "alice")
    phone_box = browser_phone.locator("#app-key-box")
    expect(phone_box.locator(".sentence")).to_have_text(["Cura asks for a key to demo-1 as alice"])
    assert overflow(browser_phone) <= 0
    screenshot(browser_phone, "app-keys-request-phone")
    assert_accessible(browser_phone, "the API keys page on a phone")
    phone_box.locator(f'li[data-request="{cura["id"]}"]').get_by_role("button", name="Deny").click()
    expect(phone_box.locator(".sentence")).to_have_count(0)
    denied.finish()
    assert isinstance(denied.error, ApiError), denied.error

    # The key is listed as alice's, for that app and printer only.
    keys = alice.call("GET", "/api/keys").json()["keys"]
    assert [(k["app"], k["printer"]) for k in keys] == [("Home Assistant", "demo-1")]
    page.reload()
    expect(page.locator("#keys-table")).to_contain_text("Home Assistant, printer demo-1 only")

    # Home Assistant's set-up and coordinator, with that key.
    async def set_up(session: aiohttp.ClientSession) -> dict[str, Any]:
        octoprint = client(site, "demo-1", session)
        octoprint.set_api_key(key)
        discovery = await octoprint.get_discovery_info()
        server = await octoprint.get_server_info()
        printer = await octoprint.get_printer_info()
        job = await octoprint.get_job_info()
        webcam = await octoprint.get_webcam_info()
        await octoprint.set_tool_temperature("tool0", 170)
        await octoprint.set_bed_temperature(45)
        await octoprint.connect()  # the printer_connect service
        return {
            "uuid": discovery.upnp_uuid,
            "server": (server.version, server.safe_mode),
            "temperatures": {t.name: (t.actual_temp, t.offset) for t in printer.temperatures},
            "state": (printer.state.text, printer.state.flags.operational),
            "job": (job.state, job.progress.completion),
            "tracking": await octoprint.get_tracking_info(),
            "webcam": webcam.enabled,
        }

    seen = run(set_up)
    assert seen["server"] == ("1.10.0", None)
    assert set(seen["temperatures"]) == {"tool0", "bed"}
    assert all(isinstance(actual, float) and offset == 0 for actual, offset in
               seen["temperatures"].values())  # fmt: skip
    assert seen["state"] == ("Operational", True)
    assert seen["job"] == ("Operational", None)
    assert seen["tracking"] is None and seen["webcam"] is False
    admin = SiteClient(site)
    demo_1 = admin.printer("demo-1")["heaters"]
    assert {name: h["target"] for name, h in demo_1.items()} == {"T0": 170, "B": 45}
    # Stable per printer, and another printer's differs.
    again = run(lambda s: _uuid(client(site, "demo-1", s), key))
    other = admin.call("GET", "/printers/demo-2/api/settings").json()
    assert again == seen["uuid"] != other["plugins"]["discovery"]["upnpUuid"]

    # octorest: its own key request (nobody named: the approving user's key), then its calls.
    rest = OctoRest(url=site.url, session=PrefixedSession("/printers/demo-1"))
    assert rest.probe_app_keys_workflow_support() is True
    poll_url = rest.start_authorization_process("OctoRest")
    assert poll_url.startswith(f"{site.url}/printers/demo-1/plugin/appkeys/request/")
    assert (
        rest.poll_auth_request_decision(poll_url)[0]
        == AuthorizationRequestPollingResult.STILL_WAITING
    )
    octorest_request = wait_for_request(alice, "OctoRest")
    assert octorest_request["sentence"] == "OctoRest asks for a key to demo-1 as whoever approves"
    assert alice.call("POST", f"/api/app-key-requests/{octorest_request['id']}/approve").ok
    granted, rest_key = rest.poll_auth_request_decision(poll_url)
    assert granted == AuthorizationRequestPollingResult.GRANTED
    assert rest.poll_auth_request_decision(poll_url)[0] == AuthorizationRequestPollingResult.NOPE
    rest = OctoRest(url=site.url, apikey=rest_key, session=PrefixedSession("/printers/demo-1"))
    assert rest.version["server"] == "1.10.0"
    assert rest.printer()["state"]["flags"]["printing"] is False
    assert rest.connection_info()["current"]["state"] == "Operational"
    rest.upload(("long-part.gcode", io.BytesIO(LONG_GCODE.encode())))
    assert "long-part.gcode" in [f["name"] for f in rest.files()["files"]]
    rest.select("long-part.gcode", print=True)
    assert rest.job_info()["job"]["file"]["name"] == "long-part.gcode"
    alice.wait_for_state("demo-1", "printing")

    # Home Assistant's buttons: pause, resume, cancel (alice, an operator, may act).
    run(lambda s: _job(client(site, "demo-1", s), key, "pause_job"))
    alice.wait_for_state("demo-1", "paused")
    run(lambda s: _job(client(site, "demo-1", s), key, "resume_job"))
    alice.wait_for_state("demo-1", "printing")
    run(lambda s: _job(client(site, "demo-1", s), key, "cancel_job"))
    alice.wait_for_state("demo-1", "failed", "bed not cleared", within=60)
    # Its shutdown, reboot and restart buttons: refused with a reason, the printer untouched.
    for button in ("shutdown", "reboot_system", "restart"):
        refused = run(partial(_press, site, key, button))
        assert "code 409" in refused, (button, refused)
    assert admin.printer("demo-1")["connected"] is True

    # The same key on another printer, and on the hub's own API: refused.
    async def elsewhere(session: aiohttp.ClientSession) -> int:
        answer = await session.get(
            f"{site.url}/printers/demo-2/api/printer", headers={"X-Api-Key": key}
        )
        return answer.status

    assert run(elsewhere) == 403
    for path in ("/api/fleet", "/api/keys", "/api/queue"):
        assert (
            requests.get(site.url + path, headers={"X-Api-Key": key}, timeout=10).status_code == 403
        )
    # Revoked: refused at once.
    mine = [
        k for k in alice.call("GET", "/api/keys").json()["keys"] if k["app"] == "Home Assistant"
    ]
    assert alice.call("DELETE", f"/api/keys/{mine[0]['id']}").ok
    assert run(lambda s: _status(site, s, key)) == 401


async def _press(site: RunningSite, key: str, button: str, session: aiohttp.ClientSession) -> str:
    """What the client raises when Home Assistant's ``button`` is pressed ("" if nothing)."""
    octoprint = client(site, "demo-1", session)
    octoprint.set_api_key(key)
    try:
        await getattr(octoprint, button)()
    except ApiError as error:
        return str(error)
    return ""


async def _uuid(octoprint: Any, key: str) -> str:
    octoprint.set_api_key(key)
    return str((await octoprint.get_discovery_info()).upnp_uuid)


async def _job(octoprint: Any, key: str, command: str) -> None:
    octoprint.set_api_key(key)
    await getattr(octoprint, command)()


async def _status(site: RunningSite, session: aiohttp.ClientSession, key: str) -> int:
    answer = await session.get(f"{site.url}/printers/demo-1/api/server", headers={"X-Api-Key": key})
    return answer.status
