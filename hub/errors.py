"""Every refusal as JSON ``{"error": ...}`` with the status code that names its kind."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request refused with ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError and aiohttp's own 4xx as JSON; anything unexpected a logged 500, never a crash."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.message)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        return error_response(error.status, error.reason)
    except HttpProcessingError as error:
        # A body aiohttp could not parse as it was read (a malformed multipart part).
        return error_response(400, f"malformed request: {error.message}".strip())
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error; the hub's log has the details")
