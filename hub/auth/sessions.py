"""Logging in and out, sessions, and who each request is (the authentication middleware).

A session token is random, sent as the HttpOnly cookie ``fabfleet_session``
and stored only as its SHA-256 hash. It ends after ``session_idle`` seconds
without a request, ``session_max`` seconds after login, at logout, and when
the user is removed, disabled or their password changes. Every changing
request made with the cookie must carry the session's CSRF token as
``X-CSRF-Token`` (the page reads it from the ``fabfleet_csrf`` cookie).

Five wrong passwords for one user name within 15 minutes lock that name for 15
minutes; twenty from one client address lock the address. An unknown user and a
wrong password get the same answer after the same work.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import math
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy

from hub.auth import accounts
from hub.auth.current import METHOD, USER, current_user
from hub.auth.passwords import HASHER, WeakPassword, dummy_hash, needs_rehash, verify
from hub.auth.rights import ROLES, Grants, Role, User
from hub.config import HubConfig
from hub.context import context
from hub.errors import ApiError, error_response
from hub.records import audit

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
"""

SESSION_COOKIE = "fabfleet_session"
CSRF_COOKIE = "fabfleet_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths a cookie may change things on without the CSRF header: logging in makes the
# token; the gate checks the original request's token itself.
NO_CSRF_PATHS = frozenset({"/api/login", "/api/auth/check"})
CSRF_REFUSED = "CSRF token missing or wrong"
# The request's Identified (who, how, the session's CSRF token), for logout and the gate.
SESSION = "fabfleet.identified"
WRONG_LOGIN = "wrong user name or password"

USER_FAILURES = 5
ADDRESS_FAILURES = 20
FAILURE_WINDOW = 15 * 60
LOCK_TIME = 15 * 60
# A JSON body of a login or account request is small.
MAX_BODY = 64 * 1024

AuthMethod = Literal["session", "api-key"]


# --- request bodies ----------------------------------------------------------


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 400/413/415 with a clear message otherwise."""
    if request.content_type != "application/json":
        raise ApiError(415, "send JSON (Content-Type: application/json)")
    data = b""
    while len(data) <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - len(data))
        if not chunk:
            break
        data += chunk
    if len(data) > MAX_BODY:
        raise ApiError(413, f"the request body is larger than {MAX_BODY // 1024} KiB")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' is required (a string)")
    return value


# --- who a request is ---------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# The grants of the user in the same query: "kind:name" lines.
GRANTS_COLUMN = (
    "(SELECT group_concat(g.kind || ':' || g.name, char(10)) FROM grants g"
    " WHERE g.user_id = u.id) AS grant_lines"
)


def user_of(row: sqlite3.Row) -> User:
    """The User from a row with name, role and grant_lines."""
    lines = row["grant_lines"]
    pairs = [line.split(":", 1) for line in lines.split("\n")] if lines else []
    grants: Grants = accounts.grants_from_rows([(p[0], p[1]) for p in pairs if len(p) == 2])
    role: Role = next((r for r in ROLES if r == row["role"]), "viewer")
    return User(row["name"], role, grants)


@dataclass(frozen=True, slots=True)
class Identified:
    user: User
    method: AuthMethod
    # The session's CSRF token (sessions only).
    csrf: str = ""
    session: str = field(default="", repr=False)


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
        db.execute("DELETE FROM sessions WHERE token_hash = ?", (hashed,))
        return None
    # Written at most every so often: the gate looks every request up.
    if now - row["last_seen"] > min(60.0, config.session_idle / 10):
        db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, hashed))
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
    from hub.auth.api_keys import find_key

    key = api_key_given(headers, query_key)
    if key is not None:
        user = find_key(db, key)
        return None if user is None else Identified(user, "api-key")
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


# --- lockout ------------------------------------------------------------------


class Lockout:
    """Failures per key within a window; ``limit`` of them lock the key for a while."""

    def __init__(self, limit: int, window: float = FAILURE_WINDOW, lock: float = LOCK_TIME):
        self.limit = limit
        self.window = window
        self.lock = lock
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, float] = {}

    def remaining(self, key: str, now: float) -> float:
        """Seconds the key stays locked (0: not locked)."""
        until = self._locked.get(key, 0.0)
        if until <= now:
            self._locked.pop(key, None)
            return 0.0
        return until - now

    def fail(self, key: str, now: float) -> None:
        recent = [t for t in self._failures.get(key, ()) if now - t < self.window]
        recent.append(now)
        if len(recent) >= self.limit:
            self._locked[key] = now + self.lock
            self._failures.pop(key, None)
        else:
            self._failures[key] = recent
        if len(self._failures) > 50_000:
            self._prune(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        self._failures = {
            k: v for k, v in self._failures.items() if v and now - v[-1] < self.window
        }
        self._locked = {k: v for k, v in self._locked.items() if v > now}


@dataclass
class Lockouts:
    users: Lockout = field(default_factory=lambda: Lockout(USER_FAILURES))
    addresses: Lockout = field(default_factory=lambda: Lockout(ADDRESS_FAILURES))


LOCKOUTS = web.AppKey("fabfleet.lockouts", Lockouts)


def client_address(request: web.Request) -> str:
    """The client: X-Forwarded-For's first entry when the peer is the proxy, else the peer.
    On a Unix socket (the demo) the proxy is the only peer there is; on TCP it is a peer
    in FABFLEET_TRUSTED_PROXIES."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    config = context(request).config
    if forwarded:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            address = None
        if address is None and config.unix_socket is None:
            return peer
        if address is None or any(address in network for network in config.proxy_networks):
            first = forwarded.split(",")[0].strip()
            try:
                return str(ipaddress.ip_address(first))
            except ValueError:
                return peer
    return peer


