"""Home Assistant's REST API (https://developers.home-assistant.io/docs/api/rest):
``GET /api/states/<entity_id>`` and ``POST /api/services/<domain>/turn_on|turn_off``,
each with ``Authorization: Bearer <long-lived token>``.

A service call answers the states that changed during the call, not the new state, so the
state is read again afterwards. ``unavailable`` and ``unknown`` (and anything but ``on`` or
``off``) are "unknown"; an entity Home Assistant does not have answers 404.
"""

from __future__ import annotations

import asyncio

import aiohttp

from hub.power.http_call import call, snippet
from hub.power.spec import PowerSpec
from hub.power.state import PowerState, known, unknown

# After a service call, read the state this many times, this far apart, until it shows.
SETTLE_TRIES = 5
SETTLE_PAUSE = 0.3


class HomeAssistant:
    def __init__(self, spec: PowerSpec, session: aiohttp.ClientSession, token: str) -> None:
        self.spec = spec
        self.session = session
        self.headers = {"Authorization": f"Bearer {token}"}
        self.base = spec.url.rstrip("/")
        self.domain = spec.entity_id.split(".", 1)[0]

    async def state(self) -> PowerState:
        entity = self.spec.entity_id
        answer = await call(
            self.session, "GET", f"{self.base}/api/states/{entity}", headers=self.headers
        )
        if answer.problem is not None:
            return unknown(f"Home Assistant at {self.base} did not answer: {answer.problem}")
        if answer.status == 401:
            return unknown("Home Assistant refused the access token (401)")
        if answer.status == 404:
            return unknown(f"Home Assistant has no entity {entity}")
        if answer.status != 200:
            return unknown(f"Home Assistant answered HTTP {answer.status}: {snippet(answer.text)}")
        body = answer.json
        value = body.get("state") if isinstance(body, dict) else None
        if value in ("on", "off"):
            return known(value == "on", f"Home Assistant says {entity} is {value}")
        if isinstance(value, str):
            return unknown(f"Home Assistant says {entity} is {value}")
        return unknown(f"Home Assistant's answer has no state: {snippet(answer.text)}")

    async def switch(self, on: bool) -> PowerState:
        service = "turn_on" if on else "turn_off"
        answer = await call(
            self.session,
            "POST",
            f"{self.base}/api/services/{self.domain}/{service}",
            headers=self.headers,
            json={"entity_id": self.spec.entity_id},
        )
        if answer.problem is not None:
            return unknown(f"Home Assistant at {self.base} did not answer: {answer.problem}")
        if answer.status == 401:
            return unknown("Home Assistant refused the access token (401)")
        if answer.status not in (200, 201):
            return unknown(
                f"Home Assistant refused {self.domain}.{service} (HTTP {answer.status}): "
                f"{snippet(answer.text)}"
            )
        state = await self.state()
        for _ in range(SETTLE_TRIES):
            if state.on is on or not state.known:
                break
            await asyncio.sleep(SETTLE_PAUSE)
            state = await self.state()
        return state

    async def close(self) -> None:
        return None
