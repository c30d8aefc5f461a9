"""API keys: for slicers and scripts, per user, named, revocable.

A key (``ffk_…``) is shown once, when it is made; the hub keeps only its SHA-256
hash, so a lookup is one indexed query. A key acts as its user with that user's
role and grants, needs no CSRF token, and is refused the moment it is revoked.
A key an app obtained through OctoPrint's application keys workflow
(hub/auth/app_keys.py) carries a printer: it acts as its user on that printer
only (the gate refuses it for any other and for the hub's own API).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

from aiohttp import web

from hub.auth import tables
from hub.auth.credentials import token_hash, user_of
from hub.auth.current import current_user
from hub.auth.grants import GRANTS_COLUMN
from hub.auth.rights import User
from hub.bodies import read_object, text_field
from hub.context import context
from hub.db import write_if_room
from hub.errors import ApiError
from hub.records import audit

SCHEMA = tables.API_KEYS

PREFIX = "ffk_"
# How many characters of a key its list shows, to tell keys apart.
SHOWN = len(PREFIX) + 4
MAX_NAME = 64
# last_used is written at most this often per key.
LAST_USED_EVERY = 60.0


class KeyRefused(ValueError):
    """A key request the hub refuses (message for the user)."""


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """Whose key it is and, for an app's key, the one printer it works on."""

    user: User
    printer: str | None


def find_key(db: sqlite3.Connection, key: str) -> KeyHolder | None:
    """The (enabled) user whose key this is; notes when it was last used."""
    hashed = token_hash(key)
    row = db.execute(
        "SELECT k.id, k.last_used, k.printer, u.name, u.role, "
        + GRANTS_COLUMN
        + " FROM api_keys k JOIN users u ON u.id = k.user_id"
        " WHERE k.key_hash = ? AND u.disabled = 0",
        (hashed,),
    ).fetchone()
    if row is None:
        return None
    now = time.time()
    if row["last_used"] is None or now - row["last_used"] > LAST_USED_EVERY:
        write_if_room(db, "UPDATE api_keys SET last_used = ? WHERE id = ?", (now, row["id"]))
    return KeyHolder(user_of(row), row["printer"])


def create_key(
    db: sqlite3.Connection,
    user: str,
    name: str,
    printer: str | None = None,
    app: str | None = None,
) -> tuple[int, str]:
    """A new key for ``user`` (only for ``printer`` when given): (id, the key itself,
    shown only now)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise KeyRefused(f"a key's name is 1-{MAX_NAME} characters (no control characters)")
    row = db.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
    if row is None:
        raise KeyRefused(f"no user named '{user}'")
    if db.execute(
        "SELECT 1 FROM api_keys WHERE user_id = ? AND name = ?", (row["id"], name)
    ).fetchone():
        raise KeyRefused(f"{user} already has a key named '{name}'")
    key = PREFIX + secrets.token_urlsafe(32)
    cursor = db.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, prefix, created, printer, app)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (row["id"], name, token_hash(key), key[:SHOWN], time.time(), printer, app),
    )
    assert cursor.lastrowid is not None
    scope = f" for {app} on printer {printer} only" if printer is not None else ""
    audit.record(db, user, "api key create", printer, f"'{name}' ({key[:SHOWN]}…){scope}")
    return cursor.lastrowid, key


def _key_json(row: sqlite3.Row) -> dict[str, object]:
    return {
        "id": row["id"],
        "name": row["name"],
        "user": row["user"],
        "prefix": row["prefix"],
        "created": audit.iso(row["created"]),
        "last_used": None if row["last_used"] is None else audit.iso(row["last_used"]),
        "printer": row["printer"],
        "app": row["app"],
    }


async def list_keys(request: web.Request) -> web.Response:
    user = current_user(request)
    every = request.query.get("all") in ("1", "true")
    if every and not user.admin:
        raise ApiError(403, f"only an admin may see everyone's keys; {user.name} is {user.role}")
    query = (
        "SELECT k.id, k.name, k.prefix, k.created, k.last_used, k.printer, k.app, u.name AS user"
        " FROM api_keys k JOIN users u ON u.id = k.user_id"
    )
    if every:
        rows = context(request).db.execute(query + " ORDER BY u.name, k.name").fetchall()
    else:
        rows = (
            context(request)
            .db.execute(query + " WHERE u.name = ? ORDER BY k.name", (user.name,))
            .fetchall()
        )
    return web.json_response({"keys": [_key_json(r) for r in rows]})


async def add_key(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await read_object(request)
    name = text_field(body, "name")
    try:
        key_id, key = create_key(context(request).db, user.name, name)
    except KeyRefused as error:
        status = 409 if "already has" in str(error) else 400
        raise ApiError(status, str(error)) from None
    return web.json_response({"id": key_id, "name": name.strip(), "key": key}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    user = current_user(request)
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 18:
        raise ApiError(404, f"no API key {text[:40]}")
    db = context(request).db
    row = db.execute(
        "SELECT k.id, k.name, k.prefix, u.name AS user FROM api_keys k"
        " JOIN users u ON u.id = k.user_id WHERE k.id = ?",
        (int(text),),
    ).fetchone()
    if row is None or (row["user"] != user.name and not user.admin):
        raise ApiError(404, f"no API key {text} of yours")
    db.execute("DELETE FROM api_keys WHERE id = ?", (row["id"],))
    audit.record(
        db,
        user.name,
        "api key revoke",
        None,
        f"'{row['name']}' ({row['prefix']}…) of {row['user']}",
    )
    return web.json_response({"revoked": row["id"], "name": row["name"], "user": row["user"]})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/keys", list_keys)
    app.router.add_post("/api/keys", add_key)
    app.router.add_delete("/api/keys/{id}", revoke_key)
