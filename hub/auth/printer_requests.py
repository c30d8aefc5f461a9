"""Requests a print server makes to the hub, signed with its own printer key.

A print server asks the hub's dispatch check before it starts a file. It proves
which printer it is with the key the hub derived for it (hub/auth/signing.py
``printer_key``), all ASCII::

    X-Fabfleet-Printer: <printer>:<unix seconds>:<hex HMAC-SHA256(printer_key, message)>
    message = METHOD "\\n" PATH "\\n" <unix seconds> "\\n" <hex SHA-256 of the body>

A signature older or newer than ``WINDOW`` seconds is refused, so a captured
request is useless a minute later. ``instance/web/hub_check.py`` writes it (the
two share the format, not code).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from aiohttp import web

from hub.auth.signing import printer_key
from hub.bodies import read_at_most
from hub.errors import ApiError

HEADER = "X-Fabfleet-Printer"
WINDOW = 60


class PrinterRequestRefused(Exception):
    """Not a valid signature of that printer now; the message says why."""


def message(method: str, path: str, stamp: int, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{stamp}\n{digest}".encode()


def sign(master: bytes, printer: str, method: str, path: str, body: bytes, now: float) -> str:
    """The header's value (the hub's tests sign as a print server would)."""
    stamp = int(now)
    mac = hmac.new(printer_key(master, printer), message(method, path, stamp, body), "sha256")
    return f"{printer}:{stamp}:{mac.hexdigest()}"


def verify(
    master: bytes, value: str | None, method: str, path: str, body: bytes, now: float
) -> str:
    """The printer that signed ``value`` for this request; PrinterRequestRefused otherwise."""
    if not value:
        raise PrinterRequestRefused(f"{HEADER} is missing: only a print server may ask this")
    parts = value.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise PrinterRequestRefused(f"{HEADER} is not <printer>:<time>:<signature>")
    printer, stamp_text, given = parts
    if not stamp_text.isdigit():
        raise PrinterRequestRefused(f"{HEADER}'s time is not a number")
    stamp = int(stamp_text)
    if abs(now - stamp) > WINDOW:
        raise PrinterRequestRefused(f"{HEADER} is too old or from the future")
    mac = hmac.new(printer_key(master, printer), message(method, path, stamp, body), "sha256")
    if not hmac.compare_digest(mac.hexdigest(), given.strip().lower()):
        raise PrinterRequestRefused(f"{HEADER} is not signed with {printer}'s key")
    return printer


async def signed_body(
    request: web.Request, master: bytes, printer: str, max_body: int, too_large: str
) -> bytes:
    """The body of a request ``printer`` signed (at most ``max_body`` bytes): a 413 with
    ``too_large`` for a longer one, a 403 for a signature that is not that printer's now."""
    raw = await read_at_most(request, max_body)
    if len(raw) > max_body:
        raise ApiError(413, too_large)
    try:
        signer = verify(master, request.headers.get(HEADER), request.method, request.path, raw,
                        time.time())  # fmt: skip
    except PrinterRequestRefused as refused:
        raise ApiError(403, str(refused)) from None
    if signer != printer:
        raise ApiError(403, f"{signer} may not ask for {printer}")
    return raw
