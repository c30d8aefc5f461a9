"""A stand-in for Spoolman (the filament spool tracker) for the hub's tests: a real aiohttp
HTTP server on loopback, in its own thread, that answers the paths fabfleet uses exactly as
Spoolman 0.26.1's OpenAPI document declares them (tests/fixtures/spoolman/openapi.json,
served by Spoolman at ``/api/v1/openapi.json``; README.md next to it):

- ``GET /api/v1/info`` → ``Info``; ``GET /api/v1/health`` → ``HealthCheck``
- ``GET /api/v1/spool`` (``limit``, ``offset``, ``allow_archived``, ``sort``) → ``[Spool]``
- ``GET /api/v1/spool/{spool_id}`` → ``Spool``, 404 ``Message``, 422 ``HTTPValidationError``
- ``PUT /api/v1/spool/{spool_id}/use`` ``SpoolUseParameters`` (exactly one of
  ``use_weight``/``use_length``) → the updated ``Spool``, 400/404 ``Message``, 422
- ``PUT /api/v1/spool/{spool_id}/measure`` ``SpoolMeasureParameters`` → ``Spool``

tests/hub/test_spoolman_stand_in.py validates every answer against the document. Spools live
in memory. Faults: ``missing`` (spool ids answered 404 as if deleted), ``reject_use`` (the
next uses answered 422), ``garbage`` (bodies that are not JSON), ``slow`` (seconds to wait
before answering); ``stop()``/``start()`` take it off the network and back on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

REGISTERED = "2026-01-05T10:00:00Z"


def validation_error(loc: list[str | int], msg: str, kind: str, given: Any) -> dict[str, Any]:
    """FastAPI's ``HTTPValidationError`` body."""
    return {"detail": [{"loc": loc, "msg": msg, "type": kind, "input": given}]}


@dataclass
class StandInSpool:
    id: int
    vendor: str | None
    name: str | None
    material: str | None
    density: float = 1.24
    diameter: float = 1.75
    # Net weight of a full spool; None: Spoolman cannot tell the remaining weight.
    weight: float | None = 1000.0
    used_weight: float = 0.0
    archived: bool = False
    location: str | None = None
    uses: list[float] = field(default_factory=list)

    def used_length(self) -> float:
        area_cm2 = 3.141592653589793 * (self.diameter / 20) ** 2
        return self.used_weight / self.density / area_cm2 * 10

    def as_json(self) -> dict[str, Any]:
        vendor = (
            None
            if self.vendor is None
            else {"id": self.id + 100, "registered": REGISTERED, "name": self.vendor, "extra": {}}
        )
        filament = {
            "id": self.id + 1000,
            "registered": REGISTERED,
            "name": self.name,
            "vendor": vendor,
            "material": self.material,
            "density": self.density,
            "diameter": self.diameter,
            "weight": self.weight,
            "extra": {},
        }
        spool: dict[str, Any] = {
            "id": self.id,
            "registered": REGISTERED,
            "first_used": REGISTERED if self.used_weight else None,
            "last_used": REGISTERED if self.used_weight else None,
            "filament": filament,
            "used_weight": self.used_weight,
            "used_length": self.used_length(),
            "location": self.location,
            "archived": self.archived,
            "extra": {"tag": json.dumps("farm")},
        }
        if self.weight is not None:
            spool["initial_weight"] = self.weight
            spool["remaining_weight"] = max(0.0, self.weight - self.used_weight)
        else:
            spool["remaining_weight"] = None
        return spool


