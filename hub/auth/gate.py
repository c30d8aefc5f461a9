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

Traefik's ``forwardAuth`` (the k3s stack) asks the same path and gets the same decision
(:func:`decide`). What it sends is built to Traefik's own code, traefik/traefik
``pkg/middlewares/auth/forward.go`` (``writeHeader``): a GET to the configured address
with the client's headers (only those in ``authRequestHeaders`` when that is set) and
``X-Forwarded-Method`` (the client's method), ``X-Forwarded-Uri`` (``req.URL.RequestURI()``),
``X-Forwarded-Host``, ``X-Forwarded-Proto`` and ``X-Forwarded-For`` set by Traefik itself;
any answer outside 2xx goes to the client as it is (status, body, headers; a ``Location``
is resolved against the auth address unless ``preserveLocationHeader``), and on 2xx the
headers named in ``authResponseHeaders`` replace the client's on the routed request.

How the two are told apart (:func:`ask_of`): nginx always sets ``X-Fabfleet-Route`` and
``X-Original-URI``; Traefik sets ``X-Forwarded-Uri`` and never the former. A question with
both ``X-Original-URI`` and ``X-Forwarded-Uri`` is refused (400): one of them came from a
client (nginx passes a client's ``X-Forwarded-Uri`` on, Traefik without
``authRequestHeaders`` a client's ``X-Original-URI``), and the gate does not guess which.
The trust model: only a question with the proxy key is answered, or one that reached the
hub's gate-only listener (``--gate-listen``, hub/server.py), which answers nothing but this
path. Traefik's forwardAuth cannot add a header of its own to its question, so the k3s
stack points the Middleware at that listener and its NetworkPolicy lets only Traefik's
pods reach that port (orchestrator/rendering/k3s.py); the hub's Ingress routes to the
main port only, where a question without the key is the 404 of a path that does not exist.

Behind Traefik there is no second, explaining ask, so the one answer is the client's: a
browser's page navigation gets the 302 to the login (absolute, from ``X-Forwarded-Proto``
and ``X-Forwarded-Host``, so Traefik does not resolve it against the hub's cluster
address) or the HTML 403 page, everyone else the JSON. Traefik routes on the path's
prefix (``/printers/<name>/``) without the hub's view of it, so the path it sends must
name its printer or camera plainly: no ``.`` or ``..`` segment, no empty or
percent-encoded segment before the name, and the same name read with and without
decoding; anything else is refused (403) like a path nginx and the raw URI disagree about.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDictProxy

from hub.auth.app_key_paths import open_to_apps
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

CHECK_PATH = "/api/auth/check"
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
        case ["api", "printer", "printhead" | "tool" | "bed"]:
            return "tune", detail
        case ["api", "job"]:
            return "octoprint job command", detail
        case _:
            return "request", detail


def refuse(status: int, message: str) -> web.Response:
    answer = web.json_response({"error": message}, status=status)
    answer[REFUSAL] = message
    return answer


@dataclass
class GateListener:
    """The local ports of the gate-only listener, once it is bound (hub/server.py)."""

    ports: set[int]


GATE_LISTENER = web.AppKey("fabfleet.gate-listener", GateListener)


def on_gate_listener(request: web.Request) -> bool:
    listener = request.app.get(GATE_LISTENER)
    if listener is None or not listener.ports or request.transport is None:
        return False
    local = request.transport.get_extra_info("sockname")
    return isinstance(local, tuple) and len(local) >= 2 and local[1] in listener.ports


@web.middleware
async def gate_listener_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The gate-only listener answers the gate's path and nothing else, before anything
    else looks at the request."""
    if on_gate_listener(request) and request.path != CHECK_PATH:
        raise web.HTTPNotFound()
    return await handler(request)


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


NGINX = "nginx"
TRAEFIK = "traefik"
# nginx's auth_request: the raw $request_uri and the client's method.
ORIGINAL_URI = "X-Original-URI"
ORIGINAL_METHOD = "X-Original-Method"
# Traefik's forwardAuth (forward.go): the client's request URI, method, host and scheme.
FORWARDED_URI = "X-Forwarded-Uri"
FORWARDED_METHOD = "X-Forwarded-Method"
FORWARDED_HOST = "X-Forwarded-Host"
FORWARDED_PROTO = "X-Forwarded-Proto"
HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
METHOD = re.compile(r"[A-Za-z]{1,20}")


@dataclass(frozen=True, slots=True)
class Ask:
    """One proxy's question, in the proxy's own words read into the same terms."""

    proxy: str
    uri: str
    method: str
    route: Route
    # Asked again only for a refusal's body (nginx's error_page): nothing recorded.
    explain: bool
    # Only the answer to this ask reaches the client, so a browser gets its page from it.
    shown: bool
    # ``<scheme>://<host>`` the client asked (Traefik), for an absolute Location; or "".
    origin: str


def forwarded_route(path: str) -> Route:
    """What Traefik routed, read from the path it sends (its Ingress prefix is
    ``/printers/<name>/``): consistent only when the path names its printer or camera
    plainly, so the prefix Traefik matched and the hub's reading are the same name."""
    parts = path.split("/")
    try:
        raw = target(path)
    except AmbiguousPath:
        raw = None
    if raw is None and (len(parts) < 2 or parts[1] not in KINDS):
        raise ApiError(400, f"{FORWARDED_URI} must lie below /printers/<name>/ or /cameras/<name>/")
    plain = (
        len(parts) >= 4
        and parts[0] == ""
        and parts[1] in KINDS
        and parts[2] != ""
        and not any(part in (".", "..") for part in parts)
    )
    if plain:
        kind, name = parts[1], parts[2]
    elif raw is not None:
        kind, name = raw[0], raw[1]
    else:
        kind, name = parts[1], parts[2] if len(parts) > 2 else ""
    consistent = plain and raw is not None and raw[:2] == (kind, name)
    rest = [part for part in parts[3:] if part] if plain else raw[2] if raw else []
    return Route(kind, name, rest, consistent, path, True)


def _origin(headers: CIMultiDictProxy[str]) -> str:
    host = headers.get(FORWARDED_HOST, "").strip()
    proto = headers.get(FORWARDED_PROTO, "http").strip().lower()
    if proto not in ("http", "https") or not HOST.fullmatch(host):
        return ""
    return f"{proto}://{host}"


def ask_of(headers: CIMultiDictProxy[str], asked_with: str = "GET") -> Ask:
    """Which proxy asks, and what about: nginx (``X-Original-URI``) or Traefik
    (``X-Forwarded-Uri``); 400 for a question neither would send."""
    original = headers.get(ORIGINAL_URI, "")
    forwarded = headers.get(FORWARDED_URI, "")
    if original and forwarded:
        raise ApiError(
            400,
            f"both {ORIGINAL_URI} (nginx) and {FORWARDED_URI} (Traefik) were sent: one came"
            " from a client, so neither is trusted",
        )
    if original:
        if len(original) > MAX_URI:
            raise ApiError(400, f"{ORIGINAL_URI} is longer than {MAX_URI} characters")
        method = headers.get(ORIGINAL_METHOD, asked_with).strip().upper()
        if not METHOD.fullmatch(method):
            raise ApiError(400, f"{ORIGINAL_METHOD} is not an HTTP method")
        explain = headers.get(PHASE_HEADER, "") == "explain"
        route = route_of(headers, original.partition("?")[0])
        return Ask(NGINX, original, method, route, explain, explain, "")
    if forwarded:
        if len(forwarded) > MAX_URI:
            raise ApiError(400, f"{FORWARDED_URI} is longer than {MAX_URI} characters")
        if not forwarded.startswith("/"):
            raise ApiError(400, f"{FORWARDED_URI} must be a path beginning with /")
        method = headers.get(FORWARDED_METHOD, "").strip().upper()
        if not METHOD.fullmatch(method):
            raise ApiError(
                400, f"{FORWARDED_METHOD} is missing or not an HTTP method: Traefik sends it"
            )
        route = forwarded_route(forwarded.partition("?")[0])
        return Ask(TRAEFIK, forwarded, method, route, False, True, _origin(headers))
    if headers.get(FORWARDED_METHOD):
        raise ApiError(400, f"{FORWARDED_URI} is missing: Traefik's forwardAuth sends it")
    raise ApiError(
        400,
        f"{ORIGINAL_URI} (nginx's auth_request) or {FORWARDED_URI} (Traefik's forwardAuth)"
        " is missing: only the proxy asks here",
    )


def app_key_door(ctx: HubContext, ask: Ask) -> web.Response | None:
    """OctoPrint's application keys workflow, open without login (an app asks for a key
    before it has one): only its exact paths and methods (hub/auth/app_key_paths.py), on a
    printer nginx routes to and the fleet has, on a path read alike by nginx and the hub.
    The print server relays them to the hub (hub/auth/app_keys.py), which caps, expires,
    rate-limits and audits the requests. No identity is signed: the print server lets
    these paths through without one."""
    route = ask.route
    if route.kind != "printers" or not route.routed or not route.consistent:
        return None
    if not open_to_apps(ask.method, route.rest) or ctx.fleet.printer(route.name) is None:
        return None
    return web.json_response({"printer": route.name, "open": "application keys workflow"})


async def check(request: web.Request) -> web.Response:
    ctx = context(request)
    if not (on_gate_listener(request) or from_proxy(ctx, request.headers)):
        raise web.HTTPNotFound()
    ask = ask_of(request.headers, request.method)
    opened = app_key_door(ctx, ask)
    if opened is not None:
        return opened
    identified = _identified(request, ask.uri.partition("?")[2])
    return decide(request, ask, identified)


def _login(request: web.Request, ask: Ask) -> web.Response:
    if ask.proxy == NGINX:
        return error_page.login_redirect(request.headers, ask.uri)
    if not ask.origin:
        raise ApiError(
            400, f"{FORWARDED_HOST} or {FORWARDED_PROTO} is missing or not a host and scheme"
        )
    where = error_page.login_url(ask.uri, request.headers.get("Cookie", ""))
    return web.Response(status=302, headers={"Location": ask.origin + where})


def decide(request: web.Request, ask: Ask, identified: Identified | None) -> web.Response:
    """The one decision, whichever proxy asks."""
    ctx = context(request)
    method, route, explain = ask.method, ask.route, ask.explain
    # Only an answer that reaches the client is a page: nginx takes the status of the first.
    page = ask.shown and method in SAFE_METHODS and error_page.wants_html(request.headers)
    if identified is None:
        if page:
            return _login(request, ask)
        return refuse(401, "log in first (or send an API key as X-Api-Key)")
    acting = method not in SAFE_METHODS
    scope = identified.printer
    if scope is not None and (route.kind, route.name) != ("printers", scope):
        if acting and not explain:
            audit.kept(ctx.db, identified.user.name, "refused app key", route.name or None,
                       f"key for {scope}: {method} {route.kind}/{route.name}"[:300])  # fmt: skip
        return refuse(403, f"this API key was granted to an app for printer '{scope}' only")
    if (
        acting
        and identified.method == "session"
        and not csrf_matches(identified, request.headers.get(CSRF_HEADER))
    ):
        return refuse(403, CSRF_REFUSED)
    answer = printer_answer if route.kind == "printers" else camera_answer
    found = answer(ctx, identified.user, route, method, acting, explain)
    if page and found.status == 403:
        return error_page.html_error(403, str(found.get(REFUSAL, "")), identified.user, ask.uri)
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
            audit.kept(ctx.db, user.name, f"refused {action}", name, detail + note)
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
            act = audit.act_kept(ctx.db, user.name, action, name, detail)
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
            audit.kept(ctx.db, user.name, "refused camera request", None, detail + note)
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
            audit.kept(ctx.db, user.name, "camera request", None, detail)
    return web.json_response({"user": user.name, "camera": name}, headers={USER_HEADER: user.name})


def setup(app: web.Application) -> None:
    # nginx's subrequest keeps the original method, so every method is asked here.
    app[GATE_LISTENER] = GateListener(set())
    app.router.add_route("*", CHECK_PATH, check)