def locked_out(remaining: float, what: str) -> ApiError:
    minutes = max(1, math.ceil(remaining / 60))
    error = ApiError(
        429,
        f"too many failed logins {what}; try again in {minutes} minute"
        + ("s" if minutes != 1 else ""),
    )
    error.retry_after = math.ceil(remaining)  # type: ignore[attr-defined]
    return error


def lockout_name(username: str) -> str:
    # Names are one user whatever the case; no real name is longer than 64.
    return username.lower()[:65]


def refuse_locked(request: web.Request, username: str, address: str) -> None:
    locks = request.app[LOCKOUTS]
    now = time.time()
    by_user = locks.users.remaining(lockout_name(username), now)
    if by_user:
        raise locked_out(by_user, "for this user name")
    by_address = locks.addresses.remaining(address, now)
    if by_address:
        raise locked_out(by_address, "from this address")


def count_failure(request: web.Request, username: str, address: str) -> None:
    locks = request.app[LOCKOUTS]
    now = time.time()
    locks.users.fail(lockout_name(username), now)
    locks.addresses.fail(address, now)


async def check_password(
    request: web.Request, username: str, password: str
) -> tuple[int, str] | None:
    """(id, stored name) when the password is right; the same work when the user is unknown.
    Counts failures and rehashes an old-parameter hash."""
    db = context(request).db
    address = client_address(request)
    refuse_locked(request, username, address)
    found = accounts.password_hash(db, username) if accounts.NAME.fullmatch(username) else None
    stored = found[2] if found else dummy_hash()
    right = await asyncio.to_thread(verify, stored, password)
    if found is None or not right:
        count_failure(request, username, address)
        audit.record(db, username[:64], "login failed", None, f"from {address}")
        return None
    request.app[LOCKOUTS].users.clear(lockout_name(username))
    if needs_rehash(stored):
        accounts.store_rehash(db, found[0], await asyncio.to_thread(HASHER.hash, password))
    return found[0], found[1]


# --- sessions -----------------------------------------------------------------


