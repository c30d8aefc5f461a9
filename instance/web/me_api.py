"""Who the page's user is to this printer: their name and whether they may act on it.

The printer's page asks once and disables every control that acts (print,
pause, upload, jog, ...) for a user who may only watch; the print server
refuses such requests anyway (``instance/web/auth.py``).
"""

from __future__ import annotations

from aiohttp import web

from instance.web.context import context


async def get_me(request: web.Request) -> web.Response:
    access = context(request).access
    return web.json_response(
        {"user": access.requester(request), "may_act": access.may_act(request)},
        headers={"Cache-Control": "no-store"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/me", get_me)
