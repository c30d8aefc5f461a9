"""Shelly gen 1: ``GET /relay/<i>`` (status) and ``/relay/<i>?turn=on|off``.

Per the gen1 API (https://shelly-api-docs.shelly.cloud/gen1/): both answer the relay's status
object, whose ``ison`` is the relay state; "restrict login" means HTTP Basic auth, 401
without it. Anything else (another status, no ``ison``) is "unknown".
"""

from __future__ import annotations

import aiohttp

from hub.power.driver import base_url
from hub.power.http_call import call, snippet
from hub.power.spec import PowerSpec
from hub.power.state import PowerState, known, unknown


class Shelly1:
    def __init__(
        self, spec: PowerSpec, session: aiohttp.ClientSession, password: str | None
    ) -> None:
        self.spec = spec
        self.session = session
        user = spec.user or "admin"
        self.headers = (
            {} if password is None else {"Authorization": aiohttp.encode_basic_auth(user, password)}
        )

    async def _relay(self, turn: str | None) -> PowerState:
        url = f"{base_url(self.spec.host)}/relay/{self.spec.relay}"
        params = {} if turn is None else {"turn": turn}
        answer = await call(self.session, "GET", url, params=params, headers=self.headers)
        where = f"the Shelly at {self.spec.host}"
        if answer.problem is not None:
            return unknown(f"{where} did not answer: {answer.problem}")
        if answer.status == 401:
            return unknown(f"{where} refused the user name or password (401)")
        if answer.status != 200:
            return unknown(f"{where} answered HTTP {answer.status}: {snippet(answer.text)}")
        body = answer.json
        ison = body.get("ison") if isinstance(body, dict) else None
        if not isinstance(ison, bool):
            return unknown(f"{where} answered without 'ison': {snippet(answer.text)}")
        return known(ison, f"relay {self.spec.relay} is {'on' if ison else 'off'}")

    async def state(self) -> PowerState:
        return await self._relay(None)

    async def switch(self, on: bool) -> PowerState:
        return await self._relay("on" if on else "off")

    async def close(self) -> None:
        return None
