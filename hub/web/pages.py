"""The hub's pages: ``/`` (the app: dashboard, queue, history, admin) and ``/login``.

Static files under ``/static/`` need no login (the login page uses them); ``/``
sends a browser without a session to ``/login`` (``?reason=expired`` when it sent a
session cookie that no longer counts, so the login page can say so).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.auth.request_keys import USER
from hub.web.error_page import EXPIRED, SESSION_COOKIE

PAGE = Path(__file__).parent / "page"
NO_CACHE = {"Cache-Control": "no-cache"}


async def index(request: web.Request) -> web.StreamResponse:
    if request.get(USER) is None:
        expired = SESSION_COOKIE in request.cookies
        raise web.HTTPFound(f"login?reason={EXPIRED}" if expired else "login")
    return web.FileResponse(PAGE / "index.html", headers=NO_CACHE)


async def login(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE / "login.html", headers=NO_CACHE)


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/login", login)
    app.router.add_static("/static/", PAGE, append_version=False)
