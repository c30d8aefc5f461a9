"""Who a request is: :func:`current_user` for handlers, set by the authentication
middleware (session cookie or API key, ``hub/auth/sessions.py`` and ``hub/auth/api_keys.py``)."""

from __future__ import annotations

from aiohttp import web

from hub.auth.rights import User
from hub.errors import ApiError

USER = "fabfleet.user"
# How the request proved who it is: "session" (needs CSRF on changes) or "api-key".
METHOD = "fabfleet.auth_method"


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