class SpoolmanStandIn:
    def __init__(self) -> None:
        self.spools: dict[int, StandInSpool] = {}
        self.missing: set[int] = set()
        self.reject_use = 0
        self.garbage = False
        self.slow = 0.0
        # How many slow answers have waited their ``slow`` seconds to the end.
        self.slow_answered = 0
        # Every PUT /use that was applied: (spool id, body).
        self.applied: list[tuple[int, dict[str, Any]]] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, spool: StandInSpool) -> StandInSpool:
        with self._lock:
            self.spools[spool.id] = spool
        return spool

    # --- the API ------------------------------------------------------------------

    async def _pause(self) -> None:
        if self.slow:
            await asyncio.sleep(self.slow)
            with self._lock:
                self.slow_answered += 1

    def _answer(self, body: Any, status: int = 200) -> web.Response:
        if self.garbage:
            return web.Response(status=status, text="<html>oops", content_type="application/json")
        return web.json_response(body, status=status)

    def _spool_id(self, request: web.Request) -> int | web.Response:
        text = request.match_info["spool_id"]
        try:
            return int(text)
        except ValueError:
            return self._answer(
                validation_error(
                    ["path", "spool_id"],
                    "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing",
                    text,
                ),
                422,
            )

    def _known(self, spool_id: int) -> StandInSpool | None:
        if spool_id in self.missing:
            return None
        return self.spools.get(spool_id)

    def _no_spool(self, spool_id: int) -> web.Response:
        return self._answer({"message": f"No spool with ID {spool_id} found."}, 404)

    async def info(self, request: web.Request) -> web.Response:
        await self._pause()
        return self._answer(
            {
                "version": "0.26.1",
                "debug_mode": False,
                "automatic_backups": True,
                "data_dir": "/home/app/.local/share/spoolman",
                "logs_dir": "/home/app/.local/share/spoolman",
                "backups_dir": "/home/app/.local/share/spoolman/backups",
                "db_type": "sqlite",
                "external_db_name": "SpoolmanDB",
                "git_commit": None,
                "build_date": None,
            }
        )

    async def health(self, request: web.Request) -> web.Response:
        await self._pause()
        return self._answer({"status": "healthy"})

    async def find(self, request: web.Request) -> web.Response:
        await self._pause()
        query = request.query
        numbers: dict[str, int] = {}
        for name, default in (("limit", -1), ("offset", 0)):
            text = query.get(name)
            try:
                numbers[name] = int(text) if text is not None else default
            except ValueError:
                return self._answer(
                    validation_error(
                        ["query", name],
                        "Input should be a valid integer, unable to parse string as an integer",
                        "int_parsing",
                        text,
                    ),
                    422,
                )
        archived = query.get("allow_archived", "false").lower() in ("true", "1")
        with self._lock:
            found = [
                s
                for _id, s in sorted(self.spools.items())
                if _id not in self.missing and (archived or not s.archived)
            ]
        if query.get("sort", "").endswith(":desc"):
            found.reverse()
        found = found[numbers["offset"] :]
        if numbers["limit"] >= 0:
            found = found[: numbers["limit"]]
        return self._answer([s.as_json() for s in found])

    async def get_spool(self, request: web.Request) -> web.Response:
        await self._pause()
        spool_id = self._spool_id(request)
        if isinstance(spool_id, web.Response):
            return spool_id
        spool = self._known(spool_id)
        return self._no_spool(spool_id) if spool is None else self._answer(spool.as_json())

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self._answer(
                validation_error(["body"], "JSON decode error", "json_invalid", {}), 422
            )
        if not isinstance(body, dict):
            return self._answer(
                validation_error(
                    ["body"], "Input should be a valid dictionary", "model_attributes_type", body
                ),
                422,
            )
        return body

    async def _put(self, request: web.Request) -> tuple[int, dict[str, Any]] | web.Response:
        """A PUT's spool id and body, or the error answer Spoolman gives for them."""
        await self._pause()
        spool_id = self._spool_id(request)
        if isinstance(spool_id, web.Response):
            return spool_id
        body = await self._body(request)
        return body if isinstance(body, web.Response) else (spool_id, body)

    async def use(self, request: web.Request) -> web.Response:
        asked = await self._put(request)
        if isinstance(asked, web.Response):
            return asked
        spool_id, body = asked
        for name in ("use_weight", "use_length"):
            value = body.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                return self._answer(
                    validation_error(
                        ["body", name], "Input should be a valid number", "float_parsing", value
                    ),
                    422,
                )
        if self.reject_use:
            self.reject_use -= 1
            return self._answer(
                validation_error(
                    ["body", "use_weight"], "Input should be a finite number", "finite_number", 0
                ),
                422,
            )
        weight, length = body.get("use_weight"), body.get("use_length")
        if (weight is None) == (length is None):
            return self._answer(
                {"message": "Either use_weight or use_length must be specified, not both."}, 400
            )
        spool = self._known(spool_id)
        if spool is None:
            return self._no_spool(spool_id)
        with self._lock:
            if weight is None:
                area_cm2 = 3.141592653589793 * (spool.diameter / 20) ** 2
                weight = area_cm2 * (float(length or 0) / 10) * spool.density
            spool.used_weight += float(weight)
            spool.uses.append(float(weight))
            self.applied.append((spool_id, body))
        return self._answer(spool.as_json())

    async def measure(self, request: web.Request) -> web.Response:
        asked = await self._put(request)
        if isinstance(asked, web.Response):
            return asked
        spool_id, body = asked
        gross = body.get("weight")
        if isinstance(gross, bool) or not isinstance(gross, int | float):
            return self._answer(
                validation_error(["body", "weight"], "Field required", "missing", body), 422
            )
        spool = self._known(spool_id)
        if spool is None:
            return self._no_spool(spool_id)
        if spool.weight is None:
            return self._answer(
                {"message": "Initial weight is not set, cannot measure the spool."}, 400
            )
        with self._lock:
            spool.used_weight = max(0.0, spool.weight - float(gross))
        return self._answer(spool.as_json())

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/info", self.info)
        app.router.add_get("/api/v1/health", self.health)
        app.router.add_get("/api/v1/spool", self.find)
        app.router.add_get("/api/v1/spool/{spool_id}", self.get_spool)
        app.router.add_put("/api/v1/spool/{spool_id}/use", self.use)
        app.router.add_put("/api/v1/spool/{spool_id}/measure", self.measure)
        return app

    # --- running ------------------------------------------------------------------

    def start(self) -> SpoolmanStandIn:
        """Serve (again) on loopback; the same port as before when restarted."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                runner = web.AppRunner(self.app(), shutdown_timeout=0.5)
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
                loop.run_until_complete(site.start())
                self._runner = runner
                self.port = int(runner.addresses[0][1])
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            # Answers still waiting (a slow one) end with the server.
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=2))
            loop.close()

        self._thread = threading.Thread(target=run, name="spoolman stand-in", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop answering: connections are refused until :meth:`start`."""
        if self._loop is not None and self._thread is not None:
            if self._runner is not None:
                done = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
                done.result(10)
                self._runner = None
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
        self._thread = None
        time.sleep(0.05)
