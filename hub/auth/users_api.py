"""Managing users (admins only): ``GET/POST /api/users``, ``PATCH/DELETE /api/users/{name}``.

A user is ``{"name", "role", "grants": {"printers": [...], "groups": [...]},
"created", "disabled"}``; ``"*"`` among printers grants every printer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth import accounts
from hub.auth.current import require_admin
from hub.auth.passwords import WeakPassword, check_strength
from hub.auth.rights import Grants
from hub.bodies import read_object, text_field
from hub.context import context
from hub.errors import ApiError

FIELDS = frozenset({"name", "password", "role", "grants", "disabled"})


def refused(error: ValueError) -> ApiError:
    status = error.status if isinstance(error, accounts.AccountError) else 400
    return ApiError(status, str(error))


def grants_of(body: dict[str, Any]) -> Grants:
    raw = body.get("grants", {})
    if not isinstance(raw, dict):
        raise ApiError(400, '\'grants\' must be {"printers": [...], "groups": [...]}')
    unknown = set(raw) - {"printers", "groups"}
    if unknown:
        raise ApiError(400, f"unknown grant kind(s): {', '.join(sorted(map(str, unknown)))}")
    try:
        return accounts.make_grants(raw.get("printers", []), raw.get("groups", []))
    except accounts.AccountError as error:
        raise refused(error) from None


def check_fields(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))[:200]}")


async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    users = accounts.list_users(context(request).db)
    return web.json_response({"users": [account.as_json() for account in users]})


async def add_user(request: web.Request) -> web.Response:
    admin = require_admin(request)
    body = await read_object(request)
    check_fields(body, FIELDS - {"disabled"})
    name = text_field(body, "name")
    password = text_field(body, "password")
    role = body.get("role", "viewer")
    if not isinstance(role, str):
        raise ApiError(400, "'role' must be a string")
    grants = grants_of(body)
    db = context(request).db
    try:
        accounts.create_user(db, name, password, role, grants, actor=admin.name)
    except (accounts.AccountError, WeakPassword) as error:
        raise refused(error) from None
    account = accounts.get_account(db, name)
    assert account is not None
    return web.json_response(account.as_json(), status=201)


async def change_user(request: web.Request) -> web.Response:
    """Any of role, grants, password, disabled; each checked before anything changes."""
    admin = require_admin(request)
    name = request.match_info["name"]
    body = await read_object(request)
    check_fields(body, FIELDS - {"name"})
    db = context(request).db
    if accounts.get_account(db, name) is None:
        raise ApiError(404, str(accounts.UnknownUser(name)))
    role = body.get("role")
    if role is not None and not isinstance(role, str):
        raise ApiError(400, "'role' must be a string")
    grants = grants_of(body) if "grants" in body else None
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise ApiError(400, "'password' must be a string")
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise ApiError(400, "'disabled' must be true or false")
    try:
        if role is not None:
            accounts.check_role(role)
        if password is not None:
            check_strength(password)
        with accounts.transaction(db):
            if role is not None:
                accounts.set_role(db, name, role, actor=admin.name)
            if grants is not None:
                accounts.set_grants(db, name, grants, actor=admin.name)
            if disabled is not None:
                accounts.set_disabled(db, name, disabled, actor=admin.name)
        if password is not None:
            accounts.set_password(db, name, password, actor=admin.name)
    except (accounts.AccountError, WeakPassword) as error:
        raise refused(error) from None
    account = accounts.get_account(db, name)
    assert account is not None
    return web.json_response(account.as_json())


async def remove_user(request: web.Request) -> web.Response:
    admin = require_admin(request)
    name = request.match_info["name"]
    try:
        accounts.remove_user(context(request).db, name, actor=admin.name)
    except accounts.AccountError as error:
        raise refused(error) from None
    return web.json_response({"removed": name})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/users", list_users)
    app.router.add_post("/api/users", add_user)
    app.router.add_patch("/api/users/{name}", change_user)
    app.router.add_delete("/api/users/{name}", remove_user)
