"""OctoPrint's application keys workflow, relayed to the hub that decides.

Modelled on OctoPrint's bundled plugin (OctoPrint/OctoPrint
``src/octoprint/plugins/appkeys/__init__.py``) as Home Assistant's client
(rfleming71/pyoctoprintapi ``api.py``) and octorest (dougbrion/OctoRest
``client.py``) call it; no login is needed on these paths (an app asks before it
has a key), and nothing else is open:

- ``GET /plugin/appkeys/probe`` — 204: the workflow is here.
- ``POST /plugin/appkeys/request`` ``{"app", "user"?}`` — 201 with ``app_token``,
  ``auth_dialog`` (the hub's page where a person decides) and ``Location`` (the
  absolute URL to poll).
- ``GET /plugin/appkeys/request/<token>`` — 202 ``{}`` while nobody has decided, 200
  ``{"api_key"}`` once approved (once: later polls are 404), 404 denied or expired.
- ``GET /plugin/appkeys/auth/<token>`` — a redirect to that page.

The print server keeps nothing: it relays each request to the hub signed with its
printer key (instance/web/hub_check.py), and the hub keeps, caps, expires and
audits them (hub/auth/app_keys.py). A print server run alone (no hub URL) refuses:
the probe is 404 and says to use the server's own ``--api-key``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from instance.web import links
from instance.web.app_key_paths import AUTH, PROBE, REQUEST, TOKEN
from instance.web.context import ServerContext, context
from instance.web.errors import ApiError
from instance.web.hub_check import HubCheck, HubUnreachable

MAX_BODY = 2 * 1024
# Where the hub's page decides requests (hub/auth/app_keys.py ``DIALOG``).
DIALOG = "/#keys"
ALONE = (
    "this print server runs without a hub, so no one here can approve an app's key:"
    " give the app the key set with --api-key"
)


def _hub(ctx: ServerContext) -> HubCheck:
    if ctx.hub_check is None:
        raise ApiError(404, ALONE)
    return ctx.hub_check


async def _relay(hub: HubCheck, method: str, below: str, body: bytes = b"") -> tuple[int, Any]:
    try:
        status, text = await hub.call(method, hub.printer_path(below), body)
    except HubUnreachable as error:
        raise ApiError(503, f"the hub cannot be asked for a key now ({error})") from None
    try:
        answer: Any = json.loads(text) if text else {}
    except ValueError:
        answer = None
    if status >= 400:
        message = answer.get("error") if isinstance(answer, dict) else None
        raise ApiError(status if status in (400, 404, 413, 429) else 502,
                       str(message or f"the hub answered {status}"))  # fmt: skip
    return status, answer


async def probe(request: web.Request) -> web.Response:
    _hub(context(request))
    return web.Response(status=204)


async def ask(request: web.Request) -> web.Response:
    ctx = context(request)
    hub = _hub(ctx)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"a key request is at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, 'send JSON: {"app": "<your app\'s name>", "user": ...}') from None
    if not isinstance(body, dict) or not isinstance(body.get("app"), str):
        raise ApiError(400, "'app' is required: the name the person deciding will read")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise ApiError(400, "'user' must be a user name (a string) when given")
    relayed = json.dumps({"app": body["app"], "user": user or None}).encode()
    _, answer = await _relay(hub, "POST", "app-keys", relayed)
    if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
        raise ApiError(502, "the hub answered the key request with nonsense")
    token = answer["token"]
    poll = links.absolute(request, ctx.config.base_path, f"{REQUEST}/{token}")
    dialog = links.origin(request) + str(answer.get("dialog") or "/")
    return web.json_response(
        {"app_token": token, "auth_dialog": dialog}, status=201, headers={"Location": poll}
    )


async def decision(request: web.Request) -> web.Response:
    hub = _hub(context(request))
    token = request.match_info["token"]
    if not TOKEN.fullmatch(token):
        raise ApiError(404, "no such key request")
    status, answer = await _relay(hub, "GET", f"app-keys/{token}")
    if status == 200 and isinstance(answer, dict) and isinstance(answer.get("api_key"), str):
        return web.json_response({"api_key": answer["api_key"]})
    return web.json_response({}, status=202)


async def auth_dialog(request: web.Request) -> web.Response:
    """OctoPrint's dialog link: here, the hub's page where requests are decided."""
    _hub(context(request))
    raise web.HTTPFound(links.origin(request) + DIALOG)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PROBE, probe)
    app.router.add_post(REQUEST, ask)
    app.router.add_get(REQUEST + "/{token}", decision)
    app.router.add_get(AUTH + "/{token}", auth_dialog)
