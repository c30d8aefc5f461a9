"""Reading a request's JSON body: one object, of bounded size, with clear refusals."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.errors import ApiError

# A JSON body of a login, account, fleet or queue request is small.
MAX_BODY = 64 * 1024


async def read_at_most(request: web.Request, limit: int) -> bytes:
    """The body, read until its end or one byte past ``limit`` (so a longer one shows)."""
    data = b""
    while len(data) <= limit:
        chunk = await request.content.read(limit + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def json_object(data: bytes) -> dict[str, Any]:
    """``data`` as one JSON object; 400 with a clear message otherwise."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 400/413/415 with a clear message otherwise."""
    if request.content_type != "application/json":
        raise ApiError(415, "send JSON (Content-Type: application/json)")
    data = await read_at_most(request, MAX_BODY)
    if len(data) > MAX_BODY:
        raise ApiError(413, f"the request body is larger than {MAX_BODY // 1024} KiB")
    return json_object(data)


def text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' is required (a string)")
    return value