def create_session(db: sqlite3.Connection, config: HubConfig, user_id: int) -> tuple[str, str]:
    """A new session: (token for the cookie, CSRF token); the user's expired ones go."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = time.time()
    db.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf, created, last_seen)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash(token), user_id, csrf, now, now),
    )
    db.execute(
        "DELETE FROM sessions WHERE user_id = ? AND (last_seen < ? OR created < ?)",
        (user_id, now - config.session_idle, now - config.session_max),
    )
    return token, csrf


def secure(request: web.Request) -> bool:
    return (
        context(request).config.secure_cookies
        or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        or request.secure
    )


def set_cookies(request: web.Request, response: web.StreamResponse, token: str, csrf: str) -> None:
    config = context(request).config
    common: dict[str, Any] = {
        "path": "/",
        "samesite": "Strict",
        "secure": secure(request),
        "max_age": config.session_max,
    }
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, csrf, **common)


def clear_cookies(response: web.StreamResponse) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.del_cookie(name, path="/")


def me_json(user: User, **extra: object) -> dict[str, object]:
    return {
        "name": user.name,
        "role": user.role,
        "grants": accounts.grants_json(user.grants),
        **extra,
    }


# Where a page goes after logging in when it was given no path of this site.
HOME = "./"
MAX_NEXT = 2000


def _plain_path(text: str) -> bool:
    return (
        text.startswith("/")
        and text[1:2] not in ("/", "\\")
        and "\\" not in text
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
        and not urlsplit(text).scheme
        and not urlsplit(text).netloc
    )


def safe_next(given: object) -> str:
    """``next`` when it is a path of this site, else :data:`HOME`: it starts with one ``/``
    and holds no backslash, no scheme or host and no control character, neither as given
    nor percent-decoded (a browser drops a tab or newline: ``/%09/evil.example`` would be
    ``//evil.example``, another site)."""
    if not isinstance(given, str) or len(given) > MAX_NEXT:
        return HOME
    try:
        fine = _plain_path(given) and _plain_path(unquote(given, errors="strict"))
    except (UnicodeDecodeError, ValueError):
        return HOME
    return given if fine else HOME


# --- routes -------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    body = await read_object(request)
    username = text_field(body, "username")
    password = text_field(body, "password")
    db = context(request).db
    found = await check_password(request, username, password)
    if found is None:
        raise ApiError(401, WRONG_LOGIN)
    user_id, name = found
    user = accounts.get_user(db, name)
    if user is None:  # removed or disabled in between
        raise ApiError(401, WRONG_LOGIN)
    token, csrf = create_session(db, context(request).config, user_id)
    audit.record(db, name, "login", None, f"from {client_address(request)}")
    answer = {
        "name": user.name,
        "role": user.role,
        "csrf": csrf,
        "next": safe_next(body.get("next")),
    }
    response = web.json_response(answer)
    set_cookies(request, response, token, csrf)
    return response


async def logout(request: web.Request) -> web.Response:
    identified = request.get(SESSION)
    db = context(request).db
    if isinstance(identified, Identified) and identified.method == "session":
        db.execute("DELETE FROM sessions WHERE token_hash = ?", (identified.session,))
        audit.record(db, identified.user.name, "logout", None)
    response = web.json_response({"logged_out": True})
    clear_cookies(response)
    return response


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    return web.json_response(me_json(user, auth=request.get(METHOD)))


async def change_password(request: web.Request) -> web.Response:
    """``{"old": ..., "new": ...}``: every session ends; this one gets a new cookie."""
    user = current_user(request)
    body = await read_object(request)
    old = text_field(body, "old")
    new = text_field(body, "new")
    db = context(request).db
    if await check_password(request, user.name, old) is None:
        raise ApiError(403, "the current password is wrong")
    try:
        accounts.set_password(db, user.name, new, actor=user.name)
    except WeakPassword as error:
        raise ApiError(400, str(error)) from None
    except accounts.AccountError as error:
        raise ApiError(error.status, str(error)) from None
    answer: dict[str, object] = {"name": user.name, "changed": True}
    cookies: tuple[str, str] | None = None
    found = accounts.password_hash(db, user.name)
    if request.get(METHOD) == "session" and found is not None:
        cookies = create_session(db, context(request).config, found[0])
        answer["csrf"] = cookies[1]
    response = web.json_response(answer)
    if cookies is not None:
        set_cookies(request, response, *cookies)
    return response


@web.middleware
async def retry_after(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A lockout's 429 carries Retry-After."""
    try:
        return await handler(request)
    except ApiError as error:
        wait = getattr(error, "retry_after", None)
        if wait is None:
            raise
        response = error_response(error.status, error.message)
        response.headers["Retry-After"] = str(wait)
        return response


MIDDLEWARES = (authenticate, retry_after)


def setup(app: web.Application) -> None:
    app[LOCKOUTS] = Lockouts()
    dummy_hash()  # made now, so the first unknown user costs no more than a known one
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/me/password", change_password)
