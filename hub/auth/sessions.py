"""Logging in and out, changing one's password, and the session cookies.

A session token is random, sent as the HttpOnly cookie ``fabfleet_session``
and stored only as its SHA-256 hash; the request's session is found by
``hub/auth/identify.py``. A session ends after ``session_idle`` seconds without
a request, ``session_max`` seconds after login, at logout, and when the user is
removed, disabled or their password changes. Wrong passwords are counted and
locked out by ``hub/auth/lockout.py``; an unknown user and a wrong password get
the same answer after the same work.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from hub.auth import accounts, tables
from hub.auth.credentials import token_hash
from hub.auth.current import current_user
from hub.auth.grants import grants_json
from hub.auth.identify import CSRF_COOKIE, SESSION, SESSION_COOKIE, Identified, authenticate
from hub.auth.lockout import (
    LOCKOUTS,
    Lockouts,
    client_address,
    count_failure,
    from_proxy,
    lockout_name,
    refuse_locked,
    retry_after,
)
from hub.auth.passwords import HASHER, WeakPassword, dummy_hash, needs_rehash, verify
from hub.auth.request_keys import METHOD
from hub.auth.rights import User
from hub.bodies import read_object, text_field
from hub.config import HubConfig
from hub.context import context
from hub.errors import ApiError
from hub.records import audit

SCHEMA = tables.SESSIONS

WRONG_LOGIN = "wrong user name or password"


# --- passwords ------------------------------------------------------------------


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
    """Whether cookies get ``Secure``: the request came over HTTPS, as the proxy says (only
    the proxy's X-Forwarded-Proto is believed), or the hub is told so."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return (
        context(request).config.secure_cookies
        or (forwarded == "https" and from_proxy(request))
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
        "grants": grants_json(user.grants),
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


MIDDLEWARES = (authenticate, retry_after)


def setup(app: web.Application) -> None:
    app[LOCKOUTS] = Lockouts()
    dummy_hash()  # made now, so the first unknown user costs no more than a known one
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/me/password", change_password)
