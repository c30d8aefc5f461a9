"""Stand-ins for power devices: small real aiohttp servers that follow each device's
documented HTTP API (docs/power.md; docs/research/farm-operations.md sections 1 to 4), with
fault switches (``delay`` beyond the client's timeout, a ``garbage`` non-JSON body, a ``missing``
field), served on loopback from a thread so a test, the hub process or a benchmark can use
them.

- :class:`TasmotaPlug`: ``GET /cm?cmnd=…`` per https://tasmota.github.io/docs/Commands/ and the
  firmware's ``HandleHttpCommand``: ``{"POWER":"ON"}`` on a one-relay plug (also for
  ``Power1``), ``{"POWER<n>":"OFF"}`` on a multi-relay one; with a web password, HTTP Basic
  auth or ``user=``/``password=``, else 401
  ``{"WARNING":"Need user=<username>&password=<password>"}`` (``legacy=True``: the same
  WARNING with status 200, as older firmware answers).
- :class:`ShellyGen1`: ``GET /relay/<i>[?turn=on|off|toggle]`` answering the relay status
  object (``ison``, ``has_timer``, …) per https://shelly-api-docs.shelly.cloud/gen1/ ; Basic
  auth when a password is set.
- :class:`ShellyGen2`: ``GET /rpc/Switch.Set|GetStatus|Toggle`` and ``POST /rpc`` frames per
  https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch and
  https://shelly-api-docs.shelly.cloud/gen2/General/RPCProtocol ; errors -103 (missing id)
  and -105 (no such switch) per …/gen2/General/CommonErrors ; ``/shelly`` unauthenticated;
  SHA-256 digest auth (user ``admin``, realm = device id) per …/gen2/General/Authentication.
- :class:`HomeAssistant`: ``/api/``, ``/api/states/<entity_id>`` (404 for an unknown entity),
  ``/api/services/<domain>/turn_on|turn_off`` answering the list of changed states, bearer
  token, per https://developers.home-assistant.io/docs/api/rest .
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Faults:
    # Seconds to wait before answering (beyond the client's timeout: no answer in time).
    delay: float = 0.0
    # Answer a body that is not JSON.
    garbage: bool = False
    # Leave the state field out of the answer.
    missing: bool = False


@dataclass
class StandIn:
    faults: Faults = field(default_factory=Faults)
    # (monotonic time, method, path with query) of every request.
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    # The wall-clock time of each request (to compare with another process's times).
    walls: list[float] = field(default_factory=list)
    url: str = ""

    def note(self, request: web.Request) -> None:
        self.requests.append((time.monotonic(), request.method, request.path_qs))
        self.walls.append(time.time())

    async def faulted(self) -> web.Response | None:
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        if self.faults.garbage:
            return web.Response(text="<html><body>Oops</body></html>", content_type="text/html")
        return None

    def switched_off_at(self, wall: bool = False, after: int = 0) -> float | None:
        """When the first request (from the ``after``-th on) that switched something off
        arrived: monotonic, or wall-clock time."""
        for index, (at, _method, path) in enumerate(self.requests):
            lowered = path.lower()
            words = ("%20off", "+off", "turn=off", "on=false", "turn_off")
            if index >= after and any(w in lowered for w in words):
                return self.walls[index] if wall else at
        return None

    def switched_on_at(self) -> float | None:
        """When the first request that switched something on arrived (monotonic)."""
        for at, _method, path in self.requests:
            lowered = path.lower()
            if any(w in lowered for w in ("%20on", "+on", "turn=on", "on=true", "turn_on")):
                return at
        return None

    def app(self) -> web.Application:
        raise NotImplementedError


# -- Tasmota ------------------------------------------------------------------------------

_POWER = re.compile(r"^power(\d*)(?:\s+(\S+))?$", re.IGNORECASE)
_WORDS = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}


@dataclass
class TasmotaPlug(StandIn):
    outputs: int = 1
    power: list[bool] = field(default_factory=list)
    password: str | None = None
    # Older firmware: a wrong password gets the WARNING with status 200, not 401.
    legacy: bool = False

    def __post_init__(self) -> None:
        if not self.power:
            self.power = [False] * self.outputs

    def _authorised(self, request: web.Request) -> bool:
        if self.password is None:
            return True
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, given = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, given = "", ""
            if user == "admin" and given == self.password:
                return True
        query = request.query
        return query.get("user") == "admin" and query.get("password") == self.password

    def _key(self, index: int) -> str:
        return "POWER" if self.outputs == 1 else f"POWER{index}"

    async def cm(self, request: web.Request) -> web.Response:
        self.note(request)
        broken = await self.faulted()
        if broken is not None:
            return broken
        if not self._authorised(request):
            warning = {"WARNING": "Need user=<username>&password=<password>"}
            return web.json_response(warning, status=200 if self.legacy else 401)
        command = request.query.get("cmnd", "").strip()
        if not command:
            return web.json_response({"WARNING": "Enter command cmnd="})
        found = _POWER.match(command)
        if found is None:
            return web.json_response({"Command": "Unknown"})
        index = int(found[1] or 1)
        if not 1 <= index <= self.outputs:
            return web.json_response({"Command": "Unknown"})
        word = (found[2] or "").lower()
        if word == "toggle":
            self.power[index - 1] = not self.power[index - 1]
        elif word in _WORDS:
            self.power[index - 1] = _WORDS[word]
        elif word:
            return web.json_response({"Command": "Error"})
        if self.faults.missing:
            return web.json_response({"Time": "2026-12-04T12:00:00"})
        return web.json_response({self._key(index): "ON" if self.power[index - 1] else "OFF"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cm", self.cm)
        return app


# -- Shelly gen 1 ---------------------------------------------------------------------------


@dataclass
class ShellyGen1(StandIn):
    relays: list[bool] = field(default_factory=lambda: [False])
    password: str | None = None

    async def relay(self, request: web.Request) -> web.Response:
        self.note(request)
        broken = await self.faulted()
        if broken is not None:
            return broken
        if self.password is not None:
            expected = "Basic " + base64.b64encode(f"admin:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.Response(status=401, text="401 Unauthorized")
        index = int(request.match_info["index"])
        if index >= len(self.relays):
            return web.Response(status=404, text="Not Found")
        turn = request.query.get("turn")
        if turn == "on":
            self.relays[index] = True
        elif turn == "off":
            self.relays[index] = False
        elif turn == "toggle":
            self.relays[index] = not self.relays[index]
        elif turn is not None:
            return web.Response(status=400, text="Bad turn!")
        status: dict[str, Any] = {
            "ison": self.relays[index],
            "has_timer": False,
            "timer_started": 0,
            "timer_duration": 0,
            "timer_remaining": 0,
            "source": "http",
        }
        if self.faults.missing:
            del status["ison"]
        return web.json_response(status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(r"/relay/{index:\d+}", self.relay)
        return app


# -- Shelly gen 2 ---------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ShellyGen2(StandIn):
    switches: list[bool] = field(default_factory=lambda: [False])
    password: str | None = None
    device_id: str = "shellyplus1pm-a8032ab1c2d3"
    nonces: set[str] = field(default_factory=set)

    def _challenge(self) -> web.Response:
        nonce = secrets.token_hex(8)
        self.nonces.add(nonce)
        header = f'Digest qop="auth", realm="{self.device_id}", nonce="{nonce}", algorithm=SHA-256'
        return web.Response(status=401, headers={"WWW-Authenticate": header})

    def _authorised(self, request: web.Request) -> bool:
        if self.password is None:
            return True
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        if fields.get("username") != "admin" or fields.get("nonce") not in self.nonces:
            return False
        if fields.get("realm") != self.device_id:
            return False
        ha1 = _sha256(f"admin:{self.device_id}:{self.password}")
        ha2 = _sha256(f"{request.method}:{fields.get('uri', '')}")
        expected = _sha256(
            f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:"
            f"{fields.get('qop', '')}:{ha2}"
        )
        return fields.get("response") == expected

    def _status(self, index: int) -> dict[str, Any]:
        status: dict[str, Any] = {
            "id": index,
            "source": "http",
            "output": self.switches[index],
            "apower": 0.0,
            "voltage": 231.2,
            "aenergy": {"total": 12.5, "by_minute": [0, 0, 0], "minute_ts": int(time.time())},
            "temperature": {"tC": 40.1, "tF": 104.2},
        }
        if self.faults.missing:
            del status["output"]
        return status

    def _call(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        """(error, result) of one RPC call."""
        if method not in ("Switch.Set", "Switch.GetStatus", "Switch.Toggle"):
            return {"code": -114, "message": f"Method {method} failed: No handler!"}, None
        if "id" not in params:
            return {"code": -103, "message": "Missing required argument 'id'!"}, None
        try:
            index = int(params["id"])
        except (TypeError, ValueError):
            return {"code": -103, "message": "Invalid argument 'id'!"}, None
        if not 0 <= index < len(self.switches):
            return {"code": -105, "message": f"Argument 'id', value {index} not found!"}, None
        was_on = self.switches[index]
        if method == "Switch.GetStatus":
            return None, self._status(index)
        if method == "Switch.Toggle":
            self.switches[index] = not was_on
            return None, {"was_on": was_on}
        on = params.get("on")
        if isinstance(on, str):
            on = {"true": True, "false": False}.get(on)
        if not isinstance(on, bool):
            return {"code": -103, "message": "Missing required argument 'on'!"}, None
        self.switches[index] = on
        return None, {"was_on": was_on}

    async def shelly(self, request: web.Request) -> web.Response:
        self.note(request)
        return web.json_response(
            {
                "name": None,
                "id": self.device_id,
                "mac": "A8032AB1C2D3",
                "model": "SNSW-001P16EU",
                "gen": 2,
                "fw_id": "20231107-164738/1.0.8-g0e3b5b3",
                "ver": "1.0.8",
                "app": "Plus1PM",
                "auth_en": self.password is not None,
                "auth_domain": self.device_id if self.password is not None else None,
            }
        )

    async def _refused(self, request: web.Request) -> web.Response | None:
        """A fault's answer, or the digest challenge; None: go on."""
        self.note(request)
        broken = await self.faulted()
        if broken is not None:
            return broken
        return None if self._authorised(request) else self._challenge()

    async def rpc_get(self, request: web.Request) -> web.Response:
        refused = await self._refused(request)
        if refused is not None:
            return refused
        error, result = self._call(request.match_info["method"], dict(request.query))
        if error is not None:
            return web.json_response(error, status=400 if error["code"] != -114 else 404)
        return web.json_response(result)

    async def rpc_post(self, request: web.Request) -> web.Response:
        refused = await self._refused(request)
        if refused is not None:
            return refused
        try:
            frame = json.loads(await request.text())
        except ValueError:
            return web.json_response({"code": -103, "message": "Invalid JSON"}, status=400)
        error, result = self._call(str(frame.get("method")), frame.get("params") or {})
        answer: dict[str, Any] = {"id": frame.get("id"), "src": self.device_id}
        if "src" in frame:
            answer["dst"] = frame["src"]
        answer.update({"error": error} if error is not None else {"result": result})
        return web.json_response(answer)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/shelly", self.shelly)
        app.router.add_get("/rpc/{method}", self.rpc_get)
        app.router.add_post("/rpc", self.rpc_post)
        return app


