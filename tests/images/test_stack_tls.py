"""The real stack with HTTPS: a self-signed certificate `fabfleet up` makes, over IPv4 and IPv6.

One fleet for the module (1 simulated printer, 1 camera whose device is absent) with
``site.tls: {self_signed: true}`` on ports of its own, brought up once with `fabfleet up`.
Every HTTPS request verifies the certificate `up` made (no ``verify=False``); the same is
checked through the published ports on the IPv6 loopback, ``[::1]``, which Docker's
userland proxy serves with its default settings. Debian's Chromium, told to trust exactly
that certificate's key, logs in from an ``http://`` address and follows the fleet live.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest
import requests
from playwright.sync_api import Page, expect

from orchestrator.cli import stack as stack_commands
from orchestrator.stack.images import RequireImages
from orchestrator.stack.tls import CERTIFICATE, KEY
from tests.browser.axe_check import assert_accessible
from tests.browser.conftest import launched, watched_page
from tests.browser.layout import both_sizes
from tests.images.conftest import Built
from tests.images.proxy_stack import (
    ADMIN,
    ADMIN_PASSWORD,
    Visitor,
    containers,
    eventually,
    fabfleet,
    mjpeg_frames,
    printer_states,
    wait_healthy,
)
from tests.orchestrator.stack_helpers import Stack, free_port, make_stack, remove_project

PRINTER = "mk4"
UID = 10001
# The loopback names the certificate is made for, as a browser would write them.
HOSTS = ("localhost", "[::1]")


@dataclass
class TlsFleet:
    """The module's stack with HTTPS, up."""

    stack: Stack
    client: docker.DockerClient
    https_port: int
    camera: str
    up_output: str

    @property
    def certificate(self) -> Path:
        return self.stack.state_dir / CERTIFICATE

    def base(self, host: str = "localhost") -> str:
        return f"https://{host}:{self.https_port}"

    def plain(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.stack.http_port}"

    def services(self) -> list[str]:
        return ["hub", "proxy", f"sim-{PRINTER}", f"printer-{PRINTER}", f"camera-{self.camera}"]

    def visitor(self, host: str = "localhost") -> Visitor:
        visitor = Visitor(self.base(host))
        visitor.session.verify = str(self.certificate)
        # Else REQUESTS_CA_BUNDLE (set on many hosts) would replace the session's verify.
        visitor.session.trust_env = False
        return visitor

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.certificate))


@pytest.fixture(scope="module")
def tls_fleet(
    tmp_path_factory: pytest.TempPathFactory, client: docker.DockerClient, built: Built
) -> Iterator[TlsFleet]:
    """1 simulated printer with a camera that is not plugged in, behind HTTPS."""
    stack = make_stack(tmp_path_factory.mktemp("tls-stack"), built.repository)
    https_port = free_port()
    camera = f"tls-{stack.project[-6:]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack_commands, "image_provider", RequireImages())
        stack.write(
            [{"name": PRINTER, "simulated": {"time_factor": 100}, "camera": camera}],
            [{"name": camera, "serial": f"FFTLS{camera.upper()}", "resolution": "640x480",
              "fps": 5}],
            site={"https_port": https_port, "tls": {"self_signed": True}},
        )  # fmt: skip
        try:
            up = fabfleet(stack, "up")
            assert up.exit_code == 0, up.output
            made = TlsFleet(stack, client, https_port, camera, up.output)
            wait_healthy(client, stack.project, made.services())
            added = fabfleet(stack, "user", "add", ADMIN, "--admin", "--password-stdin",
                             stdin=f"{ADMIN_PASSWORD}\n")  # fmt: skip
            assert added.exit_code == 0, added.output
            yield made
        finally:
            remove_project(client, stack.project)


@pytest.fixture(scope="module")
def admin(tls_fleet: TlsFleet) -> Visitor:
    visitor = tls_fleet.visitor()
    me = visitor.login(ADMIN, ADMIN_PASSWORD)
    assert (me["name"], me["role"]) == (ADMIN, "admin")
    return visitor


