"""``/api/auth/check``: nginx asks here (``auth_request``) before every printer or camera request.

Only nginx asks. It proves it with ``X-Fabfleet-Proxy-Key`` (hub/auth/signing.py
``proxy_key``, in an include of the proxy's config kept in the secrets dir);
without the right key the path answers 404 like a path that does not exist (and
nginx itself answers 404 for it to clients). nginx hands over:

- ``X-Fabfleet-Route``: ``printers/<name>`` or ``cameras/<name>``, the location it
  matched (``printers/`` or ``cameras/`` from the catch-all location of a name it
  has no route for);
- ``X-Fabfleet-Uri``: the path it routes on (``$uri``: percent-decoded, ``.``/``..``
  and repeated slashes resolved), ``-`` when that holds a control character;
- ``X-Original-URI`` (the raw ``$request_uri``) and ``X-Original-Method``;
- the client's own headers (cookie, X-Api-Key, Authorization, X-CSRF-Token);
- ``X-Fabfleet-Gate: explain`` when it asks again only for a refusal's body (the
  error page of a 401/403): nothing is written to the audit log or signed then.
  The body is what the client asked for: a browser's page navigation (its
  ``Accept`` holds ``text/html``, hub/web/error_page.py) gets a 302 to the login
  (``next=`` the page, ``reason=expired`` when it sent a session cookie) for a 401
  and an HTML "Not allowed" page for a 403; everyone else the JSON ``{"error": ...}``.

The decision is about the printer or camera nginx routed to, never one the hub
reads for itself. The hub's own reading of the raw URI (normalised with and
without percent-decoding) must name that same printer or camera and the routed
path must lie below it, else the request is refused (403) and written to the
audit log as refused on the printer nginx routed to.

Answers: 200 with ``X-Fabfleet-User`` and, for a printer, ``X-Fabfleet-Identity``
(hub/auth/signing.py), which nginx hands to the print server; 401 without valid
credentials (whether the printer exists or not); 403 otherwise: not allowed, a
cookie's act without the CSRF token, and the same answer for a printer or camera
that does not exist as for one the user may not watch (nginx takes only 2xx, 401
and 403 from a check). GET, HEAD and OPTIONS watch; any other method acts. An act
let through is written with the outcome ``allowed`` and its act id goes into the
identity; the print server reports what it did (hub/records/audit.py ``settle``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from aiohttp import web
from multidict import CIMultiDictProxy

from hub.auth.identify import (
    CSRF_HEADER,
    CSRF_REFUSED,
    SAFE_METHODS,
    SESSION,
    Identified,
    api_key_given,
    csrf_matches,
    identify,
)
from hub.auth.rights import User, may_act, may_view, may_view_camera
from hub.auth.signing import HEADER, identity_for, proxy_key
from hub.context import HubContext, context
from hub.errors import ApiError
from hub.records import audit
from hub.web import error_page

USER_HEADER = "X-Fabfleet-User"
PROXY_KEY_HEADER = "X-Fabfleet-Proxy-Key"
ROUTE_HEADER = "X-Fabfleet-Route"
URI_HEADER = "X-Fabfleet-Uri"
PHASE_HEADER = "X-Fabfleet-Gate"
MAX_URI = 16 * 1024
# Where a refusal keeps its message on the response, for the HTML page of it.
REFUSAL = "fabfleet.refusal"
KINDS = ("printers", "cameras")
MISMATCH = "the request's raw URI names another printer or camera than the path the proxy routed"


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
    if segments is None or len(segments) < 3 or segments[0] not in KINDS:
        return None
    return segments[0], segments[1], [s for s in segments[2:] if s]


class AmbiguousPath(Exception):
    """Percent-encoding changes which printer or camera the path names."""


def target(path: str) -> tuple[str, str, list[str]] | None:
    """("printers" | "cameras", name, the rest's segments) for a raw path.

    Read both with and without percent-decoding: when the two disagree about the
    printer or camera (``/printers/a/..%2Fb/``), the path is refused rather than
    trusting that the proxy resolved it the same way."""
    decoded = _target(normalise(path))
    literal = _target(normalise(path, decode=False))
    if (decoded and decoded[:2]) != (literal and literal[:2]):
        raise AmbiguousPath(path)
    return decoded


@dataclass(frozen=True, slots=True)
class Route:
    """What nginx routed: the kind and name of its location, the path below it, and whether
    the raw URI names the same printer or camera."""

    kind: str
    name: str
    rest: list[str]
    consistent: bool
    raw: str
    # nginx has a location for this name (not its catch-all).
    routed: bool


def route_of(headers: CIMultiDictProxy[str], raw_path: str) -> Route:
    kind, _, name = headers.get(ROUTE_HEADER, "").partition("/")
    if kind not in KINDS or "/" in name:
        raise ApiError(400, f"{ROUTE_HEADER} must be printers/<name> or cameras/<name>")
    located = bool(name)
    # nginx's $uri is decoded and normalised already: read it as it is.
    routed = _target(normalise(headers.get(URI_HEADER, ""), decode=False))
    if not name:  # the catch-all location: a name nginx has no route for
        name = routed[1] if routed is not None and routed[0] == kind else ""
    rest = routed[2] if routed is not None else []
    try:
        raw = target(raw_path)
    except AmbiguousPath:
        raw = None
    consistent = (
        bool(name)
        and routed is not None
        and routed[:2] == (kind, name)
        and raw is not None
        and raw[:2] == (kind, name)
    )
    return Route(kind, name, rest, consistent, raw_path, located)


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
        case ["api", "v1", "printer", "overrides" | "babystep"]:
            return "tune", detail
        case ["api", "printer", "printhead" | "tool"]:
            return "tune", detail
        case ["api", "job"]:
            return "octoprint job command", detail
        case _:
            return "request", detail


def refuse(status: int, message: str) -> web.Response:
    answer = web.json_response({"error": message}, status=status)
    answer[REFUSAL] = message
    return answer


def from_proxy(ctx: HubContext, headers: CIMultiDictProxy[str]) -> bool:
    given = headers.get(PROXY_KEY_HEADER, "").strip().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, proxy_key(ctx.master_key).hex().encode("ascii"))


def hidden(kind: str, name: str, user: User) -> str:
    """One answer for a printer or camera that does not exist and for one the user may not
    watch, so nobody learns which names exist."""
    return f"no {kind} named '{name[:64]}' that {user.name} may watch"


def _identified(request: web.Request, query: str) -> Identified | None:
    ctx = context(request)
    query_key = parse_qs(query).get("apikey", [None])[0] if "apikey" in query else None
    if query_key and api_key_given(request.headers, None) is None:
        return identify(ctx.db, ctx.config, request.headers, {}, query_key)
    # The middleware has looked the same headers up already.
    found = request.get(SESSION)
    return found if isinstance(found, Identified) else None


async def check(request: web.Request) -> web.Response:
    ctx = context(request)
    if not from_proxy(ctx, request.headers):
        raise web.HTTPNotFound()
    uri = request.headers.get("X-Original-URI")
    if not uri or len(uri) > MAX_URI:
        raise ApiError(400, "X-Original-URI is missing: only the proxy's auth_request asks here")
    method = request.headers.get("X-Original-Method", request.method).upper()
    path, _, query = uri.partition("?")
    route = route_of(request.headers, path)
    identified = _identified(request, query)
    explain = request.headers.get(PHASE_HEADER, "") == "explain"
    # Only the explaining ask's body reaches the client; nginx takes the status of the first.
    page = explain and method in SAFE_METHODS and error_page.wants_html(request.headers)
    if identified is None:
        if page:
            return error_page.login_redirect(request.headers, uri)
        return refuse(401, "log in first (or send an API key as X-Api-Key)")
    acting = method not in SAFE_METHODS
    if (
        acting
        and identified.method == "session"
        and not csrf_matches(identified, request.headers.get(CSRF_HEADER))
    ):
        return refuse(403, CSRF_REFUSED)
    answer = printer_answer if route.kind == "printers" else camera_answer
    found = answer(ctx, identified.user, route, method, acting, explain)
    if page and found.status == 403:
        return error_page.html_error(403, str(found.get(REFUSAL, "")), identified.user, uri)
    return found


def printer_answer(
    ctx: HubContext, user: User, route: Route, method: str, acting: bool, explain: bool
) -> web.Response:
    name = route.name
    # A name nginx has no location for reaches nothing, even when fleet.json has it.
    printer = ctx.fleet.printer(name) if route.routed else None
    action, detail = action_of(method, route.rest)
    if not acting:
        action = "watch"

    def refused(message: str, note: str = "") -> web.Response:
        # Every refused act, and any request the proxy and the raw URI disagree about, on
        # the printer nginx routed to (admins read the log; the user learns nothing).
        if printer is not None and not explain and (acting or not route.consistent):
            audit.record(ctx.db, user.name, f"refused {action}", name, detail + note)
        return refuse(403, message)

    if printer is None or not may_view(user, printer):
        return refused(hidden("printer", name, user))
    if not route.consistent:
        return refused(MISMATCH, f"; raw URI {route.raw[:300]!r}")
    allowed = may_act(user, printer)
    act: str | None = None
    if acting:
        if not allowed:
            return refused(f"{user.name} ({user.role}) may not act on printer '{name}'")
        if not explain:
            act = audit.record_act(ctx.db, user.name, action, name, detail)
    return web.json_response(
        {"user": user.name, "printer": name, "act": allowed},
        headers={
            HEADER: identity_for(ctx.master_key, name, user.name, allowed, act=act),
            USER_HEADER: user.name,
        },
    )


def camera_answer(
    ctx: HubContext, user: User, route: Route, method: str, acting: bool, explain: bool
) -> web.Response:
    fleet, name = ctx.fleet, route.name
    camera = fleet.camera(name) if route.routed else None
    detail = f"{name[:64]}: {method} /{'/'.join(route.rest)}"[:300]

    def refused(message: str, note: str = "") -> web.Response:
        if camera is not None and not explain and (acting or not route.consistent):
            audit.record(ctx.db, user.name, "refused camera request", None, detail + note)
        return refuse(403, message)

    if camera is None or not may_view_camera(user, name, fleet.printers):
        return refused(hidden("camera", name, user))
    if not route.consistent:
        return refused(MISMATCH, f"; raw URI {route.raw[:300]!r}")
    if acting:
        allowed = user.admin or any(p.camera == name and may_act(user, p) for p in fleet.printers)
        if not allowed:
            return refused(f"{user.name} ({user.role}) may not change camera '{name}'")
        if not explain:
            audit.record(ctx.db, user.name, "camera request", None, detail)
    return web.json_response({"user": user.name, "camera": name}, headers={USER_HEADER: user.name})


def setup(app: web.Application) -> None:
    # nginx's subrequest keeps the original method, so every method is asked here.
    app.router.add_route("*", "/api/auth/check", check)
