"""The real demo stack (nginx, hub, simulated printers) for browser tests and benches.

``running_site`` starts ``orchestrator.demo.runtime.Demo`` in-process, as ``fabfleet demo``
does (the hub and the print servers on Unix sockets, only nginx on a port), and
:class:`SiteClient` speaks to it through nginx as a browser's session does:
log in, make users with a role and printer grants, act on a printer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import ConsoleMessage, Page

from orchestrator.demo.runtime import ADMIN, Demo, DemoSite
from tests.orchestrator.test_demo import free_ports

# Strong enough for the hub's password check.
PASSWORD = "a long enough password for the lab"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
# A print of a few moves: done in seconds on a fast simulator, nothing to heat.
MOVES = [f"G1 X{10 + i} Y{10 + i} E0.1 F3000" for i in range(40)]
TINY_GCODE = "\n".join(["; a tiny test part", "G28", "G90", "M83", *MOVES, "M84", ""])


@dataclass
class RunningSite:
    """A started demo: the address to open, the admin's password, its printers."""

    url: str
    password: str
    printers: list[str]
    demo: Demo


@contextlib.contextmanager
def running_site(workdir: Path, printers: int, time_factor: float = 20) -> Iterator[RunningSite]:
    """The whole demo stack on 127.0.0.1 until the block ends."""
    port = free_ports(1)
    with Demo(workdir, printers, port, time_factor, private=True) as demo:
        started: DemoSite = demo.start(lambda _line: None)
        yield RunningSite(
            started.url.rstrip("/"), started.password, [p.name for p in started.printers], demo
        )


class SiteClient:
    """One user's session through nginx: the hub's API and the printers' APIs."""

    def __init__(self, site: RunningSite, user: str = ADMIN, password: str | None = None) -> None:
        self.site = site
        self.session = requests.Session()
        answer = self.session.post(
            f"{site.url}/api/login",
            json={"username": user, "password": password or site.password},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def browser_cookies(self) -> list[Any]:
        """The session's cookies, for a browser context's ``add_cookies``."""
        return [
            {"name": c.name, "value": c.value or "", "url": self.site.url}
            for c in self.session.cookies
        ]

    @property
    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.session.cookies["fabfleet_csrf"]}

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """A request to ``path`` on the site, with the session's CSRF token."""
        return self.session.request(
            method, self.site.url + path, json=body, headers=self.csrf, timeout=15, **kwargs
        )

    def add_user(self, name: str, role: str, printers: list[str] | None = None) -> None:
        grants = {"printers": printers or [], "groups": []}
        body = {"name": name, "password": PASSWORD, "role": role, "grants": grants}
        answer = self.call("POST", "/api/users", body)
        assert answer.status_code == 201, answer.text

    def printer(self, name: str) -> dict[str, Any]:
        answer = self.call("GET", f"/printers/{name}/api/v1/printer")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def upload(self, printer: str, file: str, content: str) -> None:
        answer = self.session.post(
            f"{self.site.url}/printers/{printer}/api/v1/files",
            files={"file": (file, content.encode(), "text/plain")},
            headers=self.csrf,
            timeout=30,
        )
        assert answer.status_code in (200, 201), answer.text

    def start_print(self, printer: str, file: str) -> None:
        answer = self.call("POST", f"/printers/{printer}/api/v1/job", {"file": file})
        assert answer.status_code == 201, answer.text

    def print_to_end(self, printer: str, file: str = "tiny-part.gcode") -> None:
        """Upload TINY_GCODE as ``file`` and print it until the printer says finished."""
        self.upload(printer, file, TINY_GCODE)
        self.start_print(printer, file)
        self.wait_for_state(printer, "finished", within=120)

    def wait_for_state(self, printer: str, *states: str, within: float = 90) -> str:
        """Poll until the printer is in one of ``states`` (a generous deadline, no timing)."""
        deadline = time.monotonic() + within
        state = ""
        while time.monotonic() < deadline:
            state = str(self.printer(printer)["state"])
            if state in states:
                return state
            time.sleep(0.2)
        raise AssertionError(f"{printer} stayed {state!r}, not one of {states}")


class ConsoleWatch:
    """Every console error and uncaught page error of the pages it watches."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.location.get('url', '')}: {message.text}")
