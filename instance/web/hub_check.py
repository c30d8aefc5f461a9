"""Asking the hub's dispatch check before a print starts (docs/dispatch-check.md).

Every start of this print server — its Print button, a slicer's upload-and-print, the
fleet queue's send, an OctoPrint client's select-and-print — goes through
:meth:`HubCheck.ask` once the printer itself is ready with a clear bed. The hub
answers whether power, spool, maintenance, profile and the heat-up budget let the
job start. The request is signed with this printer's gate key (the hub's
``hub/auth/printer_requests.py`` holds the same format; neither imports the other)::

    X-Fabfleet-Printer: <printer>:<unix seconds>:<hex HMAC-SHA256(key, message)>
    message = METHOD "\\n" PATH "\\n" <unix seconds> "\\n" <hex SHA-256 of the body>

A hub that cannot be asked holds the job: nothing starts, the file stays, and the
refusal says why. A print server run alone (no hub URL) asks no one. The same signed
call relays apps' key requests to the hub (instance/web/appkeys_api.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

HEADER = "X-Fabfleet-Printer"
TIMEOUT = aiohttp.ClientTimeout(total=8, sock_connect=3)


class CheckHeld(Exception):
    """The job may not start now; the message says what holds it, ``items`` the check's
    items that hold it (empty when the hub could not be asked)."""

    def __init__(self, message: str, items: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.items = items or []


class HubUnreachable(Exception):
    """The hub did not answer (the message says why)."""


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    ready: bool
    summary: str
    items: list[dict[str, Any]]


def sign(key: bytes, printer: str, method: str, path: str, body: bytes, now: float) -> str:
    stamp = int(now)
    digest = hashlib.sha256(body).hexdigest()
    message = f"{method.upper()}\n{path}\n{stamp}\n{digest}".encode()
    return f"{printer}:{stamp}:{hmac.new(key, message, 'sha256').hexdigest()}"


def parse_answer(status: int, text: str) -> CheckAnswer:
    """The hub's answer, or CheckHeld with a sentence when it is not one."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    if status != 200:
        message = body.get("error") if isinstance(body, dict) else None
        raise CheckHeld(f"the hub refused the dispatch check ({status}: {message or text[:120]})")
    if not isinstance(body, dict) or not isinstance(body.get("ready"), bool):
        raise CheckHeld("the hub's dispatch check answered nonsense")
    items = body.get("items")
    return CheckAnswer(
        ready=body["ready"],
        summary=str(body.get("summary") or ""),
        items=[i for i in items if isinstance(i, dict)] if isinstance(items, list) else [],
    )


UNIX = "unix:"


class HubCheck:
    """``hub_url`` is ``http(s)://host:port`` or ``unix:/path/to/hub.sock`` (the demo's)."""

    def __init__(self, hub_url: str, printer: str, key: bytes) -> None:
        self.socket = hub_url.removeprefix(UNIX) if hub_url.startswith(UNIX) else None
        self.hub_url = "http://hub" if self.socket else hub_url.rstrip("/")
        self.printer = printer
        self.key = key
        self.path = self.printer_path("dispatch-check")

    def printer_path(self, below: str) -> str:
        """The hub's path ``/api/printers/<this printer>/<below>``."""
        return f"/api/printers/{quote(self.printer, safe='')}/{below}"

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
        """(status, text) of ``method path`` on the hub, signed as this printer;
        HubUnreachable when the hub cannot be asked."""
        headers = {HEADER: sign(self.key, self.printer, method, path, body, time.time())}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            connector = aiohttp.UnixConnector(self.socket) if self.socket else None
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as session,
                session.request(method, self.hub_url + path, data=body, headers=headers) as answer,
            ):
                return answer.status, await answer.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise HubUnreachable(str(error) or type(error).__name__) from None

    async def ask(
        self,
        file: str,
        filament_mm: float | None,
        user: str,
        material: str | None = None,
        nozzle: float | None = None,
    ) -> CheckAnswer:
        """The hub's verdict; CheckHeld when the job is held or the hub cannot be asked."""
        body = json.dumps(
            {"file": file, "filament_mm": filament_mm, "material": material, "nozzle": nozzle,
             "user": user}
        ).encode()  # fmt: skip
        try:
            status, text = await self.call("POST", self.path, body)
        except HubUnreachable as error:
            raise CheckHeld(f"the hub's dispatch check cannot be asked ({error})") from None
        verdict = parse_answer(status, text)
        if not verdict.ready:
            held = [i for i in verdict.items if i.get("verdict") == "hold"]
            raise CheckHeld(verdict.summary or "the hub's dispatch check holds it", held)
        return verdict
