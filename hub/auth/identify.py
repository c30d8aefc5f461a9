"""Who each request is: a session cookie or an API key, and the authentication middleware.

An API key, when one is given, decides alone (a wrong key never falls back to the
cookie). A session is live until ``session_idle`` seconds without a request or
``session_max`` seconds after login; an expired one is deleted when it is seen.
Every changing request made with the cookie must carry the session's CSRF token
as ``X-CSRF-Token`` (the page reads it from the ``fabfleet_csrf`` cookie).
"""

from __future__ import annotations

import hmac
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy

from hub.auth.api_keys import find_key
from hub.auth.credentials import token_hash, user_of
from hub.auth.grants import GRANTS_COLUMN
from hub.auth.request_keys import METHOD, USER
from hub.auth.rights import User
from hub.config import HubConfig
from hub.context import context
from hub.db import write_if_room
from hub.errors import error_response

SESSION_COOKIE = "fabfleet_session"
CSRF_COOKIE = "fabfleet_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The one hub path a printer's app key is used on: the gate, which lets it reach its printer.
GATE_PATH = "/api/auth/check"
# Paths a cookie may change things on without the CSRF header: logging in makes the
# token; the gate checks the original request's token itself.
NO_CSRF_PATHS = frozenset({"/api/login", GATE_PATH})
CSRF_REFUSED = "CSRF token missing or wrong"

# The request's Identified (who, how, the session's CSRF token), for logout and the gate.
SESSION = "fabfleet.identified"

AuthMethod = Literal["session", "api-key"]


@dataclass(frozen=True, slots=True)
class Identified:
    user: User
    method: AuthMethod
    # The session's CSRF token (sessions only).
    csrf: str = ""
    session: str = field(default="", repr=False)
    # An app's key works on this printer only (hub/auth/app_keys.py); None: everywhere.
    printer: str | None = None


def find_session(db: sqlite3.Connection, config: HubConfig, token: str) -> Identified | None:
    """The user of a live session; an expired one is deleted."""
    hashed = token_hash(token)
    row = db.execute(
        "SELECT s.csrf, s.created, s.last_seen, u.name, u.role, "
        + GRANTS_COLUMN
        + " FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND u.disabled = 0",
        (hashed,),
    ).fetchone()
    if row is None:
        return None
    now = time.time()
    if now - row["created"] > config.session_max or now - row["last_seen"] > config.session_idle:
        write_if_room(db, "DELETE FROM sessions WHERE token_hash = ?", (hashed,))
        return None
    # Written at most every so often: the gate looks every request up.
    if now - row["last_seen"] > min(60.0, config.session_idle / 10):
        write_if_room(db, "UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, hashed))
    return Identified(user_of(row), "session", row["csrf"], hashed)


def api_key_given(headers: CIMultiDictProxy[str], query_key: str | None) -> str | None:
    """An API key from X-Api-Key, ``Authorization: Bearer`` or the ``apikey`` query parameter."""
    key = headers.get("X-Api-Key")
    if key:
        return key.strip()
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query_key or None


def identify(
    db: sqlite3.Connection,
    config: HubConfig,
    headers: CIMultiDictProxy[str],
    cookies: dict[str, str] | Any,
    query_key: str | None,
) -> Identified | None:
    """Who sent these credentials: an API key when one is given (never falling back to
    the cookie), else the session cookie; None when neither is valid."""
    key = api_key_given(headers, query_key)
    if key is not None:
        holder = find_key(db, key)
        if holder is None:
            return None
        return Identified(holder.user, "api-key", printer=holder.printer)
    token = cookies.get(SESSION_COOKIE)
    if token:
        return find_session(db, config, token)
    return None


def csrf_matches(identified: Identified, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(
        identified.csrf.encode("utf-8"), (given or "").encode("utf-8", "surrogatepass")
    )


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sets request[USER] and request[METHOD]; refuses a cookie's change without CSRF token.
    Anonymous requests go on: each handler decides (hub.auth.current.current_user)."""
    ctx = context(request)
    identified = identify(
        ctx.db, ctx.config, request.headers, request.cookies, request.query.get("apikey")
    )
    if identified is not None and identified.printer is not None and request.path != GATE_PATH:
        return error_response(
            403,
            f"this API key was granted to an app for printer '{identified.printer}' only;"
            " it is not for the hub's own API",
        )
    if identified is not None:
        request[USER] = identified.user
        request[METHOD] = identified.method
        request[SESSION] = identified
        if (
            identified.method == "session"
            and request.method not in SAFE_METHODS
            and request.path not in NO_CSRF_PATHS
            and not csrf_matches(identified, request.headers.get(CSRF_HEADER))
        ):
            return error_response(403, CSRF_REFUSED)
    return await handler(request)
