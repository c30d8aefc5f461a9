"""Who may call the API, and who a request is, for the job history.

Two modes, one middleware each, both answering ``requester(request)``:

- API key (``--api-key``): a configured key is required on every endpoint but
  ``/api/health``: ``X-Api-Key``, ``Authorization: Bearer``, or ``?apikey=``
  (what slicers and OctoPrint clients send). The requester is the key's user.
- Both let OctoPrint's application keys workflow through without login (its exact
  paths and methods, instance/web/app_key_paths.py): an app asks before it has a key.
- Gate (``--gate-key-file``): behind the hub, every endpoint but
  ``/api/health`` needs the hub's signed ``X-Fabfleet-Identity`` for this
  printer (``instance/web/gate.py``); the requester is the identity's user.
  An API key is not accepted in this mode: the hub checks those itself.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from instance.web.app_key_paths import open_to_apps
from instance.web.errors import error_response
from instance.web.gate import HEADER, GateIdentity, IdentityRefused, verify

OPEN_PATHS = frozenset({"/api/health"})
ANONYMOUS = "anonymous"
# Methods a view-only identity may use: they change nothing.
WATCHING = frozenset({"GET", "HEAD", "OPTIONS"})
IDENTITY = web.RequestKey("fabfleet gate identity", GateIdentity)


class AccessCheck(Protocol):
    """The middleware in front of every route, and who a request is."""

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse: ...

    def requester(self, request: web.Request) -> str: ...

    def may_act(self, request: web.Request) -> bool: ...


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
        if (
            self._key is None
            or request.path in OPEN_PATHS
            or open_to_apps(request.method, request.path)
        ):
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

    def may_act(self, request: web.Request) -> bool:
        """Whoever got past the key (or anyone, without one) may act."""
        return True


class GateCheck:
    """The middleware that lets through only requests the hub vouched for (401 none, 403 not
    valid, not for this printer, expired, or view-only on a method that acts)."""

    def __init__(self, printer_key: bytes, printer: str) -> None:
        self._key = printer_key
        self.printer = printer

    @web.middleware
    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or open_to_apps(request.method, request.path):
            return await handler(request)
        header = request.headers.get(HEADER)
        if not header:
            return error_response(
                401, "log in at the hub: this printer answers only requests the hub signed"
            )
        try:
            identity = verify(self._key, self.printer, header)
        except IdentityRefused as refusal:
            return error_response(403, str(refusal))
        if not identity.may_act and request.method not in WATCHING:
            return error_response(403, f"{identity.user} may watch this printer, not act on it")
        request[IDENTITY] = identity
        return await handler(request)

    def requester(self, request: web.Request) -> str:
        """The name recorded as who did something: the user the hub signed for."""
        identity = request.get(IDENTITY)
        return identity.user if identity is not None else ANONYMOUS

    def may_act(self, request: web.Request) -> bool:
        """Whether the hub signed that this user may act on this printer."""
        identity = request.get(IDENTITY)
        return identity is not None and identity.may_act


def access_check(
    api_key: str | None, api_user: str, gate_key: bytes | None, printer: str
) -> AccessCheck:
    """Gate mode when a gate key is set, else the API key (or nothing)."""
    if gate_key is not None:
        return GateCheck(gate_key, printer)
    return ApiKeyCheck(api_key, api_user)
