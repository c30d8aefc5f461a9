"""Tasmota over HTTP: ``GET /cm?cmnd=Power<n>`` (query) and ``Power<n> On|Off``.

Per the Tasmota command docs (https://tasmota.github.io/docs/Commands/) and its web server
(``HandleHttpCommand``): the answer is ``{"POWER<n>": "ON"|"OFF"}``, and a one-relay plug
may key output 1 as ``POWER``. With a web password, current firmware takes HTTP Basic auth
or ``user=``/``password=`` and answers 401 ``{"WARNING": "Need user=…"}`` when both fail;
older firmware sends the same WARNING with status 200. Either is "unknown", never "off".
"""

from __future__ import annotations

import aiohttp

from hub.power.driver import base_url
from hub.power.http_call import call, snippet
from hub.power.spec import PowerSpec
from hub.power.state import PowerState, known, unknown


class Tasmota:
    def __init__(
        self, spec: PowerSpec, session: aiohttp.ClientSession, password: str | None
    ) -> None:
        self.spec = spec
        self.session = session
        self.password = password
        self.user = spec.user or "admin"

    async def _command(self, command: str) -> PowerState:
        params = {"cmnd": command}
        headers = {}
        if self.password is not None:
            # Basic auth for current firmware, the query pair for older firmware.
            params.update(user=self.user, password=self.password)
            headers["Authorization"] = aiohttp.encode_basic_auth(self.user, self.password)
        answer = await call(
            self.session, "GET", base_url(self.spec.host) + "/cm", params=params, headers=headers
        )
        if answer.problem is not None:
            return unknown(f"the Tasmota plug at {self.spec.host} did not answer: {answer.problem}")
        body = answer.json
        warning = body.get("WARNING") if isinstance(body, dict) else None
        if answer.status == 401 or (isinstance(warning, str) and warning.startswith("Need user")):
            return unknown(
                f"the Tasmota plug at {self.spec.host} refused the user name or password"
                + (f" ({warning})" if warning else f" (HTTP {answer.status})")
            )
        if answer.status != 200:
            return unknown(
                f"the Tasmota plug answered HTTP {answer.status}: {snippet(answer.text)}"
            )
        if not isinstance(body, dict):
            return unknown(f"the Tasmota plug's answer is not JSON: {snippet(answer.text)}")
        if warning is not None:
            return unknown(f"the Tasmota plug said: {warning}")
        key = f"POWER{self.spec.output}"
        if key not in body and self.spec.output == 1 and "POWER" in body:
            key = "POWER"  # a one-relay plug answers Power1 as POWER
        value = body.get(key)
        if isinstance(value, str) and value.upper() in ("ON", "OFF"):
            return known(value.upper() == "ON", f"Tasmota {key} is {value.upper()}")
        return unknown(
            f"the Tasmota plug's answer has no POWER{self.spec.output}: {snippet(answer.text)}"
        )

    async def state(self) -> PowerState:
        return await self._command(f"Power{self.spec.output}")

    async def switch(self, on: bool) -> PowerState:
        return await self._command(f"Power{self.spec.output} {'On' if on else 'Off'}")

    async def close(self) -> None:
        return None
