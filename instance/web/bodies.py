"""Reading request bodies and query strings, refusing wrong shapes with a clear 400."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from instance.web.errors import ApiError

MAX_JSON_BYTES = 64 * 1024


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 400 for anything else (415 for another content type)."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ApiError(413, f"a JSON body may not exceed {MAX_JSON_BYTES} bytes")
    raw = bytearray()
    while len(raw) <= MAX_JSON_BYTES:
        chunk = await request.content.read(MAX_JSON_BYTES + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, f"a JSON body may not exceed {MAX_JSON_BYTES} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "a JSON object is required in the request body")
    kind = request.content_type
    if kind not in ("application/json", "application/octet-stream", "text/plain") and not (
        kind.endswith("+json")
    ):
        raise ApiError(415, f"expected Content-Type application/json, got {kind}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, f"malformed JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"expected a JSON object, got {type(body).__name__}")
    return body


def text(body: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"{name!r} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name!r} must be a string, not {_kind(value)}")
    return value


def flag(body: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"{name!r} must be true or false, not {_kind(value)}")
    return value


def number(
    body: Mapping[str, Any],
    name: str,
    *,
    default: float | None = None,
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    value = body.get(name, default)
    if value is None:
        raise ApiError(400, f"{name!r} is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"{name!r} must be a number, not {_kind(value)}")
    if not low <= value <= high:
        raise ApiError(400, f"{name!r} must be between {low:g} and {high:g}")
    return float(value)


def whole(
    body: Mapping[str, Any], name: str, *, default: int | None = None, low: int = 0, high: int
) -> int:
    value = body.get(name, default)
    if value is None:
        raise ApiError(400, f"{name!r} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{name!r} must be a whole number, not {_kind(value)}")
    if not low <= value <= high:
        raise ApiError(400, f"{name!r} must be between {low} and {high}")
    return value


def query_whole(request: web.Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be a whole number") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter {name!r} must be between {low} and {high}")
    return value


def query_flag(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ApiError(400, f"query parameter {name!r} must be true or false")


def form_flag(name: str, raw: str) -> bool:
    """A multipart field such as ``print=true`` (slicers send true/false, 1/0, on/off)."""
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ApiError(400, f"form field {name!r} must be true or false, not {raw[:40]!r}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
