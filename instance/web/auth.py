"""Who may call the API, and who a request is, for the job history.

A configured API key is required on every endpoint but ``/api/health``:
``X-Api-Key``, ``Authorization: Bearer``, or ``?apikey=`` (what slicers and
OctoPrint clients send). The requester's name comes from ``requester``
alone: the one place a header set by a trusted proxy (the hub's login) will
be read when that is added.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Handler

from instance.web.errors import error_response

OPEN_PATHS = frozenset({"/api/health"})
ANONYMOUS = "anonymous"


def presented_key(request: web.Request) -> str | None:
    key = request.headers.get("X-Api-Key")
    if key:
        return key.strip()
    authorization = request.headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.query.get("apikey") or None


class ApiKeyCheck:
    """The middleware that refuses requests without the right key (401 none, 403 wrong)."""

    def __init__(self, api_key: str | None, api_user: str) -> None:
        self._key = api_key.encode() if api_key else None
        self.api_user = api_user

    @web.middleware
    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._key is None or request.path in OPEN_PATHS:
            return await handler(request)
        key = presented_key(request)
        if key is None:
            return error_response(
                401,
                "an API key is required: send it as X-Api-Key, Authorization: Bearer, or ?apikey=",
            )
        if not hmac.compare_digest(key.encode(), self._key):
            return error_response(403, "the API key is not valid")
        return await handler(request)

    def requester(self, request: web.Request) -> str:
        """The name recorded as who did something: the API key's user."""
        return self.api_user if self._key is not None else ANONYMOUS
