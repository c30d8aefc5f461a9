"""Every refusal as JSON ``{"error": ...}`` with the status code that names its kind.

A browser navigating to one of the hub's pages (not ``/api/``) gets the same refusal
as an HTML page instead (hub/web/error_page.py), and the login page for a 401.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from hub.auth.request_keys import USER
from hub.db import DISK_FULL, disk_full
from hub.errors import ApiError, error_response
from hub.web import error_page

# The name these lines have always had in the hub's log (what operators and tests look for).
log = logging.getLogger("hub.errors")


def refusal(request: web.Request, status: int, message: str) -> web.Response:
    """JSON for scripts and API clients; a page (or the login) for a browser's navigation."""
    if request.path.startswith("/api/") or not error_page.wants_html(request.headers):
        return error_response(status, message)
    if status == 401:
        return error_page.login_redirect(request.headers, request.path_qs)
    user = request.get(USER)
    return error_page.html_error(status, message, user, request.path_qs)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ApiError and aiohttp's own 4xx as JSON; anything unexpected a logged 500, never a crash."""
    try:
        return await handler(request)
    except ApiError as error:
        return refusal(request, error.status, error.message)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        return refusal(request, error.status, error.reason)
    except HttpProcessingError as error:
        # A body aiohttp could not parse as it was read (a malformed multipart part).
        return error_response(400, f"malformed request: {error.message}".strip())
    except Exception as error:
        if disk_full(error):
            # A write found the disk full (a session, the audit log, the queue): nothing
            # half-written stays (SQLite rolls back), reads go on; 507 says why.
            log.error("%s %s: the disk is full: %s", request.method, request.path, error)
            return refusal(request, 507, DISK_FULL)
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error; the hub's log has the details")
