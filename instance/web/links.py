"""URLs the server hands out, right both standalone and under a proxy's path prefix.

The proxy strips ``/printers/<name>`` before passing a request on and says so
in ``X-Forwarded-Prefix``; ``--base-path`` sets a fixed prefix instead.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import web

_SAFE_PREFIX = re.compile(r"^(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*$")
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.:\[\]-]+$")


def prefix(request: web.Request, base_path: str) -> str:
    forwarded = request.headers.get("X-Forwarded-Prefix", "").strip().rstrip("/")
    if forwarded and _SAFE_PREFIX.match(forwarded) and ".." not in forwarded:
        return forwarded
    return base_path


def path(request: web.Request, base_path: str, local: str) -> str:
    """``local`` (``/api/...``) as the client must ask for it."""
    return prefix(request, base_path) + local


def absolute(request: web.Request, base_path: str, local: str) -> str:
    return origin(request) + path(request, base_path, local)


def origin(request: web.Request) -> str:
    """``scheme://host`` the client asked (the proxy's, when behind one)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    if scheme not in ("http", "https"):
        scheme = request.scheme
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    if not _SAFE_HOST.match(host):
        host = request.host
    return f"{scheme}://{host}"


def quoted(name: str) -> str:
    """A file name as one URL path segment."""
    return quote(name, safe="")
