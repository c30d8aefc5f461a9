"""Verifying the identity the hub's gate hands to this print server.

Behind the proxy, nginx asks the hub about every request for a printer and
passes the hub's answer on as ``X-Fabfleet-Identity``; the hub signs the same
header when it calls a print server itself. The print server holds only its
own key (derived by the hub from its master key) and checks, all ASCII::

    <payload>.<signature>
    payload   = base64url(JSON {"p": printer, "u": user, "a": may_act, "exp": unix_seconds}
                          [+ "r": act id] [+ "h": true])
    signature = base64url(HMAC-SHA256(printer_key, payload))

``r`` is the hub's audit entry for an act its gate let through (this server
reports what it did with the request, ``instance/web/acts.py``); ``h`` marks the
hub's own connection, the one those reports go to.

The hub's ``hub/auth/signing.py`` writes it; the two share the format, not code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import stat
import time
from dataclasses import dataclass
from pathlib import Path

HEADER = "X-Fabfleet-Identity"
# An identity the hub says lives longer than this is not one it signed (it signs for 60 s).
LONGEST_LIFETIME = 300
MIN_KEY_BYTES = 16


class GateKeyError(ValueError):
    """A gate key file that cannot be used; the message says which and why."""


class IdentityRefused(Exception):
    """The header is not a valid identity for this printer now; the message says why."""


@dataclass(frozen=True, slots=True)
class GateIdentity:
    """Who the hub says the request is, and whether they may act on the printer."""

    printer: str
    user: str
    may_act: bool
    expires: int
    act: str | None = None
    hub: bool = False


def read_key_file(path: Path) -> bytes:
    """This printer's key from ``path`` (hex); refused if every user may read the file."""
    try:
        info = path.stat()
        text = path.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not ASCII hex"
        raise GateKeyError(f"{path}: cannot read the gate key ({why})") from None
    if info.st_mode & stat.S_IROTH:
        raise GateKeyError(
            f"{path} holds the gate key and every user on this host can read it;"
            f" run: chmod 600 {path}"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise GateKeyError(f"{path}: the gate key must be hex") from None
    if len(key) < MIN_KEY_BYTES:
        raise GateKeyError(f"{path}: the gate key is too short (at least {MIN_KEY_BYTES} bytes)")
    return key


def _unpadded_b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify(key: bytes, printer: str, header: str, now: float | None = None) -> GateIdentity:
    """The identity in ``header`` if it is signed with ``key``, for ``printer``, and current."""
    payload, dot, signature = header.strip().partition(".")
    if not dot or not payload or not signature or not header.isascii():
        raise IdentityRefused("the identity is not <payload>.<signature>")
    expected = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    try:
        given = _unpadded_b64decode(signature)
    except (binascii.Error, ValueError):
        raise IdentityRefused("the identity's signature is not base64url") from None
    if not hmac.compare_digest(expected, given):
        raise IdentityRefused("the identity's signature is not valid")
    try:
        body = json.loads(_unpadded_b64decode(payload))
    except (binascii.Error, ValueError):
        raise IdentityRefused("the identity's payload is not base64url JSON") from None
    if not isinstance(body, dict):
        raise IdentityRefused("the identity's payload is not an object")
    who, user, act, expires = body.get("p"), body.get("u"), body.get("a"), body.get("exp")
    if not isinstance(who, str) or not isinstance(user, str) or not user:
        raise IdentityRefused("the identity names no printer or no user")
    if not isinstance(act, bool) or not isinstance(expires, int) or isinstance(expires, bool):
        raise IdentityRefused("the identity's 'a' or 'exp' has the wrong type")
    if who != printer:
        raise IdentityRefused(f"the identity is for printer '{who}', not this one")
    moment = time.time() if now is None else now
    if expires < moment:
        raise IdentityRefused("the identity has expired")
    if expires > moment + LONGEST_LIFETIME:
        raise IdentityRefused("the identity lives longer than the hub ever signs for")
    act_id, hub = body.get("r"), body.get("h", False)
    if (act_id is not None and not isinstance(act_id, str)) or not isinstance(hub, bool):
        raise IdentityRefused("the identity's 'r' or 'h' has the wrong type")
    return GateIdentity(who, user, act, expires, act_id, hub)
