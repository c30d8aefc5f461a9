"""Who a request is: :func:`current_user` for handlers, set by the authentication
middleware (session cookie or API key, ``hub/auth/identify.py``)."""

from __future__ import annotations

from aiohttp import web

from hub.auth.request_keys import USER
from hub.auth.rights import User
from hub.errors import ApiError


def current_user(request: web.Request) -> User:
    """The logged-in user; 401 when the request carries no valid session or API key."""
    user = request.get(USER)
    if not isinstance(user, User):
        raise ApiError(401, "log in first (or send an API key as X-Api-Key)")
    return user


def require_admin(request: web.Request) -> User:
    user = current_user(request)
    if not user.admin:
        raise ApiError(403, f"only an admin may do this; {user.name} is {user.role}")
    return user
