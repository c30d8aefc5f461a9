"""``/api/auth/check``: nginx asks here (``auth_request``) before every printer or camera request.

nginx sends the client's headers (its cookie, X-Api-Key, Authorization,
X-CSRF-Token) plus ``X-Original-URI`` and ``X-Original-Method``. The answer:

- 200: allowed; ``X-Fabfleet-User``, and for a printer ``X-Fabfleet-Identity``
  (hub/signing.py), which nginx hands to the print server;
- 401: no valid session or API key; 403: not allowed (or a cookie's change
  without the CSRF token), and also for an unknown printer or camera: nginx
  takes only 2xx, 401 and 403 from a check and turns anything else into a 500.

GET, HEAD and OPTIONS watch; any other method acts, and is written to the audit
log with an action named from its path. The path is normalised as nginx does
(``.``/``..``, repeated slashes) before the printer is read from it, so
``/printers/a/../b/`` is a request to ``b``; a path whose printer or camera
changes with percent-decoding (``/printers/a/..%2Fb/``) is refused (400).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

from aiohttp import web

from hub import audit
from hub.context import context
from hub.errors import ApiError
from hub.rights import User, may_act, may_view, may_view_camera
from hub.sessions import (
    CSRF_HEADER,
    CSRF_REFUSED,
    SAFE_METHODS,
    SESSION,
    Identified,
    api_key_given,
    csrf_matches,
    identify,
)
from hub.signing import HEADER, identity_for

USER_HEADER = "X-Fabfleet-User"
MAX_URI = 16 * 1024


def normalise(path: str, decode: bool = True) -> list[str] | None:
    """The path's segments as nginx sees them; None when it climbs above the root."""
    decoded = unquote(path, errors="replace") if decode else path
    if "\x00" in decoded:
        return None
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                return None
            segments.pop()
            continue
        segments.append(segment)
    if decoded.endswith(("/", "/.", "/..")) and segments:
        segments.append("")
    return segments


def _target(segments: list[str] | None) -> tuple[str, str, list[str]] | None:
    if segments is None or len(segments) < 3 or segments[0] not in ("printers", "cameras"):
        return None
    return segments[0], segments[1], [s for s in segments[2:] if s]


class AmbiguousPath(Exception):
    """Percent-encoding changes which printer or camera the path names."""


def target(path: str) -> tuple[str, str, list[str]] | None:
    """("printers" | "cameras", name, the rest's segments) for a proxied path.

    Read both with and without percent-decoding: when the two disagree about the
    printer or camera (``/printers/a/..%2Fb/``), the path is refused rather than
    trusting that the proxy resolved it the same way."""
    decoded = _target(normalise(path))
    literal = _target(normalise(path, decode=False))
    if (decoded and decoded[:2]) != (literal and literal[:2]):
        raise AmbiguousPath(path)
    return decoded


def action_of(method: str, rest: list[str]) -> tuple[str, str]:
    """(action, detail) for the audit log, from an acting request's path below the printer."""
    detail = f"{method} /{'/'.join(rest)}"[:300]
    match rest:
        case ["api", "v1", "files"] | ["api", "files", _]:
            return "upload", detail
        case ["api", "v1", "files", name] if method == "DELETE":
            return "delete file", f"{name} ({detail})"
        case ["api", "files", _, name] if method == "DELETE":
            return "delete file", f"{name} ({detail})"
        case ["api", "files", _, name]:
            return "octoprint file command", f"{name} ({detail})"
        case ["api", "v1", "job"]:
            return "print", detail
        case ["api", "v1", "job", step]:
            return step[:40], detail
        case ["api", "v1", "bed", "clear"]:
            return "bed clear", detail
        case ["api", "v1", "prompt"]:
            return "prompt answer", detail
        case ["api", "v1", "terminal"] | ["api", "printer", "command"]:
            return "terminal", detail
        case ["api", "v1", "control", what]:
            return f"control:{what[:40]}", detail
        case ["api", "job"]:
            return "octoprint job command", detail
        case _:
            return "request", detail


def refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def check(request: web.Request) -> web.Response:
    ctx = context(request)
    uri = request.headers.get("X-Original-URI")
    if not uri or len(uri) > MAX_URI:
        raise ApiError(400, "X-Original-URI is missing: only the proxy's auth_request asks here")
    method = request.headers.get("X-Original-Method", request.method).upper()
    path, _, query = uri.partition("?")
    try:
        found = target(path)
    except AmbiguousPath:
        raise ApiError(
            403, "the path names a printer or camera only once percent-decoded"
        ) from None
    if found is None:
        raise ApiError(403, "not a printer's or camera's path")
    kind, name, rest = found
    query_key = parse_qs(query).get("apikey", [None])[0] if "apikey" in query else None
    identified: Identified | None
    if query_key and api_key_given(request.headers, None) is None:
        identified = identify(ctx.db, ctx.config, request.headers, {}, query_key)
    else:
        # The middleware has looked the same headers up already.
        found_by_middleware = request.get(SESSION)
        identified = found_by_middleware if isinstance(found_by_middleware, Identified) else None
    if identified is None:
        return refuse(401, "log in first (or send an API key as X-Api-Key)")
    user = identified.user
    acting = method not in SAFE_METHODS
    if (
        acting
        and identified.method == "session"
        and not csrf_matches(identified, request.headers.get(CSRF_HEADER))
    ):
        return refuse(403, CSRF_REFUSED)
    if kind == "printers":
        return printer_answer(request, user, name, method, rest, acting)
    return camera_answer(request, user, name, method, rest, acting)


def printer_answer(
    request: web.Request, user: User, name: str, method: str, rest: list[str], acting: bool
) -> web.Response:
    ctx = context(request)
    printer = ctx.fleet.printer(name)
    if printer is None:
        return refuse(403, f"no printer named '{name[:64]}'")
    if not may_view(user, printer):
        return refuse(403, f"{user.name} may not watch printer '{name}'")
    allowed = may_act(user, printer)
    if acting:
        action, detail = action_of(method, rest)
        if not allowed:
            audit.record(ctx.db, user.name, f"refused {action}", name, detail)
            return refuse(403, f"{user.name} ({user.role}) may not act on printer '{name}'")
        audit.record(ctx.db, user.name, action, name, detail)
    return web.json_response(
        {"user": user.name, "printer": name, "act": allowed},
        headers={
            HEADER: identity_for(ctx.master_key, name, user.name, allowed),
            USER_HEADER: user.name,
        },
    )


def camera_answer(
    request: web.Request, user: User, name: str, method: str, rest: list[str], acting: bool
) -> web.Response:
    ctx = context(request)
    fleet = ctx.fleet
    if fleet.camera(name) is None:
        return refuse(403, f"no camera named '{name[:64]}'")
    if not may_view_camera(user, name, fleet.printers):
        return refuse(403, f"{user.name} may not watch camera '{name}'")
    if acting:
        allowed = user.admin or any(p.camera == name and may_act(user, p) for p in fleet.printers)
        detail = f"{method} /{'/'.join(rest)}"[:300]
        if not allowed:
            audit.record(ctx.db, user.name, "refused camera request", None, f"{name}: {detail}")
            return refuse(403, f"{user.name} ({user.role}) may not change camera '{name}'")
        audit.record(ctx.db, user.name, "camera request", None, f"{name}: {detail}")
    return web.json_response({"user": user.name, "camera": name}, headers={USER_HEADER: user.name})


def setup(app: web.Application) -> None:
    # nginx's subrequest keeps the original method, so every method is asked here.
    app.router.add_route("*", "/api/auth/check", check)
