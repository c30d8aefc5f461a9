"""Every refusal as JSON ``{"error": ...}`` with the status code that names its kind."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from instance.files.gcode_check import NotGcode
from instance.files.names import BadFileName
from instance.files.store import DiskFull, FileInUse, UnknownFile, UploadTooLarge
from instance.job_records import RecordsDiskFull
from instance.printer import HeldByCheck, PrinterError

log = logging.getLogger(__name__)

# Exceptions of the core and the file store, and the status each one means.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (UnknownFile, 404),
    (FileInUse, 409),
    (UploadTooLarge, 413),
    (NotGcode, 415),
    (DiskFull, 507),
    (RecordsDiskFull, 507),
    (BadFileName, 400),
    (PrinterError, 409),
)


class ApiError(Exception):
    """A request refused with ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def held_of(error: BaseException) -> dict[str, object]:
    """``{"held": [...]}``: the dispatch check's holding items, for a refusal it caused."""
    return {"held": error.items} if isinstance(error, HeldByCheck) else {}


def status_of(error: Exception) -> int | None:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return None


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.message)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        message = error.text if error.text and not error.text.startswith("4") else error.reason
        if error.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif error.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        return error_response(error.status, message or error.reason)
    except HttpProcessingError as error:
        # A malformed part header inside a multipart body, and the like.
        return error_response(400, f"malformed request: {error.message or type(error).__name__}")
    except Exception as error:
        status = status_of(error)
        if status is None:
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error: {type(error).__name__}")
        return error_response(status, str(error), **held_of(error))