def alt_names(certificate: Path) -> str:
    done = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(certificate)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_up_makes_a_certificate_for_the_host_and_keeps_its_key_private(
    tls_fleet: TlsFleet,
) -> None:
    assert f"changed    {tls_fleet.certificate}" in tls_fleet.up_output
    # The user is told what to trust (on stderr, which the test's runner mixes in).
    assert (f"made a self-signed certificate for {socket.gethostname()}, ") in tls_fleet.up_output
    assert f"browsers warn until they trust {tls_fleet.certificate}" in tls_fleet.up_output
    names = alt_names(tls_fleet.certificate)
    for name in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1"):
        assert name in names, names
    key = (tls_fleet.stack.state_dir / KEY).stat()
    # Only the containers' user (nginx) may read the key; the directory is its alone.
    assert (stat.S_IMODE(key.st_mode), key.st_uid) == (0o400, UID)
    folder = (tls_fleet.stack.state_dir / KEY).parent.stat()
    assert (stat.S_IMODE(folder.st_mode), folder.st_uid) == (0o700, UID)
    # A second `up` keeps the certificate: a browser's exception for it stays good.
    before = tls_fleet.certificate.read_bytes()
    again = fabfleet(tls_fleet.stack, "up")
    assert again.exit_code == 0, again.output
    assert str(tls_fleet.certificate) not in again.output
    assert tls_fleet.certificate.read_bytes() == before


@pytest.mark.parametrize("host", HOSTS)
def test_https_serves_the_pages_and_the_api_with_hsts(
    tls_fleet: TlsFleet, admin: Visitor, host: str
) -> None:
    visitor = tls_fleet.visitor(host)
    login = visitor.get("/login")
    assert login.status_code == 200 and 'id="password"' in login.text
    assert login.headers["Strict-Transport-Security"] == "max-age=31536000"
    visitor.login(ADMIN, ADMIN_PASSWORD)
    dashboard = visitor.get("/")
    assert dashboard.status_code == 200
    assert dashboard.headers["Content-Type"].startswith("text/html")
    states = eventually(
        lambda: printer_states(visitor.json("/api/fleet")),
        lambda s: s == {PRINTER: "ready"},
        60,
        f"{PRINTER} ready in /api/fleet over {host}",
    )
    assert states == {PRINTER: "ready"}
    page = visitor.get(f"/printers/{PRINTER}/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    printer = visitor.json(f"/printers/{PRINTER}/api/v1/printer")
    assert (printer["name"], printer["connected"]) == (PRINTER, True)


def test_a_client_that_does_not_trust_the_certificate_is_told(tls_fleet: TlsFleet) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_fleet.base()}/login", timeout=10)


