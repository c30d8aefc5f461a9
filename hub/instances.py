"""Calling a print server's HTTP API as the hub, with a signed identity.

The hub reaches each print server directly at its ``upstream`` (inside the
stack: ``http://printer-<name>:8080``), not through the proxy, and signs each
request like the gate does, in the name of the user it acts for.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.fleet import FleetPrinter
from hub.signing import HEADER, identity_for

# The name recorded when the hub acts on its own (the fleet queue).
HUB_USER = "hub"
TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=3)


class InstanceClient:
    """One ClientSession for every print server; ``request`` signs for the printer it calls."""

    def __init__(self, master_key: bytes) -> None:
        self._key = master_key
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    def headers(
        self, printer: FleetPrinter, user: str = HUB_USER, act: bool = True
    ) -> dict[str, str]:
        return {HEADER: identity_for(self._key, printer.name, user, act)}

    def url(self, printer: FleetPrinter, path: str) -> str:
        return printer.upstream + path

    def request(
        self,
        method: str,
        printer: FleetPrinter,
        path: str,
        user: str = HUB_USER,
        **kwargs: Any,
    ) -> aiohttp.client._RequestContextManager:
        """``async with client.request("GET", printer, "/api/v1/printer") as answer``."""
        headers = {**kwargs.pop("headers", {}), **self.headers(printer, user, method != "GET")}
        return self.session.request(method, self.url(printer, path), headers=headers, **kwargs)

    def websocket(
        self, printer: FleetPrinter, path: str, **kwargs: Any
    ) -> aiohttp.client._WSRequestContextManager:
        return self.session.ws_connect(
            self.url(printer, path), headers=self.headers(printer, act=False), **kwargs
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