# -- Home Assistant ---------------------------------------------------------------------------


@dataclass
class HomeAssistant(StandIn):
    token: str = "ha-long-lived-token"
    entities: dict[str, str] = field(default_factory=lambda: {"switch.printer_3": "off"})

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _state(self, entity: str) -> dict[str, Any]:
        state: dict[str, Any] = {
            "entity_id": entity,
            "state": self.entities[entity],
            "attributes": {"friendly_name": entity.split(".", 1)[1].replace("_", " ")},
            "last_changed": "2026-12-04T12:00:00+00:00",
            "last_updated": "2026-12-04T12:00:00+00:00",
        }
        if self.faults.missing:
            del state["state"]
        return state

    async def api(self, request: web.Request) -> web.Response:
        self.note(request)
        broken = await self.faulted()
        if broken is not None:
            return broken
        if not self._authorised(request):
            return web.Response(status=401, text="401: Unauthorized")
        tail = request.match_info["tail"]
        if tail == "" and request.method == "GET":
            return web.json_response({"message": "API running."})
        if tail.startswith("states/") and request.method == "GET":
            entity = tail.removeprefix("states/")
            if entity not in self.entities:
                return web.json_response({"message": "Entity not found."}, status=404)
            return web.json_response(self._state(entity))
        service = re.fullmatch(r"services/(\w+)/(turn_on|turn_off|toggle)", tail)
        if service is not None and request.method == "POST":
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                return web.json_response({"message": "Data should be valid JSON."}, status=400)
            entity = str(body.get("entity_id")) if isinstance(body, dict) else ""
            changed = []
            if entity in self.entities and entity.startswith(service[1] + "."):
                before = self.entities[entity]
                if before in ("on", "off"):
                    after = {"turn_on": "on", "turn_off": "off"}.get(service[2])
                    after = after or ("off" if before == "on" else "on")
                    self.entities[entity] = after
                    if after != before:
                        changed.append(self._state(entity))
            return web.json_response(changed)
        return web.json_response({"message": "Not found"}, status=404)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{tail:.*}", self.api)
        return app


# -- serving ----------------------------------------------------------------------------------


@contextmanager
def serving(stand_in: StandIn, port: int = 0) -> Iterator[StandIn]:
    """``stand_in`` on 127.0.0.1 (``stand_in.url`` is set) in a thread of its own."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: list[web.AppRunner] = []

    async def serve() -> None:
        started = web.AppRunner(stand_in.app(), handle_signals=False, shutdown_timeout=0.5)
        await started.setup()
        site = web.TCPSite(started, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        stand_in.url = f"http://127.0.0.1:{bound}"
        runner.append(started)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the stand-in did not start"

    async def stop() -> None:
        await runner[0].cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    try:
        yield stand_in
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
