"""Any device switched by URLs: ``on_url``, ``off_url``, ``status_url`` (method ``GET`` or
``POST``, optional Basic auth), and two regular expressions that tell "on" and "off" apart
in the status answer's body. A body both or neither match is "unknown" (the device's
answer is never guessed at; Moonraker's generic_http device has the same rule with a
template, docs/research/farm-operations.md §4b).
"""

from __future__ import annotations

import re

import aiohttp

from hub.power.http_call import call, snippet
from hub.power.spec import PowerSpec
from hub.power.state import PowerState, known, unknown


class GenericHttp:
    def __init__(
        self, spec: PowerSpec, session: aiohttp.ClientSession, password: str | None
    ) -> None:
        self.spec = spec
        self.session = session
        self.headers = (
            {}
            if password is None or not spec.user
            else {"Authorization": aiohttp.encode_basic_auth(spec.user, password)}
        )
        self.on_pattern = re.compile(spec.on_pattern)
        self.off_pattern = re.compile(spec.off_pattern)

    async def state(self) -> PowerState:
        answer = await call(self.session, "GET", self.spec.status_url, headers=self.headers)
        if answer.problem is not None:
            return unknown(f"{self.spec.status_url} did not answer: {answer.problem}")
        if answer.status != 200:
            return unknown(f"{self.spec.status_url} answered HTTP {answer.status}")
        on = bool(self.on_pattern.search(answer.text))
        off = bool(self.off_pattern.search(answer.text))
        if on != off:
            pattern = self.spec.on_pattern if on else self.spec.off_pattern
            return known(on, f"the status answer matches '{pattern}'")
        which = "both patterns" if on else "neither pattern"
        return unknown(f"the status answer matches {which}: {snippet(answer.text)}")

    async def switch(self, on: bool) -> PowerState:
        url = self.spec.on_url if on else self.spec.off_url
        answer = await call(self.session, self.spec.method, url, headers=self.headers)
        if answer.problem is not None:
            return unknown(f"{url} did not answer: {answer.problem}")
        if not 200 <= answer.status < 300:
            return unknown(f"{url} answered HTTP {answer.status}: {snippet(answer.text)}")
        return await self.state()

    async def close(self) -> None:
        return None