@pytest.mark.parametrize(
    ("host", "header"),
    [("127.0.0.1", None), ("[::1]", None), ("127.0.0.1", "farm.example:{port}"),
     ("127.0.0.1", "[::1]:{port}")],
)  # fmt: skip
def test_http_redirects_to_the_same_path_on_the_https_port(
    tls_fleet: TlsFleet, host: str, header: str | None
) -> None:
    headers = {} if header is None else {"Host": header.format(port=tls_fleet.stack.http_port)}
    named = host if header is None else header.split(":")[0]
    if header is not None and header.startswith("["):
        named = "[::1]"
    answer = requests.get(
        f"{tls_fleet.plain(host)}/printers/{PRINTER}/api/v1/printer?pretty=1",
        headers=headers, allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 301
    assert answer.headers["Location"] == (
        f"https://{named}:{tls_fleet.https_port}/printers/{PRINTER}/api/v1/printer?pretty=1"
    )
    # The health check stays on HTTP (Docker's health check asks it there).
    assert requests.get(f"{tls_fleet.plain(host)}/healthz", timeout=10).text == "ok\n"


def test_a_request_that_names_no_host_is_told_rather_than_redirected_nowhere(
    tls_fleet: TlsFleet,
) -> None:
    with socket.create_connection(("127.0.0.1", tls_fleet.stack.http_port), timeout=10) as link:
        link.sendall(b"GET /dashboard HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := link.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"400", head
    assert b"Location" not in head
    assert f"open https://<this host>:{tls_fleet.https_port}/".encode() in body


def test_followed_from_http_the_login_ends_on_https(tls_fleet: TlsFleet) -> None:
    answer = requests.get(
        f"{tls_fleet.plain('localhost')}/", verify=str(tls_fleet.certificate), timeout=10
    )
    assert answer.status_code == 200
    assert answer.url == f"{tls_fleet.base()}/login"
    assert [r.status_code for r in answer.history] == [301, 302]


def test_session_and_csrf_cookies_are_secure(tls_fleet: TlsFleet) -> None:
    visitor = tls_fleet.visitor()
    answer = visitor.post("/api/login", json={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert answer.status_code == 200
    cookies = {c.name: c for c in visitor.session.cookies}
    assert set(cookies) == {"fabfleet_session", "fabfleet_csrf"}
    assert all(c.secure for c in cookies.values()), answer.headers.get("Set-Cookie")
    set_cookie = answer.raw.headers.getlist("Set-Cookie")
    assert len(set_cookie) == 2 and all("; Secure" in line for line in set_cookie), set_cookie
    # A client that reaches the hub around the proxy cannot claim HTTPS: nobody can, the
    # hub is on the internal network only; and nginx replaces a client's X-Forwarded-Proto.
    spoofed = requests.post(
        f"{tls_fleet.base()}/api/login",
        json={"username": ADMIN, "password": ADMIN_PASSWORD},
        headers={"X-Forwarded-Proto": "http"},
        verify=str(tls_fleet.certificate),
        timeout=10,
    )
    assert all("; Secure" in line for line in spoofed.raw.headers.getlist("Set-Cookie"))


# A bed target of 45 °C in an event, however the stream nests it.
BED_45 = re.compile(r'"target": 45(\.0)?[,}]')


async def _send(http: aiohttp.ClientSession, visitor: Visitor, command: str) -> None:
    assert visitor.csrf is not None
    async with http.post(
        f"{visitor.base}/printers/{PRINTER}/api/v1/terminal",
        json={"command": command},
        headers={"X-CSRF-Token": visitor.csrf},
    ) as answer:
        assert answer.status == 202, await answer.text()


async def _until_bed_45(socket: aiohttp.ClientWebSocketResponse, deadline: float) -> str:
    """The first message of ``socket`` that shows the bed's target at 45 °C, or ""."""
    while time.monotonic() < deadline:
        message = await socket.receive_str(timeout=deadline - time.monotonic())
        if BED_45.search(message):
            return message
    return ""


async def _live_over_tls(fleet: TlsFleet, visitor: Visitor) -> tuple[Any, ...]:
    """The dashboard's and the printer page's WebSockets through the proxy, over wss://:
    their first messages, then what each shows once the bed is set to 45 °C."""
    base = visitor.base.replace("https://", "wss://", 1)
    headers = {"Cookie": visitor.cookie_header(), "Origin": visitor.base}
    connector = aiohttp.TCPConnector(ssl=fleet.ssl_context())
    async with (
        aiohttp.ClientSession(headers=headers, connector=connector) as http,
        http.ws_connect(f"{base}/api/fleet/events") as dashboard,
        http.ws_connect(f"{base}/printers/{PRINTER}/api/v1/events?log=0") as printer,
    ):
        snapshot: dict[str, Any] = await dashboard.receive_json(timeout=15)
        first: dict[str, Any] = await printer.receive_json(timeout=15)
        await _send(http, visitor, "M140 S45")
        deadline = time.monotonic() + 30
        try:
            on_dashboard = await _until_bed_45(dashboard, deadline)
            on_printer = await _until_bed_45(printer, deadline)
        finally:
            await _send(http, visitor, "M140 S0")
    # TLS connections close a moment after their session (aiohttp's graceful shutdown).
    await asyncio.sleep(0.25)
    return snapshot, first, on_dashboard, on_printer


@pytest.mark.parametrize("host", HOSTS)
def test_websockets_stream_live_over_tls(tls_fleet: TlsFleet, admin: Visitor, host: str) -> None:
    visitor = tls_fleet.visitor(host)
    visitor.login(ADMIN, ADMIN_PASSWORD)
    snapshot, first, on_dashboard, on_printer = asyncio.run(_live_over_tls(tls_fleet, visitor))
    assert snapshot["type"] == "snapshot"
    assert [p["name"] for p in snapshot["printers"]] == [PRINTER]
    assert (first["type"], first["name"]) == ("state", PRINTER)
    assert on_dashboard, "the dashboard's stream did not show the bed's new target"
    assert on_printer, "the printer's stream did not show the bed's new target"


@pytest.mark.parametrize("host", HOSTS)
def test_the_camera_stream_flows_over_tls(tls_fleet: TlsFleet, admin: Visitor, host: str) -> None:
    visitor = tls_fleet.visitor(host)
    visitor.login(ADMIN, ADMIN_PASSWORD)
    received = mjpeg_frames(visitor, f"/cameras/{tls_fleet.camera}/stream", 2)
    assert received.count(b"\xff\xd8") >= 2, f"{len(received)} bytes, fewer than 2 frames"


def test_the_proxy_publishes_both_ports_on_ipv4_and_ipv6(tls_fleet: TlsFleet) -> None:
    proxy = containers(tls_fleet.client, tls_fleet.stack.project)["proxy"]
    ports = proxy.attrs["HostConfig"]["PortBindings"]
    for port in (tls_fleet.stack.http_port, tls_fleet.https_port):
        bound = {b["HostIp"] for b in ports[f"{port}/tcp"]}
        assert bound == {"0.0.0.0", "::"}, ports


def test_a_renewed_certificate_is_served_after_up(tls_fleet: TlsFleet) -> None:
    # A new certificate (here: new names) reaches nginx through the mounted directory
    # and a reload; the proxy is not recreated, so streams keep flowing.
    proxy = containers(tls_fleet.client, tls_fleet.stack.project)["proxy"]
    started = proxy.attrs["State"]["StartedAt"]
    tls_fleet.stack.write(
        [{"name": PRINTER, "simulated": {"time_factor": 100}, "camera": tls_fleet.camera}],
        [{"name": tls_fleet.camera, "serial": f"FFTLS{tls_fleet.camera.upper()}",
          "resolution": "640x480", "fps": 5}],
        site={"https_port": tls_fleet.https_port,
              "tls": {"self_signed": True, "names": ["farm.example"]}},
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack_commands, "image_provider", RequireImages())
        again = fabfleet(tls_fleet.stack, "up")
    assert again.exit_code == 0, again.output
    assert "reloaded proxy (secrets/tls changed)" in again.output, again.output
    assert "DNS:farm.example" in alt_names(tls_fleet.certificate)

    eventually(
        lambda: ssl.get_server_certificate(("127.0.0.1", tls_fleet.https_port)),
        lambda pem: pem.strip() == tls_fleet.certificate.read_text().strip(),
        20,
        "the new certificate served",
    )
    proxy.reload()
    assert proxy.attrs["State"]["StartedAt"] == started
    assert os.path.exists(tls_fleet.certificate)


def spki_pin(certificate: Path) -> str:
    """base64(SHA-256(the certificate's public key)): what Chromium's
    ``--ignore-certificate-errors-spki-list`` trusts, that key and no other."""
    key = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(certificate)],
                         capture_output=True, check=True).stdout  # fmt: skip
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key,
                         capture_output=True, check=True).stdout  # fmt: skip
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture
def page(tls_fleet: TlsFleet) -> Iterator[Page]:
    """Chromium that trusts the stack's certificate (its key pinned), nothing else more."""
    trust = f"--ignore-certificate-errors-spki-list={spki_pin(tls_fleet.certificate)}"
    with launched([trust]) as browser, watched_page(browser) as page:
        yield page


def test_chromium_logs_in_over_https_and_follows_the_fleet_live(
    tls_fleet: TlsFleet, admin: Visitor, page: Page
) -> None:
    # Typed as http://: the proxy sends the browser to HTTPS, the gate to the login.
    https = tls_fleet.base()
    page.goto(f"{tls_fleet.plain('localhost')}/printers/{PRINTER}/")
    expect(page).to_have_url(f"{https}/login?next=/printers/{PRINTER}/")
    page.locator("#username").fill(ADMIN)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("#submit").click()
    expect(page).to_have_url(f"{https}/printers/{PRINTER}/")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert {"fabfleet_session", "fabfleet_csrf"} <= set(cookies)
    # The printer page's events arrive over wss://, its camera's MJPEG over https://.
    expect(page.locator("#link")).to_have_text("live")
    expect(page.locator("#state")).to_have_text("Ready")
    camera = page.locator("#camera")
    expect(camera).to_have_attribute("src", f"/cameras/{tls_fleet.camera}/stream")
    page.wait_for_function("() => document.getElementById('camera').naturalWidth > 0")
    assert camera.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [640, 480]
    # Every cookie the page got is Secure: the hub's, and ustreamer's stream_client.
    secure = {str(c.get("name")): c.get("secure") for c in page.context.cookies()}
    assert "stream_client" in secure and set(secure.values()) == {True}, secure
    assert_accessible(page, "printer page over HTTPS")
    both_sizes(page, "tls-printer-page")

    page.goto(f"{https}/")
    card = page.locator(f'.printer-card[data-printer="{PRINTER}"]')
    expect(page.locator(".fleet-live")).to_have_text("live")
    expect(card.locator(".state-badge")).to_have_text("Ready")
    # Something happens at the printer; the dashboard shows it without a reload.
    sent = admin.post(f"/printers/{PRINTER}/api/v1/terminal", json={"command": "M140 S45"})
    assert sent.status_code == 202, sent.text
    try:
        expect(card.locator(".bed")).to_have_text(re.compile(r" / 45 °C$"), timeout=20000)
    finally:
        admin.post(f"/printers/{PRINTER}/api/v1/terminal", json={"command": "M140 S0"})
    assert_accessible(page, "dashboard over HTTPS")
    both_sizes(page, "tls-dashboard")
