"""A refusal: :class:`ApiError` (status and one line for the user) and its JSON answer.

Raised anywhere in the hub; turned into JSON ``{"error": ...}`` (or a page for a
browser) by the middleware in hub/web/refusals.py.
"""

from __future__ import annotations

from aiohttp import web


class ApiError(Exception):
    """A request refused with ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)
