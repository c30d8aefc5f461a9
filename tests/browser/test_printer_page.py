"""The printer's page in a real browser, on a real print server and simulated printer."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.dropping import drop_file
from tests.browser.printer_page_checks import no_sideways_scroll
from tests.orchestrator.stack_helpers import free_port
from tests.web.server import GCODE, Served, running_server

CUBE = "cube_prusa_marlin2.gcode"
NOTHING = "\N{EN DASH}"  # what the page shows for a time it does not know


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """No API key (the page is reached through the hub's login in the stack); 10 ms moves."""
    with running_server(tmp_path, key=None, sim_args=("--fault", "slow_planner:delay=0.01")) as s:
        yield s


def wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def percent(page: Page) -> float:
    text = page.locator("#percent").inner_text()
    match = re.match(r"([\d.]+) %", text)
    return float(match.group(1)) if match else 0.0


def draws(page: Page) -> int:
    return int(page.locator("#chart").get_attribute("data-draws") or 0)


def test_upload_print_pause_resume_cancel_and_clear_the_bed(served: Served, page: Page) -> None:
    page.goto(served.url + "/")
    state = page.locator("#state")
    expect(state).to_have_text("Ready")
    expect(page.locator("#link")).to_have_text("live")
    expect(page.locator("#name")).to_have_text("printer")
    screenshot(page, "01-ready")

    page.set_input_files("#upload", str(GCODE / CUBE))
    expect(page.locator("#upload-status")).to_have_text(f"Uploaded {CUBE}")
    item = page.locator(f"#files li[data-name='{CUBE}']")
    # The analysis arrives by itself: PrusaSlicer's 30:42, 1.68 m of filament, 99 layers.
    expect(item).to_contain_text("99 layers", timeout=30_000)
    expect(item).to_contain_text("30:42")
    expect(item).to_contain_text("1.68 m, 5.0 g")
    screenshot(page, "02-uploaded")

    item.get_by_role("button", name="Print").click()
    expect(page.locator("#confirm-text")).to_have_text(f"Print {CUBE} on printer?")
    expect(page.locator("#confirm-yes")).to_have_text("Print")
    expect(page.locator("#confirm-no")).to_have_text("Don't print")
    page.locator("#confirm-yes").click()
    expect(state).to_have_text("Printing", timeout=20_000)
    expect(page.locator("#job-file")).to_have_text(CUBE)
    # Progress and the chart move on their own.
    page.wait_for_function("() => parseFloat(document.querySelector('#percent').textContent) > 0")
    first, drawn = percent(page), draws(page)
    page.wait_for_function(
        f"() => parseFloat(document.querySelector('#percent').textContent) > {first}"
    )
    page.wait_for_function(
        f"() => Number(document.querySelector('#chart').dataset.draws) > {drawn}"
    )
    assert int(page.locator("#chart").get_attribute("data-samples") or 0) > 0
    expect(page.locator("#remaining")).not_to_have_text(NOTHING)
    expect(page.locator("[data-jog='x+']")).to_be_disabled()
    screenshot(page, "03-printing")

    page.locator("#pause").click()
    expect(state).to_have_text("Paused", timeout=30_000)
    paused_at = percent(page)
    expect(page.locator("#resume")).to_be_visible()
    expect(page.locator("#elapsed")).not_to_have_text(NOTHING)
    screenshot(page, "04-paused")
    page.locator("#resume").click()
    expect(state).to_have_text("Printing", timeout=30_000)
    page.wait_for_function(
        f"() => parseFloat(document.querySelector('#percent').textContent) > {paused_at}"
    )

    page.locator("#cancel").click()
    expect(page.locator("#confirm-text")).to_have_text(f"Cancel {CUBE}? It cannot be resumed.")
    expect(page.locator("#confirm-no")).to_have_text("Keep printing")
    expect(page.locator("#confirm-yes")).to_have_text("Cancel print")
    expect(page.locator("#confirm-yes")).to_have_class("danger")
    expect(page.locator("#confirm-no")).to_be_focused()
    page.locator("#confirm-yes").click()
    expect(state).to_have_text("Bed not cleared", timeout=30_000)
    expect(page.locator("#bed")).to_be_visible()
    screenshot(page, "05-bed-not-cleared")
    page.locator("#bed-clear").click()
    expect(state).to_have_text("Ready")
    expect(page.locator("#bed")).to_be_hidden()
    expect(page.locator("#history tr").first).to_contain_text("cancelled")
    no_sideways_scroll(page)
    screenshot(page, "06-history")
    assert served.state() == "ready"


def test_drag_and_drop_upload_and_a_refused_file(served: Served, page: Page) -> None:
    page.goto(served.url + "/")
    expect(page.locator("#link")).to_have_text("live")
    drop_file(page, "part.gcode", "G28\nG1 X10 Y10 F3000\n")
    expect(page.locator("#upload-status")).to_have_text("Uploaded part.gcode")
    expect(page.locator("#files li[data-name='part.gcode']")).to_be_visible()
    drop_file(page, "photo.gcode", "\u0000\u0001PNG binary")
    expect(page.locator("#upload-status")).to_contain_text("Upload refused: ")
    expect(page.locator("#files li[data-name='photo.gcode']")).to_have_count(0)
    assert not (served.files_dir / "photo.gcode").exists()


def test_usable_on_a_phone(served: Served, browser_phone: Page) -> None:
    page = browser_phone
    page.goto(served.url + "/")
    expect(page.locator("#state")).to_have_text("Ready")
    # Nothing sticks out sideways; the big buttons stay big enough to hit.
    no_sideways_scroll(page)
    box = page.locator("[data-home='XYZ']").bounding_box()
    assert box is not None and box["height"] >= 40
    screenshot(page, "07-phone")


NGINX_CONF = """
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /printers/mk3/ {{
            proxy_pass http://{upstream}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header X-Forwarded-Prefix /printers/mk3;
            # The stream accepts pages of the site the browser reached (its Origin).
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            client_max_body_size 0;
        }}
    }}
}}
"""


@pytest.fixture
def behind_nginx(served: Served, tmp_path: Path) -> Iterator[str]:
    """The print server at http://127.0.0.1:PORT/printers/mk3/ behind a real nginx."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = tmp_path / "nginx.conf"
    upstream = served.url.removeprefix("http://")
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, port=port, upstream=upstream))
    process = subprocess.Popen([nginx, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/printers/mk3/"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_the_page_works_under_the_proxy_prefix(
    served: Served, behind_nginx: str, page: Page
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(behind_nginx)
    expect(page.locator("#link")).to_have_text("live")
    expect(page.locator("#state")).to_have_text("Ready")
    # Behind the hub's prefix, a way back to the fleet at the site's root.
    fleet = page.get_by_role("link", name="← Fleet")
    expect(fleet).to_be_visible()
    assert fleet.get_attribute("href") == "/"
    page.set_input_files("#upload", str(GCODE / "cube_slic3r.gcode"))
    expect(page.locator("#upload-status")).to_have_text("Uploaded cube_slic3r.gcode")
    expect(page.locator("#files li[data-name='cube_slic3r.gcode']")).to_be_visible()
    # Every request the page made, the WebSocket included, stayed under the prefix (but
    # the hub's shared header, which the page loads from the site's /static/ behind the hub,
    # and the hub's power, spool and service API at the site's /api/ for its farm box).
    root = behind_nginx.removesuffix("printers/mk3/")
    allowed = (behind_nginx, root + "static/", root + "api/")
    assert requests and all(url.startswith(allowed) for url in requests), requests
    assert (served.files_dir / "cube_slic3r.gcode").exists()
