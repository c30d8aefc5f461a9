"""Shelly gen 2/3 (RPC over HTTP): ``GET /rpc/Switch.Set?id=<i>&on=true|false`` then
``GET /rpc/Switch.GetStatus?id=<i>``.

Per the Switch component page
(https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch): ``Switch.Set``
answers ``{"was_on": …}``, the state *before* the call, so the new state is read from
``GetStatus``'s ``output``. Errors (https://shelly-api-docs.shelly.cloud/gen2/General/CommonErrors)
are ``{code, message}`` (bare or inside ``error``), e.g. -103 invalid argument, -105 not
found. Authentication (https://shelly-api-docs.shelly.cloud/gen2/General/Authentication) is
SHA-256 digest, user ``admin``: aiohttp's DigestAuthMiddleware answers the 401 challenge.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.power.driver import base_url
from hub.power.http_call import Answer, call, snippet
from hub.power.spec import PowerSpec
from hub.power.state import PowerState, known, unknown


def rpc_error(body: Any) -> str | None:
    """``-105 Bad id=7`` from ``{"code", "message"}`` or ``{"error": {…}}``."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict) and "code" in body:
        return f"{body.get('code')} {body.get('message', '')}".strip()
    return None


class Shelly2:
    def __init__(
        self, spec: PowerSpec, session: aiohttp.ClientSession, password: str | None
    ) -> None:
        self.spec = spec
        self.own: aiohttp.ClientSession | None = None
        if password is not None:
            # A session of its own: the digest middleware keeps this device's nonce.
            self.own = aiohttp.ClientSession(
                middlewares=(aiohttp.DigestAuthMiddleware("admin", password),)
            )
        self.session = self.own or session
        self.where = f"the Shelly at {spec.host}"

    def _problem(self, answer: Answer) -> str | None:
        if answer.problem is not None:
            return f"{self.where} did not answer: {answer.problem}"
        if answer.status == 401:
            return f"{self.where} refused the password (401)"
        error = rpc_error(answer.json)
        if answer.status != 200 or error is not None:
            said = error or snippet(answer.text)
            return f"{self.where} answered HTTP {answer.status}: {said}"
        if not isinstance(answer.json, dict):
            return f"{self.where}'s answer is not JSON: {snippet(answer.text)}"
        return None

    async def _rpc(self, method: str, **params: str) -> Answer:
        url = f"{base_url(self.spec.host)}/rpc/{method}"
        return await call(self.session, "GET", url, params={"id": str(self.spec.relay), **params})

    async def state(self) -> PowerState:
        answer = await self._rpc("Switch.GetStatus")
        problem = self._problem(answer)
        if problem is not None:
            return unknown(problem)
        output = answer.json.get("output")
        if not isinstance(output, bool):
            return unknown(f"{self.where} answered without 'output': {snippet(answer.text)}")
        return known(output, f"switch {self.spec.relay} output is {'on' if output else 'off'}")

    async def switch(self, on: bool) -> PowerState:
        answer = await self._rpc("Switch.Set", on="true" if on else "false")
        problem = self._problem(answer)
        if problem is not None:
            return unknown(problem)
        return await self.state()

    async def close(self) -> None:
        if self.own is not None:
            await self.own.close()
