"""The gate's signed identity: who a request is, for which printer, and whether it may act.

nginx passes ``X-Fabfleet-Identity`` from the hub's ``auth_request`` answer to
the print server, which verifies it (``instance/web/gate.py`` holds the same
rules; neither imports the other). Format, all ASCII::

    <payload>.<signature>
    payload   = base64url(JSON {"p": printer, "u": user, "a": may_act, "exp": unix_seconds}
                          [+ "r": act id] [+ "h": true])
    signature = base64url(HMAC-SHA256(printer_key, payload))
    printer_key = HMAC-SHA256(master_key, "fabfleet-printer:" + printer)

``r`` names the audit entry of an act the gate allowed: the print server reports
what became of it (done, refused) on the hub's events stream. ``h`` marks the
hub's own connection (never a user's request), the only one told those outcomes.
The proxy proves itself to the gate with ``proxy_key`` (HMAC-SHA256(master_key,
"fabfleet-proxy")), which only nginx's config holds.

Each print server holds only its own derived key, so a print server that is
broken into cannot sign for another printer. An identity lives ``LIFETIME``
seconds: long enough for one request, too short to be worth stealing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = "X-Fabfleet-Identity"
LIFETIME = 60
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Identity:
    printer: str
    user: str
    may_act: bool
    expires: int
    act: str | None = None
    hub: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def printer_key(master: bytes, printer: str) -> bytes:
    """The key one print server verifies with, derived from the hub's master key."""
    return hmac.new(master, b"fabfleet-printer:" + printer.encode("utf-8"), hashlib.sha256).digest()


def proxy_key(master: bytes) -> bytes:
    """What nginx sends the gate to show the check comes from the proxy, not a client."""
    return hmac.new(master, b"fabfleet-proxy", hashlib.sha256).digest()


def sign(master: bytes, identity: Identity) -> str:
    body: dict[str, object] = {
        "p": identity.printer,
        "u": identity.user,
        "a": identity.may_act,
        "exp": identity.expires,
    }
    if identity.act is not None:
        body["r"] = identity.act
    if identity.hub:
        body["h"] = True
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    key = printer_key(master, identity.printer)
    signature = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def identity_for(
    master: bytes,
    printer: str,
    user: str,
    may_act: bool,
    now: float | None = None,
    act: str | None = None,
    hub: bool = False,
) -> str:
    """A signed identity header value valid for ``LIFETIME`` seconds from ``now``."""
    expires = int(time.time() if now is None else now) + LIFETIME
    return sign(master, Identity(printer, user, may_act, expires, act, hub))


def read_master_key(path: Path) -> bytes:
    """The master key from ``path``: created (0600, random) when missing."""
    try:
        data = path.read_bytes().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(KEY_BYTES)
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(key + "\n")
        return bytes.fromhex(key)
    try:
        key_bytes = bytes.fromhex(data.decode("ascii"))
    except ValueError:
        key_bytes = data
    if len(key_bytes) < 16:
        raise ValueError(f"{path}: the gate key is too short (at least 16 bytes)")
    return key_bytes
