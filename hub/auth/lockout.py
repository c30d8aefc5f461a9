"""Refusing guessed passwords: failures counted per user name and per client address.

Five wrong passwords for one user name within 15 minutes lock that name for 15
minutes; twenty from one client address lock the address. A locked login gets
429 with ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.context import context
from hub.errors import ApiError, error_response

USER_FAILURES = 5
ADDRESS_FAILURES = 20
FAILURE_WINDOW = 15 * 60
LOCK_TIME = 15 * 60


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


def from_proxy(request: web.Request) -> bool:
    """Whether the peer is the proxy, whose X-Forwarded-* headers are believed. On a Unix
    socket (the demo) the proxy is the only peer there is; on TCP it is a peer in
    FABFLEET_TRUSTED_PROXIES."""
    config = context(request).config
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return config.unix_socket is not None
    return any(address in network for network in config.proxy_networks)


def client_address(request: web.Request) -> str:
    """The client: X-Forwarded-For's first entry when the peer is the proxy, else the peer."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and from_proxy(request):
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
