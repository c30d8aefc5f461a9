"""Asking Spoolman (docs/spools.md): its REST API under ``<url>/api/v1``, short timeouts.

Only what the hub needs, each as Spoolman 0.26.1's OpenAPI document declares it
(tests/fixtures/spoolman/openapi.json): ``GET /info``, ``GET /health``, ``GET /spool``
(paged with ``limit``/``offset`` until a short page: the document declares no total
header for it), ``GET /spool/{id}`` and ``PUT /spool/{id}/use`` with exactly one of
``use_weight``/``use_length`` (the hub sends ``use_weight``, in grams). Every failure is
a :class:`SpoolmanError` whose text a user can read.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from hub.spools.model import (
    Spool,
    SpoolmanError,
    message_of,
    parse_spool,
    parse_spools,
    validation_summary,
)

TIMEOUT = aiohttp.ClientTimeout(total=5, sock_connect=2)
# Spools per page of GET /spool, and pages at most (a picker needs no more).
PAGE = 100
MAX_PAGES = 20
# The largest answer read (a page of 100 spools is far below).
MAX_BODY = 4 * 1024 * 1024


class SpoolmanClient:
    """Spoolman at ``url`` (``http://host:7912``), through ``session``."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        spool_id: int | None = None,
    ) -> Any:
        try:
            async with self.session.request(
                method, f"{self.url}/api/v1{path}", params=params, json=body, timeout=TIMEOUT
            ) as answer:
                raw = await answer.content.read(MAX_BODY + 1)
                status = answer.status
        except TimeoutError:
            raise SpoolmanError(
                "down", f"Spoolman at {self.url} does not answer (no answer within 5 s)"
            ) from None
        except (aiohttp.ClientError, OSError) as error:
            reason = str(error) or type(error).__name__
            raise SpoolmanError(
                "down", f"Spoolman at {self.url} does not answer ({reason})"
            ) from None
        if len(raw) > MAX_BODY:
            raise SpoolmanError("nonsense", f"Spoolman answered nonsense ({path}: too long)")
        try:
            data: Any = json.loads(raw) if raw else None
        except ValueError:
            data = ValueError
        if status == 404 and spool_id is not None:
            raise SpoolmanError("missing", f"spool {spool_id} does not exist in Spoolman", 404)
        if status in (400, 422):
            said = message_of(data) if status == 400 else validation_summary(data)
            raise SpoolmanError(
                "refused", f"Spoolman refused {method} {path} ({said or 'no reason'})", status
            )
        if status != 200:
            said = message_of(data)
            raise SpoolmanError(
                "nonsense",
                f"Spoolman answered nonsense ({method} {path}: HTTP {status}"
                + (f", {said}" if said else "")
                + ")",
                status,
            )
        if data is ValueError:
            raise SpoolmanError("nonsense", f"Spoolman answered nonsense ({path}: not JSON)")
        return data

    async def info(self) -> dict[str, Any]:
        """``GET /info``: Spoolman's version and settings."""
        data = await self._call("GET", "/info")
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            raise SpoolmanError("nonsense", "Spoolman answered nonsense (/info without a version)")
        return data

    async def health(self) -> str:
        """``GET /health``: its status word (``healthy``)."""
        data = await self._call("GET", "/health")
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise SpoolmanError("nonsense", "Spoolman answered nonsense (/health without a status)")
        return str(data["status"])

    async def spool(self, spool_id: int) -> Spool:
        return parse_spool(await self._call("GET", f"/spool/{spool_id}", spool_id=spool_id))

    async def spools(self, *, page: int = PAGE, max_pages: int = MAX_PAGES) -> list[Spool]:
        """Every spool not archived, page by page (``limit``/``offset``)."""
        found: list[Spool] = []
        for number in range(max_pages):
            params = {"limit": str(page), "offset": str(number * page), "sort": "id:asc"}
            batch = parse_spools(await self._call("GET", "/spool", params=params))
            found.extend(batch)
            if len(batch) < page:
                break
        return found

    async def use_grams(self, spool_id: int, grams: float) -> Spool:
        """``PUT /spool/{id}/use`` with ``{"use_weight": grams}``; the spool afterwards."""
        if not grams > 0:
            raise ValueError(f"use must be above 0 g, not {grams}")
        data = await self._call(
            "PUT", f"/spool/{spool_id}/use", body={"use_weight": grams}, spool_id=spool_id
        )
        return parse_spool(data)
