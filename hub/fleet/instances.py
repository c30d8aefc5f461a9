"""Calling a print server's HTTP API as the hub, with a signed identity.

The hub reaches each print server directly at its ``upstream`` (inside the
stack: ``http://printer-<name>:8080``; in the demo a Unix socket, named as nginx
names one: ``http://unix:/path/printer.sock:``), not through the proxy, and signs
each request like the gate does, in the name of the user it acts for.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.auth.signing import HEADER, identity_for
from hub.fleet.roster import FleetPrinter

# The name recorded when the hub acts on its own (the fleet queue).
HUB_USER = "hub"
TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=3)
UNIX_UPSTREAM = "http://unix:"
# Connections open to one print server at a time: its event stream (held for ever) and the
# calls made meanwhile (an action, a history page, the counters, a dispatch).
PER_PRINTER = 8


def unix_socket(upstream: str) -> str | None:
    """The socket path of an upstream ``http://unix:/PATH:``; None for a TCP one."""
    if not upstream.startswith(UNIX_UPSTREAM):
        return None
    return upstream.removeprefix(UNIX_UPSTREAM).rstrip("/").removesuffix(":")


class InstanceClient:
    """One ClientSession for every print server; ``request`` signs for the printer it calls."""

    def __init__(self, master_key: bytes) -> None:
        self._key = master_key
        self._session: aiohttp.ClientSession | None = None
        self._unix: dict[str, aiohttp.ClientSession] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No limit on the whole pool: aiohttp's default of 100 is taken up by the event
            # streams alone in a fleet of 100 printers, and every call after them waited for
            # a free connection until it timed out (the 100-printer soak: no bed could be
            # confirmed, no job sent). One print server is still held to PER_PRINTER.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_PRINTER)
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, connector=connector)
        return self._session

    def session_for(self, printer: FleetPrinter) -> aiohttp.ClientSession:
        """The shared TCP session, or one per Unix socket."""
        path = unix_socket(printer.upstream)
        if path is None:
            return self.session
        found = self._unix.get(path)
        if found is None or found.closed:
            found = aiohttp.ClientSession(
                timeout=TIMEOUT, connector=aiohttp.UnixConnector(path=path)
            )
            self._unix[path] = found
        return found

    def headers(
        self, printer: FleetPrinter, user: str = HUB_USER, act: bool = True, hub: bool = False
    ) -> dict[str, str]:
        return {HEADER: identity_for(self._key, printer.name, user, act, hub=hub)}

    def url(self, printer: FleetPrinter, path: str) -> str:
        if unix_socket(printer.upstream) is not None:
            return "http://localhost" + path
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
        session = self.session_for(printer)
        return session.request(method, self.url(printer, path), headers=headers, **kwargs)

    def websocket(
        self, printer: FleetPrinter, path: str, **kwargs: Any
    ) -> aiohttp.client._WSRequestContextManager:
        """The hub's own watch-only connection: marked as the hub's (``h``), so the print
        server also sends it the outcome of every act the gate let through."""
        return self.session_for(printer).ws_connect(
            self.url(printer, path), headers=self.headers(printer, act=False, hub=True), **kwargs
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        for session in self._unix.values():
            await session.close()
        self._unix.clear()
