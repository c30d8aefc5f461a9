"""What this print server did with each act the hub's gate let through.

The gate writes an act (a print, a cancel, an upload, …) to the hub's audit log as
``allowed`` and puts the entry's id in the signed identity (``r``). After the
request is answered, :func:`report_acts` keeps ``{"id", "status"}`` here, and the
events stream sends it as an ``act`` message to the hub's own connection (an
identity marked ``h``), so the audit log says whether the act was done or refused.
The newest :data:`KEPT` are kept and sent again to a hub that reconnects (it
settles each act once).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from instance.web.auth import IDENTITY

KEPT = 256


class ActLog:
    """The outcomes of recent acts, numbered in the order they were answered."""

    def __init__(self) -> None:
        self.count = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def add(self, act: str, status: int) -> None:
        self._recent.append({"type": "act", "id": act, "status": status})
        self.count += 1
        for listener in self._listeners:
            listener()

    def since(self, seen: int) -> list[dict[str, Any]]:
        """The outcomes after the first ``seen`` (as many of them as are still kept)."""
        fresh = min(self.count - seen, len(self._recent))
        return list(self._recent)[len(self._recent) - fresh :] if fresh > 0 else []


ACTS = web.AppKey("acts", ActLog)


def _record(request: web.Request, status: int) -> None:
    identity = request.get(IDENTITY)
    if identity is not None and identity.act is not None:
        request.app[ACTS].add(identity.act, status)


@web.middleware
async def report_acts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: sees the status every request was answered with."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        _record(request, error.status)
        raise
    _record(request, response.status)
    return response
